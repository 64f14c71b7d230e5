"""GET /v1/kpis?metric=aspect:<name> and GET /v1/drivers over a stream where the true driver is known.

Answers rate three aspects; NPS is built from ``wait_time`` (NPS = 2 x wait_time + a small noise)
while ``friendliness`` and ``cleanliness`` are noise. The stream is committed through the real
``Checkpointer`` (answers before their touchpoint, replays with another payload); two APIs read it,
one with a view of journey step x segment (view-answered), one with the default views (ledger).
Every expected number is computed here from the records, independently of the pipeline.
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

from api.deps import Services
from api.main import create_api
from core import aspects as aspect_config
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from kpi import stats
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.integration.test_ledger_counts import SR, TENANT, T0, answer, tp

pytestmark = pytest.mark.integration

KEY = "k-drivers"
CROSSING = ["journey_step", "segment"]
ASPECTS = {"wait_time": {"label": "Wait time", "min": 1, "max": 5},
           "friendliness": {"min": 1, "max": 5}, "cleanliness": {"min": 0, "max": 10, "top2_min": 9}}


@pytest.fixture(autouse=True)
def _reset_aspects():
    yield
    aspect_config.configure({})


def _api(wh, views):
    settings = Settings(aspects=ASPECTS)
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read"])}
    settings.stream.views = views
    return create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only


def _stream(rng: random.Random) -> list[dict]:
    out = []
    for i in range(500):
        iid = f"d{i}"
        when = T0 + 2 * DAY_MS + rng.randrange(DAY_MS)
        dims = {"channel": rng.choice(["chat", "voice"]), "journey_step": rng.choice(["buy", "after_sales"]),
                "segment": rng.choice(["vip", "std"])}
        out.append(tp(f"dtp-{i}", when, iid, dims))
        wait = rng.randint(1, 5)
        rated = {"wait_time": wait, "friendliness": rng.randint(1, 5)}
        if rng.random() < 0.8:
            rated["cleanliness"] = rng.randint(0, 10)
        nps = max(0, min(10, 2 * wait + rng.choice([-1, 0, 0, 1])))
        late = rng.choice([-MINUTE_MS, 10 * MINUTE_MS, 2 * HOUR_MS])  # before its touchpoint, or after
        r = answer(f"dsr-{i}", when + late, iid, nps=nps if rng.random() < 0.9 else None,
                   csat=rng.choice([None, 1, 2, 3, 4, 5]))
        r["aspects"] = rated
        out.append(r)
    rng.shuffle(out)
    replay = [copy.deepcopy(r) for r in rng.sample(out, 40)]
    for r in replay:
        if r["type"] == SR:
            r["aspects"] = {"wait_time": 1, "friendliness": 1}  # a resend with another payload: not stored
            r["nps"] = 0
    return out + replay


def _first(records: list[dict]) -> list[dict]:
    seen: dict = {}
    for r in records:
        seen.setdefault((r["type"], r["id"]), r)
    return list(seen.values())


def _answers_in(records, lo_ms, hi_ms, filters):
    """The stored answers (first delivery) in [lo, hi) with their effective dims matching ``filters``."""
    unique = _first(records)
    tp_dims = {r["interaction_id"]: r["dims"] for r in unique if r["type"] != SR}
    out = []
    for r in unique:
        if r["type"] != SR or not lo_ms <= r["time_ms"] < hi_ms:
            continue
        dims = {**tp_dims.get(r["interaction_id"], {}), **r["dims"]}
        if all(dims.get(k, "") == v for k, v in filters.items()):
            out.append((r, dims))
    return out


def test_aspect_kpis_and_drivers_against_independent_computations(chdb_dsn: str) -> None:
    records = _stream(random.Random(11))
    with migrated_warehouse(chdb_dsn, "drv") as wh:
        aspect_config.configure(ASPECTS)  # the worker's configuration (the writer counts configured aspects)
        ck = Checkpointer(warehouse=wh, views=[[], ["channel"], CROSSING], sizes=list(WindowSize),
                          grace_ms=10 * MINUTE_MS)

        async def run() -> None:
            for i in range(0, len(records), 60):
                await ck.commit([copy.deepcopy(r) for r in records[i:i + 60]])
            with_view, default = _api(wh, [[], ["channel"], CROSSING]), _api(wh, Settings().stream.views)
            headers = {"Authorization": f"Bearer {KEY}"}
            async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=with_view), base_url="http://a",
                                          headers=headers) as a,
                        httpx.AsyncClient(transport=httpx.ASGITransport(app=default), base_url="http://b",
                                          headers=headers) as b):
                # -- the aspect as a metric: view- and ledger-answered alike, equal to the records
                day = "2026-11-04T00:00:00Z"
                for metric in ("aspect:wait_time", "aspect_top2:cleanliness", "aspect:friendliness"):
                    q = {"metric": metric, "window": "1d", "from": "2026-11-04T00:00:00Z", "to": "2026-11-05T00:00:00Z",
                         "group_by": "journey_step,segment"}
                    ra, rb = await a.get("/v1/kpis", params=q), await b.get("/v1/kpis", params=q)
                    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
                    ja, jb = ra.json(), rb.json()
                    assert (ja.pop("source"), jb.pop("source")) == ("view:journey_step*segment", "ledger")
                    assert ja == jb and ja["count"] == 4, metric
                    name = metric.split(":")[1]
                    for p in ja["data"]:
                        start = int(datetime.fromisoformat(p["window_start"]).timestamp() * 1000)
                        group = p["group"]
                        scores = [r["aspects"][name] for r, _ in _answers_in(records, start, start + DAY_MS, group)
                                  if name in r["aspects"]]
                        assert p["n"] == len(scores) > 10
                        if metric.startswith("aspect:"):
                            m, sd = statistics.fmean(scores), statistics.stdev(scores)
                            half = stats.t_critical(len(scores) - 1) * sd / math.sqrt(len(scores))
                            assert p["value"] == pytest.approx(m) and p["ci_low"] == pytest.approx(m - half)
                        else:
                            top = sum(s >= 9 for s in scores)
                            assert p["value"] == pytest.approx(100 * top / len(scores))
                            assert p["ci_high"] == pytest.approx(100 * stats.wilson_interval(top, len(scores))[1])
                        assert p["counts"] == {"n": len(scores), "sum": sum(scores),
                                               "sumsq": sum(s * s for s in scores),
                                               "top2": sum(s >= (9 if name == "cleanliness" else 4) for s in scores)}
                bad = await b.get("/v1/kpis", params={"metric": "aspect:parking", "to": day})
                assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "metric"]

                # -- key drivers: the true driver first, exact n and r against the records
                for outcome, filters in (("nps", {}), ("nps", {"segment": "vip"}),
                                         ("csat", {"journey_step": "buy", "channel": "chat"})):
                    q = {"metric": outcome, "from": "2026-11-03T00:00:00Z", "to": "2026-11-06T00:00:00Z", **filters}
                    r = await b.get("/v1/drivers", params=q)
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert body["metric"] == outcome and body["filters"] == filters and body["rule"] == "abs_r"
                    got = {d["aspect"]: d for d in body["data"]}
                    answers = _answers_in(records, T0 + DAY_MS, T0 + 4 * DAY_MS, filters)
                    for name in ASPECTS:
                        ps = [(a["aspects"][name], a[outcome]) for a, _ in answers
                              if name in a["aspects"] and a[outcome] is not None]
                        xs, ys = zip(*ps)
                        d = got[name]
                        assert d["n"] == len(ps) > 20
                        assert d["r"] == pytest.approx(statistics.correlation(xs, ys), abs=1e-12)
                        assert d["slope"] == pytest.approx(statistics.linear_regression(xs, ys).slope, abs=1e-9)
                        assert d["mean"] == pytest.approx(statistics.fmean(xs))
                        z, half = math.atanh(d["r"]), 1.959963984540054 / math.sqrt(len(ps) - 3)
                        assert d["ci_low"] == pytest.approx(math.tanh(z - half))
                    rs = [abs(d["r"]) for d in body["data"]]
                    assert rs == sorted(rs, reverse=True)
                    if outcome == "nps":  # the planted driver leads, clearly; the noise does not matter
                        first, *rest = body["data"]
                        assert first["aspect"] == "wait_time" and first["label"] == "Wait time"
                        assert first["r"] > 0.9 and first["significant"] and first["slope"] == pytest.approx(2, abs=0.2)
                        assert all(abs(d["r"]) < 0.3 for d in rest)
                none = await b.get("/v1/drivers", params={"metric": "nps", "to": day, "segment": "nobody"})
                assert none.status_code == 200 and none.json()["data"] == []
                bad = await b.get("/v1/drivers", params={"metric": "ces", "to": day})
                assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "metric"]

        asyncio.run(run())


def test_an_nps_gap_lists_the_aspect_whose_change_explains_it(chdb_dsn: str) -> None:
    """Day 1 is the baseline; on day 2 the vip segment of after-sales waits longer (wait_time 1-2 instead of
    3-5) and its NPS drops with it; friendliness stays as it was. The segment gap and the baseline gap of
    vip both name wait_time first, with the mean change and slope computed here from the records."""
    rng = random.Random(5)
    records = []
    for i in range(600):
        day = i % 2  # 0: baseline day, 1: the day evaluated
        when = T0 + (1 + day) * DAY_MS + rng.randrange(DAY_MS)
        segment = rng.choice(["vip", "std"])
        dims = {"channel": "chat", "journey_step": "after_sales", "segment": segment}
        records.append(tp(f"gtp-{i}", when, f"g{i}", dims))
        slow = day == 1 and segment == "vip"
        wait = rng.randint(1, 2) if slow else rng.randint(3, 5)
        r = answer(f"gsr-{i}", when + MINUTE_MS, f"g{i}", nps=max(0, min(10, 2 * wait + rng.choice([-1, 0, 1]))))
        r["aspects"] = {"wait_time": wait, "friendliness": rng.randint(1, 5)}
        records.append(r)
    evaluated = (T0 + 2 * DAY_MS, T0 + 3 * DAY_MS)
    with migrated_warehouse(chdb_dsn, "gexp") as wh:
        aspect_config.configure(ASPECTS)
        ck = Checkpointer(warehouse=wh, views=[[], ["channel"]], sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)

        def pairs(lo, hi, match):
            return {name: [(a["aspects"][name], a["nps"]) for a, dims in _answers_in(records, lo, hi, {})
                           if match(dims) and name in a["aspects"]] for name in ("wait_time", "friendliness")}

        def expected(observed, reference):
            out = {}
            for name in observed:
                xs, ys = zip(*observed[name])
                before = statistics.fmean(x for x, _ in reference[name])
                change = statistics.fmean(xs) - before
                out[name] = (change, statistics.linear_regression(xs, ys).slope, len(xs), len(reference[name]))
            return out

        async def run() -> None:
            for i in range(0, len(records), 80):
                await ck.commit([copy.deepcopy(r) for r in records[i:i + 80]])
            app = _api(wh, [[], ["channel"]])
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g",
                                         headers={"Authorization": f"Bearer {KEY}"}) as c:
                q = {"metric": "nps", "window": "1d", "at": "2026-11-05T00:00:00Z", "dimension": "segment",
                     "journey_step": "after_sales", "significant_only": "false"}
                r = await c.get("/v1/gaps", params=q)
                assert r.status_code == 200, r.text
                gaps = r.json()["data"]
                vip = {g["kind"]: g for g in gaps if g["scope"].get("segment") == "vip"}
                assert vip["segment"]["gap"] < 0 and vip["segment"]["significant"]
                is_vip = lambda d: d.get("segment") == "vip"  # noqa: E731
                seg = expected(pairs(*evaluated, is_vip), pairs(*evaluated, lambda d: not is_vip(d)))
                base = expected(pairs(*evaluated, is_vip), pairs(T0 + DAY_MS, T0 + 2 * DAY_MS, is_vip))
                for kind, want in (("segment", seg), ("baseline", base)):
                    got = vip[kind]["explained_by_aspects"]
                    assert [e["aspect"] for e in got][0] == "wait_time" and got[0]["label"] == "Wait time"
                    for e in got:
                        change, slope, n_obs, n_ref = want[e["aspect"]]
                        assert (e["change"], e["slope"]) == (pytest.approx(change), pytest.approx(slope))
                        assert e["explained"] == pytest.approx(change * slope)
                        assert (e["n_observed"], e["n_reference"]) == (n_obs, n_ref)
                    assert got[0]["change"] < -1.5 and got[0]["explained"] < 0
                    assert abs(got[0]["explained"]) > 3 * max(abs(e["explained"]) for e in got[1:])
                q["metric"] = "ces"  # not an outcome aspects explain
                assert all(g["explained_by_aspects"] is None for g in (await c.get("/v1/gaps", params=q)).json()["data"])

        asyncio.run(run())
