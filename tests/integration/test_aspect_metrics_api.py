"""Rated aspects as metrics: GET /v1/gaps (``metric=aspect:<name>``, ``aspect_top2:<name>``) against
independent tests, and alert rules on them evaluated by the worker's evaluator.

Four days of answers rating ``wait_time`` (1-5) and ``cleanliness`` (0-10, top-2 box >= 9) are committed
through the real ``Checkpointer`` into chDB (answers before or after their touchpoint, resends with
another payload that must not count). On the last day the ``vip`` segment waits longer (lower
scores). Two APIs read the windows: one with a view holding ``segment`` (view-answered), one with
only the tenant view (ledger-answered). Every number is recomputed here from the records with scipy
(Welch's t test, the pooled two-proportion z test), not with ``kpi.stats``.
"""
from __future__ import annotations

import asyncio
import copy
import math
import random
import statistics
from datetime import datetime

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
from tests.integration.test_ledger_counts import SR, TENANT, T0, answer, tp

pytestmark = pytest.mark.integration

KEY = "k-aspect-gaps"
ASPECTS = {"wait_time": {"label": "Wait time", "min": 1, "max": 5},
           "cleanliness": {"min": 0, "max": 10, "top2_min": 9}}
DAYS = 4  # three baseline days, then the evaluated one
SEGMENTS = ("vip", "std", "mid")
AT = "2026-11-06T00:00:00Z"  # T0 + 4 days: evaluates 2026-11-05


@pytest.fixture(autouse=True)
def _reset_aspects():
    yield
    aspect_config.configure({})


def _api(wh, views):
    settings = Settings(aspects=ASPECTS)
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read", "admin"])}
    settings.stream.views = views
    return create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only


def _stream(rng: random.Random) -> list[dict]:
    out = []
    for day in range(DAYS):
        for i in range(180):
            iid = f"g{day}-{i}"
            # Not too close to midnight: an answer sent a few minutes after its touchpoint stays in the day.
            when = T0 + day * DAY_MS + HOUR_MS + rng.randrange(DAY_MS - 3 * HOUR_MS)
            seg = rng.choice(SEGMENTS)
            out.append(tp(f"gtp-{day}-{i}", when, iid, {"channel": "chat", "segment": seg}))
            worse = day == DAYS - 1 and seg == "vip"
            rated = {"wait_time": rng.randint(1, 3) if worse else rng.randint(2, 5)}
            if rng.random() < 0.85:
                rated["cleanliness"] = rng.randint(0, 6) if worse else rng.randint(0, 10)
            r = answer(f"gsr-{day}-{i}", when + rng.choice([-MINUTE_MS, 5 * MINUTE_MS, HOUR_MS]), iid, nps=7)
            r["aspects"] = rated
            out.append(r)
    rng.shuffle(out)
    replay = [copy.deepcopy(r) for r in rng.sample(out, 50)]
    for r in replay:
        if r["type"] == SR:
            r["aspects"] = {"wait_time": 5, "cleanliness": 10}  # a resend with another payload: not stored
    return out + replay


def _scores(records: list[dict], day: int, aspect: str, segment: str | None = None,
            exclude: str | None = None) -> list[int]:
    """Scores of ``aspect`` in the answers (first delivery) of ``day``, by their touchpoint's segment."""
    seen: dict = {}
    for r in records:
        seen.setdefault((r["type"], r["id"]), r)
    seg_of = {r["interaction_id"]: r["dims"]["segment"] for r in seen.values() if r["type"] != SR}
    lo, hi = T0 + day * DAY_MS, T0 + (day + 1) * DAY_MS
    out = []
    for r in seen.values():
        if r["type"] != SR or not lo <= r["time_ms"] < hi or aspect not in r["aspects"]:
            continue
        s = seg_of[r["interaction_id"]]
        if (segment is None or s == segment) and (exclude is None or s != exclude):
            out.append(r["aspects"][aspect])
    return out


def _ids(records: list[dict], day: int, aspect: str, segment: str) -> list[str]:
    """Ids of the answers (first delivery) of ``day`` rating ``aspect`` under ``segment``."""
    seen: dict = {}
    for r in records:
        seen.setdefault((r["type"], r["id"]), r)
    seg_of = {r["interaction_id"]: r["dims"]["segment"] for r in seen.values() if r["type"] != SR}
    lo, hi = T0 + day * DAY_MS, T0 + (day + 1) * DAY_MS
    return [r["id"] for r in seen.values() if r["type"] == SR and lo <= r["time_ms"] < hi
            and aspect in r["aspects"] and seg_of[r["interaction_id"]] == segment]


def _welch(a: list[int], b: list[int]) -> tuple[float, float]:
    """(mean a - mean b, two-sided p of Welch's t test)."""
    t = sps.ttest_ind(a, b, equal_var=False)
    return statistics.fmean(a) - statistics.fmean(b), float(t.pvalue)


def _top2(a: list[int], b: list[int], threshold: int) -> tuple[float, float]:
    """(percentage points of top-2 share a - b, two-sided p of the pooled z test)."""
    x1, n1, x2, n2 = sum(v >= threshold for v in a), len(a), sum(v >= threshold for v in b), len(b)
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 100 * (x1 / n1 - x2 / n2), float(2 * sps.norm.sf(abs(z)))


def _wilson_high(x: int, n: int) -> float:
    z = sps.norm.ppf(0.975)
    p = x / n
    return (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def _t_interval(xs: list[int]) -> tuple[float, float]:
    m, half = statistics.fmean(xs), sps.t.ppf(0.975, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return m - half, m + half


def _check(body: dict, records: list[dict], metric: str) -> None:
    aspect = metric.split(":", 1)[1]
    mean = metric.startswith("aspect:")
    spec = ASPECTS[aspect]
    top2_min = spec.get("top2_min", spec["max"] - 1)
    scale = float(spec["max"] - spec["min"]) if mean else 100.0
    test = _welch if mean else (lambda a, b: _top2(a, b, top2_min))
    last = DAYS - 1
    segments = [g for g in body["data"] if g["kind"] == "segment"]
    baselines = {g["scope"].get("segment", ""): g
                 for g in body["data"] if g["kind"] == "baseline"}
    assert body["metric"] == metric
    assert sorted(g["segment"] for g in segments) == sorted(SEGMENTS)
    sides = {v: (_scores(records, last, aspect, v), _scores(records, last, aspect, exclude=v)) for v in SEGMENTS}
    m = sum(1 for a, b in sides.values() if len(a) >= 30 and len(b) >= 30)
    for g in segments:
        a, b = sides[g["segment"]]
        gap, p = test(a, b)
        assert g["observed"]["n"] == len(a) and g["reference"]["n"] == len(b)
        assert g["gap"] == pytest.approx(gap, rel=1e-9, abs=1e-12)
        assert g["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert g["comparisons"] == m and g["alpha"] == pytest.approx(0.05 / m)
        significant = gap < 0 and p < 0.05 / m and min(len(a), len(b)) >= 30
        assert g["significant"] is significant
        assert g["severity"] == pytest.approx(-gap / scale if significant else 0.0)
        if mean:
            assert g["observed"]["value"] == pytest.approx(statistics.fmean(a))
            lo, hi = _t_interval(a)
            assert (g["observed"]["ci_low"], g["observed"]["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
            assert g["observed"]["counts"] == {"n": len(a), "sum": sum(a), "sumsq": sum(x * x for x in a),
                                               "top2": sum(x >= top2_min for x in a)}
    vip = next(g for g in segments if g["segment"] == "vip")
    assert vip["significant"] and vip["gap"] < 0  # the stream makes vip worse on the last day
    # Baseline gaps: each scope (the tenant, each segment) vs the same scope over the three previous days.
    assert sorted(baselines) == ["", *sorted(SEGMENTS)]
    for seg, g in baselines.items():
        now = _scores(records, last, aspect, seg or None)
        before = [x for d in range(last) for x in _scores(records, d, aspect, seg or None)]
        gap, p = test(now, before)
        assert g["reference"]["periods"] == last and g["comparisons"] == 1 + len(SEGMENTS)
        assert (g["observed"]["n"], g["reference"]["n"]) == (len(now), len(before))
        assert g["gap"] == pytest.approx(gap, rel=1e-9, abs=1e-12)
        assert g["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert g["significant"] is (gap < 0 and p < 0.05 / (1 + len(SEGMENTS)))


def test_aspect_gaps_equal_independent_tests(chdb_dsn: str) -> None:
    records = _stream(random.Random(5))
    with migrated_warehouse(chdb_dsn, "agap") as wh:
        aspect_config.configure(ASPECTS)  # the worker's configuration (the writer counts configured aspects)
        ck = Checkpointer(warehouse=wh, views=[[], ["segment"]], sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)

        async def run() -> None:
            for i in range(0, len(records), 80):
                await ck.commit([copy.deepcopy(r) for r in records[i:i + 80]])
            headers = {"Authorization": f"Bearer {KEY}"}
            with_view, ledger = _api(wh, [[], ["segment"]]), _api(wh, [[]])
            async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=with_view), base_url="http://a",
                                          headers=headers) as a,
                        httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger), base_url="http://b",
                                          headers=headers) as b):
                for metric in ("aspect:wait_time", "aspect_top2:cleanliness", "aspect:cleanliness"):
                    q = {"metric": metric, "window": "1d", "dimension": "segment", "at": AT,
                         "kind": "segment,baseline", "significant_only": "false"}
                    ra, rb = await a.get("/v1/gaps", params=q), await b.get("/v1/gaps", params=q)
                    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
                    assert ra.json()["source"] == "view:segment" and rb.json()["source"] == "ledger"
                    assert datetime.fromisoformat(ra.json()["window_start"]).timestamp() * 1000 == T0 + 3 * DAY_MS
                    _check(ra.json(), records, metric)
                    _check(rb.json(), records, metric)
                    assert ra.json()["data"] == rb.json()["data"]
                # Targets on an aspect: on its scale, listed, and a target gap per scope that has one.
                day = "2026-11-05T00:00:00Z"
                for body, loc in (({"metric": "aspect:wait_time", "value": 6.0}, ["body", "value"]),
                                  ({"metric": "aspect:legacy", "value": 3.0}, ["body", "metric"])):
                    r = await a.put("/v1/targets", json={**body, "scope": {"segment": "vip"}, "valid_from": day})
                    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text
                for metric, value in (("aspect:wait_time", 3.5), ("aspect_top2:cleanliness", 30.0)):
                    r = await a.put("/v1/targets", json={"metric": metric, "scope": {"segment": "vip"},
                                                         "value": value, "valid_from": day})
                    assert r.status_code == 200 and r.json()["metric"] == metric, r.text
                listed = (await a.get("/v1/targets", params={"metric": "aspect:wait_time"})).json()
                assert [(t["metric"], t["scope"], t["value"]) for t in listed["data"]] == [
                    ("aspect:wait_time", {"segment": "vip"}, 3.5)]
                vip = _scores(records, DAYS - 1, "wait_time", "vip")
                vip_clean = _scores(records, DAYS - 1, "cleanliness", "vip")
                for metric, target, expected, hi in (
                        ("aspect:wait_time", 3.5, statistics.fmean(vip), _t_interval(vip)[1]),
                        ("aspect_top2:cleanliness", 30.0, 100 * sum(x >= 9 for x in vip_clean) / len(vip_clean),
                         100 * _wilson_high(sum(x >= 9 for x in vip_clean), len(vip_clean)))):
                    for client in (a, b):
                        r = await client.get("/v1/gaps", params={"metric": metric, "window": "1d", "at": AT,
                                                                 "dimension": "segment", "kind": "target",
                                                                 "significant_only": "false"})
                        (g,) = r.json()["data"]
                        assert g["scope"] == {"segment": "vip"} and g["reference"]["value"] == target
                        assert g["observed"]["value"] == pytest.approx(expected)
                        assert g["gap"] == pytest.approx(expected - target)
                        assert g["observed"]["ci_high"] == pytest.approx(hi)
                        assert g["significant"] is (hi < target and g["observed"]["n"] >= 30)
                r = await a.delete("/v1/targets", params={"metric": "aspect:wait_time", "valid_from": day,
                                                          "segment": "vip"})
                assert r.status_code == 204
                assert (await a.get("/v1/targets", params={"metric": "aspect:wait_time"})).json()["count"] == 0
                # Drill-down: the answers behind an aspect's n (those rating it), paged and exported.
                first: dict[str, dict] = {}
                for rec in records:
                    if rec["type"] == SR:
                        first.setdefault(rec["id"], rec)
                for metric, aspect in (("aspect:wait_time", "wait_time"), ("aspect_top2:cleanliness", "cleanliness")):
                    expected = sorted(_ids(records, DAYS - 1, aspect, "vip"))
                    q = {"metric": metric, "window": "1d", "from": day, "to": AT, "segment": "vip", "limit": 7}
                    for client in (a, b):
                        got, cursor = [], None
                        while True:
                            page = (await client.get("/v1/responses", params={**q, **({"cursor": cursor} if cursor
                                                                                       else {})})).json()
                            assert page["metric"] == metric
                            got += [r["id"] for r in page["data"]]
                            # each row carries the answer's rated aspects as first delivered (a resend is not stored)
                            assert [r["aspects"] for r in page["data"]] == [first[r["id"]]["aspects"]
                                                                            for r in page["data"]]
                            assert all(r["flags"] == [] and r["duration_s"] is None for r in page["data"])
                            cursor = page["next_cursor"]
                            if not cursor:
                                break
                        assert sorted(got) == expected
                        kpi = (await client.get("/v1/kpis", params={k: v for k, v in q.items() if k != "limit"})).json()
                        assert sum(p["n"] for p in kpi["data"]) == len(expected)
                        export = await client.get("/v1/responses/export", params={**q, "format": "csv"})
                        assert export.status_code == 200 and len(export.text.strip().splitlines()) == 1 + len(expected)
                r = await a.get("/v1/responses", params={"metric": "aspect:legacy"})
                assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "metric"], r.text
                # An aspect not configured: 422 at the field, live too (live aspect gaps:
                # tests/integration/test_live_aspect_gaps.py).
                for params in ({"metric": "aspect:legacy"}, {"metric": "aspect_top2:legacy", "window": "live"}):
                    r = await a.get("/v1/gaps", params=params)
                    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "metric"], r.text

        asyncio.run(run())


def test_alert_rules_on_aspects_read_the_aspect_counters(chdb_dsn: str, tmp_path) -> None:
    """The evaluator reads ``aspect_windows`` for an aspect rule: the observed value and n are the mean
    and count of the answers of the current window (recomputed here), and it fires below the threshold."""
    records = _stream(random.Random(5))
    views = [[], ["segment"]]
    with migrated_warehouse(chdb_dsn, "arule") as wh:
        aspect_config.configure(ASPECTS)
        ck = Checkpointer(warehouse=wh, views=views, sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)
        settings = Settings(aspects=ASPECTS, data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                            kafka={"topic_prefix": "ta", "partitions": 2})
        settings.stream.views = views
        last = DAYS - 1
        vip, std = _scores(records, last, "wait_time", "vip"), _scores(records, last, "cleanliness", "std")
        threshold = (statistics.fmean(vip) + statistics.fmean(_scores(records, last, "wait_time", exclude="vip"))) / 2
        top2 = 100 * sum(x >= 9 for x in std) / len(std)
        rules = [
            Rule(id="vip-wait", name="VIP wait", metric="aspect:wait_time", scope={"segment": "vip"},
                 condition="below", threshold=threshold, window="1d", min_n=20),
            Rule(id="std-wait", name="STD wait", metric="aspect:wait_time", scope={"segment": "std"},
                 condition="below", threshold=threshold, window="1d", min_n=20),
            Rule(id="std-clean", name="STD clean", metric="aspect_top2:cleanliness", scope={"segment": "std"},
                 condition="above", threshold=top2 - 0.5, window="1d", min_n=20),
        ]

        async def run() -> list:
            for i in range(0, len(records), 80):
                await ck.commit([copy.deepcopy(r) for r in records[i:i + 80]])
            await aq.upsert_rules(wh, TENANT, rules)
            aspect_config.configure({})  # an aspect no longer configured: its stored rules still load
            assert [r.id for _, r, _ in await aq.list_rules(wh, TENANT)] == ["std-clean", "std-wait", "vip-wait"]
            aspect_config.configure(ASPECTS)
            return await evaluate_once(settings, wh, FakePublisher(), T0 + DAYS * DAY_MS - MINUTE_MS)

        by_id = {t.rule.id: t.after for t in asyncio.run(run())}
        assert by_id["vip-wait"].status is Status.firing
        assert (by_id["vip-wait"].value, by_id["vip-wait"].n) == (pytest.approx(statistics.fmean(vip)), len(vip))
        lo, hi = _t_interval(vip)
        assert (by_id["vip-wait"].ci_low, by_id["vip-wait"].ci_high) == (pytest.approx(lo), pytest.approx(hi))
        std_wait = _scores(records, last, "wait_time", "std")
        assert by_id["std-wait"].status is Status.ok and by_id["std-wait"].n == len(std_wait)
        assert by_id["std-wait"].value == pytest.approx(statistics.fmean(std_wait))
        assert by_id["std-clean"].status is Status.firing
        assert (by_id["std-clean"].value, by_id["std-clean"].n) == (pytest.approx(top2), len(std))
