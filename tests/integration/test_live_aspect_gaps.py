"""Live gaps on a rated aspect: ``GET /v1/gaps?window=live&metric=aspect:wait_time`` and a ``gap`` alert rule
(``gap.kind: baseline``) on it, through the one live detector, reading ``aspect_windows`` (1m and 1h cells).

Answers rating ``wait_time`` (1-5) are committed through the real ``Checkpointer`` into chDB: a baseline
day (hours before the recent window) and the last ten minutes, where the ``vip`` segment's wait collapses.
Every number is recomputed here from the scores with scipy (Welch's t test, the Bonferroni level), not
with ``kpi.stats``.
"""
from __future__ import annotations

import asyncio
import random
import statistics

import httpx
import pytest
from scipy import stats as sps

from alerts import store as aq
from alerts.evaluator import evaluate_once
from alerts.rules import Rule
from alerts.state import Status
from api.deps import Services
from api.main import create_api
from core import aspects as aspect_config
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from stream_processors.checkpoint import Checkpointer
from tests.conftest import FakePublisher, migrated_warehouse
from tests.integration.test_ledger_counts import TENANT, T0, answer, tp

pytestmark = pytest.mark.integration

KEY = "k-live-aspects"
ASPECTS = {"wait_time": {"label": "Wait time", "min": 1, "max": 5}}
VIEWS = [[], ["segment"]]
END = T0 + 2 * DAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS  # the evaluation time, a minute boundary
LENGTH_MIN = 10
ALPHA = 1e-4
MIN_N = 10
GAPS = {"live_lengths_min": [LENGTH_MIN], "baseline_days": 1, "live_alpha": ALPHA, "live_min_n": MIN_N}


@pytest.fixture(autouse=True)
def _reset_aspects():
    yield
    aspect_config.configure({})


def _records(rng: random.Random) -> tuple[list[dict], dict[tuple[str, str], list[int]]]:
    """Touchpoints and answers; scores by (segment, "base" | "recent")."""
    out: list[dict] = []
    scores: dict[tuple[str, str], list[int]] = {}
    # Baseline: the complete hours of the day before the recent window's hour (14:00 of day 2).
    spans = {"base": (END - LENGTH_MIN * MINUTE_MS - DAY_MS + HOUR_MS, END - 2 * HOUR_MS - 30 * MINUTE_MS),
             "recent": (END - LENGTH_MIN * MINUTE_MS, END - 2000)}
    for part, (lo, hi) in spans.items():
        for seg in ("vip", "std"):
            for i in range(120 if part == "base" else 40):
                when = rng.randrange(lo, hi)
                iid = f"{part}-{seg}-{i}"
                score = rng.randint(1, 2) if (part == "recent" and seg == "vip") else rng.randint(3, 5)
                out.append(tp(f"tp-{iid}", when, iid, {"channel": "chat", "segment": seg}))
                r = answer(f"sr-{iid}", when + 1000, iid, nps=8)
                r["aspects"] = {"wait_time": score}
                out.append(r)
                scores.setdefault((seg, part), []).append(score)
    out.sort(key=lambda r: r["time_ms"])
    return out, scores


def _settings(tmp_path) -> Settings:
    s = Settings(aspects=ASPECTS, data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                 kafka={"topic_prefix": "tla", "partitions": 2}, gaps=GAPS)
    s.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read", "admin"])}
    s.stream.views = VIEWS
    return s


def _welch(a: list[int], b: list[int]) -> tuple[float, float]:
    return statistics.fmean(a) - statistics.fmean(b), float(sps.ttest_ind(a, b, equal_var=False).pvalue)


def test_live_aspect_gaps_and_a_gap_rule_read_the_aspect_windows(chdb_dsn: str, tmp_path) -> None:
    records, scores = _records(random.Random(11))
    settings = _settings(tmp_path)
    with migrated_warehouse(chdb_dsn, "lasp") as wh:
        aspect_config.configure(ASPECTS)  # the worker's configuration (the writer counts configured aspects)
        ck = Checkpointer(warehouse=wh, views=VIEWS, sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)
        rule = Rule(id="live-wait", name="Live wait", metric="aspect:wait_time", condition="gap", min_n=MIN_N,
                    gap={"kind": "baseline", "dimensions": ["segment"], "lengths_min": [LENGTH_MIN],
                         "baseline_days": 1, "alpha": ALPHA})

        async def run():
            for i in range(0, len(records), 100):
                await ck.commit([dict(r) for r in records[i:i + 100]])
            app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a",
                                         headers={"Authorization": f"Bearer {KEY}"}) as client:
                r = await client.get("/v1/gaps", params={
                    "metric": "aspect:wait_time", "window": "live", "kind": "baseline", "dimension": "segment",
                    "at": "2026-11-04T14:30:00Z", "significant_only": "false"})
            await aq.upsert_rules(wh, TENANT, [rule])
            transitions = await evaluate_once(settings, wh, FakePublisher(), END + 20_000)
            return r, transitions

        r, transitions = asyncio.run(run())
    assert END == 1_793_577_600_000 + 2 * DAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS  # 2026-11-04T14:30:00Z
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metric"] == "aspect:wait_time" and body["source"] == "view:segment"
    by_segment = {g["scope"]["segment"]: g for g in body["data"] if g["kind"] == "baseline"}
    assert sorted(by_segment) == ["std", "vip"]
    for seg, g in by_segment.items():
        now, before = scores[(seg, "recent")], scores[(seg, "base")]
        gap, p = _welch(now, before)
        assert (g["observed"]["n"], g["reference"]["n"]) == (len(now), len(before))
        assert g["observed"]["value"] == pytest.approx(statistics.fmean(now))
        assert g["gap"] == pytest.approx(gap, rel=1e-9, abs=1e-12)
        assert g["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert g["comparisons"] == 2 and g["alpha"] == pytest.approx(ALPHA / 2)
        significant = gap <= -0.1 * (5 - 1) and p < ALPHA / 2
        assert g["significant"] is significant
        assert g["severity"] == pytest.approx(-gap / 4 if significant else 0.0)
    assert by_segment["vip"]["significant"] and not by_segment["std"]["significant"]
    # The gap rule: one alert per segment; vip's fires with the live observation, std's stays ok.
    after = {t.rule.scope["segment"]: t.after for t in transitions if t.rule.id == "live-wait"}
    vip = scores[("vip", "recent")]
    assert after["vip"].status is Status.firing
    assert (after["vip"].value, after["vip"].n) == (pytest.approx(statistics.fmean(vip)), len(vip))
    assert "std" not in after or after["std"].status is Status.ok
