"""Drill-down, exports and weighted KPIs on the running stack (HTTP -> Kafka -> Faust -> chDB -> API).

The records behind a tile are checked three ways: their number is the tile's
``n`` from /v1/kpis, their ids are exactly the ones an independent
computation from the posted CloudEvents attributes to the tile, and paging
neither repeats nor skips any. Exports must hold the same rows, weighted KPIs
must equal a numpy computation on the posted answers and weights.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from api.routers import records as records_router
from clients.simulator import ContactCenterSimulator
from core.dimensions import DIMENSIONS
from tests.conftest import PSEUDONYM_KEY, TEST_TENANT
from tests.helpers import expected_kpis, parse_ms

pytestmark = [pytest.mark.e2e]

HOUR_MS = 3_600_000
START = datetime(2026, 11, 3, 8, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 3, 11, 0, tzinfo=timezone.utc)
RANGE = {"from": "2026-11-03T00:00:00Z", "to": "2026-11-04T00:00:00Z"}
RESPONSE = "cx.survey.response.v1"
TOUCHPOINT = "cx.touchpoint.v1"
ANSWER_OF = {"nps": "nps", "csat": "csat", "ces": "ces", "fcr": "fcr"}


def _dataset() -> list[dict]:
    sim = ContactCenterSimulator(seed=23, rate_per_hour=420)
    events = [e for e in sim.generate(START, END) if parse_ms(e["time"]) < int(END.timestamp() * 1000) + HOUR_MS]
    rng = random.Random(8)
    for e in events:  # analytical weights on many answers (intercepts already carry 4.0)
        if e["type"] == RESPONSE and "weight" not in e["data"]:
            w = rng.choice([None, None, 0.5, 1.5, 2.0, 3.25])
            if w is not None:
                e["data"]["weight"] = w
    # Locally shuffled: many answers arrive before their touchpoint and are re-attributed later.
    chunks = [events[i:i + 300] for i in range(0, len(events), 300)]
    for c in chunks:
        rng.shuffle(c)
    return [e for c in chunks for e in c]


def _effective_dims(events: list[dict]) -> dict[str, dict[str, str]]:
    """Event id -> the dimensions it counts under: a touchpoint's own; an answer's touchpoint's, overridden."""
    tps = {e["data"]["interaction_id"]: e["data"] for e in events if e["type"] == TOUCHPOINT}
    out = {}
    for e in events:
        d = e["data"]
        base = {} if e["type"] == TOUCHPOINT else tps.get(d.get("interaction_id"), {})
        out[e["id"]] = {k: (d.get(k) or base.get(k) or "") for k in DIMENSIONS}
    return out


def _behind(events, dims, metric: str, lo: int, hi: int, filters: dict[str, str]) -> set[str]:
    """Ids of the posted events behind ``metric`` in [lo, hi) with these filters (independent of the pipeline)."""
    out = set()
    for e in events:
        t = parse_ms(e["time"])
        if not lo <= t < hi or any(dims[e["id"]][k] != v for k, v in filters.items()):
            continue
        d = e["data"]
        a = d.get("answers", {})
        # An experience: some score negative (NPS 0-6, CSAT 1-2, CES 1-3) or positive (9-10, 4-5, 6-7).
        experience = (a.get("nps", 7) not in (7, 8) or a.get("csat", 3) != 3 or a.get("ces", 4) not in (4, 5))
        if e["type"] == RESPONSE and (metric == "responses" or ANSWER_OF.get(metric) in a
                                      or (metric == "pos_neg_ratio" and experience)):
            out.add(e["id"])
        elif e["type"] == TOUCHPOINT and (metric == "volume" or (metric == "fcr_operational"
                                                                  and d.get("first_contact") is True)
                                          or (metric == "handle_time" and d.get("handle_s") is not None
                                              and d.get("abandoned") is not True)):
            out.add(e["id"])
    return out


def _weighted_reference(events, ids: set[str], metric: str) -> tuple[float, float]:
    """(value, Kish effective n) with numpy from the posted answers and weights (missing weight = 1)."""
    chosen = [e["data"] for e in events if e["id"] in ids]
    x = np.array([float(d["answers"][metric]) for d in chosen])
    w = np.array([d.get("weight", 1.0) for d in chosen])
    value = {
        "nps": lambda: 100 * np.average(np.where(x >= 9, 1.0, np.where(x <= 6, -1.0, 0.0)), weights=w),
        "csat": lambda: 100 * np.average(x >= 4, weights=w),
        "ces": lambda: np.average(x, weights=w),
        "fcr": lambda: 100 * np.average(x == 1.0, weights=w),
    }[metric]()
    return float(value), float(w.sum() ** 2 / (w ** 2).sum())


async def _get(client: httpx.AsyncClient, path: str, **params) -> dict:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, (path, params, resp.text)
    return resp.json()


async def _all_pages(client, path: str, limit: int, **params) -> tuple[list[dict], int]:
    records, pages, cursor = [], 0, None
    while True:
        body = await _get(client, path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert body["count"] == len(body["data"]) <= limit
        records += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return records, pages
        assert body["count"] == limit  # only the last page may be short


async def _wait_for_ledger(client, events) -> None:
    """Until every posted event is counted in the windows and readable from the ledger."""
    tps = sum(e["type"] == TOUCHPOINT for e in events)
    responses = sum(e["type"] == RESPONSE for e in events)
    deadline = asyncio.get_running_loop().time() + 120
    got = None
    while asyncio.get_running_loop().time() < deadline:
        vol = await _get(client, "/v1/kpis", metric="volume", window="1d", **RANGE)
        res = await _get(client, "/v1/kpis", metric="responses", window="1d", **RANGE)
        answers, _ = await _all_pages(client, "/v1/responses", 1000, metric="responses", **RANGE)
        touchpoints, _ = await _all_pages(client, "/v1/touchpoints", 1000, **RANGE)
        got = (sum(p["n"] for p in vol["data"]), sum(p["n"] for p in res["data"]), len(answers), len(touchpoints))
        if got == (tps, responses, responses, tps) and all(r["attributed"] or not r["interaction_id"]
                                                            for r in answers):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not all visible: {got} != {(tps, responses)}")


async def test_drilldown_export_and_weighted(stack: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    events = _dataset()
    for i in range(0, len(events), 500):
        resp = await stack.post("/v1/events", json=events[i:i + 500])
        assert resp.status_code == 202 and resp.json()["rejected"] == [], resp.text
    await _wait_for_ledger(stack, events)
    dims = _effective_dims(events)
    by_id = {e["id"]: e for e in events}
    hourly = expected_kpis(events, HOUR_MS, None)
    assert sum(t.get("nps_n", 0) for t in hourly.values()) > 150  # enough answers for several pages per tile

    # -- every tile: records behind == n == independent ids ------------------------------------------
    tiles = 0
    kpi_window = {"window": "1h", "from": START.isoformat(), "to": (END + timedelta(hours=1)).isoformat()}
    for path, metrics in (("/v1/responses", ("nps", "csat", "ces", "fcr", "responses", "pos_neg_ratio")),
                          ("/v1/touchpoints", ("volume", "fcr_operational", "handle_time"))):
        for metric in metrics:
            for group_by in ("", "channel", "segment"):
                series = await _get(stack, "/v1/kpis", metric=metric, group_by=group_by, **kpi_window)
                for point in series["data"]:
                    lo, hi = parse_ms(point["window_start"]), parse_ms(point["window_end"])
                    records, _ = await _all_pages(stack, path, 40, metric=metric, window="1h",
                                                  **{"from": point["window_start"], "to": point["window_end"]},
                                                  **point["group"])
                    ids = [r["id"] for r in records]
                    assert len(ids) == point["n"], (metric, group_by, point)
                    assert set(ids) == _behind(events, dims, metric, lo, hi, point["group"]), (metric, point)
                    tiles += 1
    assert tiles > 100

    # A rolling 24 h point: one bucket ending at 12:00 covers 24 hours of answers.
    point = (await _get(stack, "/v1/kpis", metric="nps", window="24h", channel="phone",
                        **{"from": "2026-11-03T11:00:00Z", "to": "2026-11-03T12:00:00Z"}))["data"]
    assert len(point) == 1
    records, _ = await _all_pages(stack, "/v1/responses", 1000, metric="nps", window="24h", channel="phone",
                                  **{"from": "2026-11-03T11:00:00Z", "to": "2026-11-03T12:00:00Z"})
    assert len(records) == point[0]["n"] > 0
    assert {r["id"] for r in records} == _behind(events, dims, "nps", parse_ms("2026-11-02T12:00:00Z"),
                                                 parse_ms("2026-11-03T12:00:00Z"), {"channel": "phone"})

    # -- paging: no duplicates, no gaps, keyset order; record contents ------------------------------
    everything, pages = await _all_pages(stack, "/v1/responses", 17, metric="responses", **RANGE)
    ids = [r["id"] for r in everything]
    assert pages > 8 and len(ids) == len(set(ids))
    assert set(ids) == {e["id"] for e in events if e["type"] == RESPONSE}
    assert [parse_ms(r["time"]) for r in everything] == sorted(parse_ms(r["time"]) for r in everything)
    pseudonym = hmac.new(PSEUDONYM_KEY.encode(), digestmod=hashlib.sha256)
    raw_customers = {e["data"].get("customer_id") for e in events}
    for r in everything:
        d = by_id[r["id"]]["data"]
        answers = d["answers"]
        assert (r["nps"], r["csat"], r["ces"], r["fcr"]) == tuple(answers.get(k) for k in ("nps", "csat", "ces", "fcr"))
        assert r["comment"] == d.get("comment") and r["weight"] == d.get("weight")
        assert r["survey_id"] == d["survey_id"] and r["interaction_id"] == d.get("interaction_id")
        assert r["dims"] == {k: v for k, v in dims[r["id"]].items() if v}
        assert r["overrides"] == {k: d[k] for k in DIMENSIONS if k in d}
        # the simulator sends no durations or aspects: the only flag possible is a contradiction
        contradictory = answers.get("nps") is not None and answers.get("csat") is not None and (
            (answers["nps"] >= 9 and answers["csat"] == 1) or (answers["nps"] <= 1 and answers["csat"] == 5))
        assert (r["duration_s"], r["aspects"], r["flags"]) == (None, {}, ["contradictory"] if contradictory else [])
        mac = pseudonym.copy()
        mac.update(f"{TEST_TENANT}\x1f{d['customer_id']}".encode())
        assert r["customer"] == mac.hexdigest()[:32] and r["customer"] not in raw_customers
    assert sum(r["comment"] is not None for r in everything) > 10

    # -- exports: CSV and Parquet hold the same rows as the pages -----------------------------------
    monkeypatch.setattr(records_router, "EXPORT_BLOCK_ROWS", 97)  # several blocks -> several row groups
    csv_resp = await stack.get("/v1/responses/export", params={"metric": "responses", "format": "csv", **RANGE})
    assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_resp.headers["content-disposition"]
    pq_resp = await stack.get("/v1/responses/export", params={"metric": "responses", **RANGE},
                              headers={"Accept": "application/vnd.apache.parquet"})
    assert pq_resp.status_code == 200 and pq_resp.headers["content-type"] == "application/vnd.apache.parquet"
    csv_rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
    parquet = pq.ParquetFile(io.BytesIO(pq_resp.content))
    assert parquet.metadata.num_row_groups >= -(-len(everything) // 97)
    pq_rows = parquet.read(use_threads=False).to_pylist()  # threaded reads can abort pyarrow at exit

    def as_text(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, datetime):
            return v.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(v)

    def from_api(r: dict) -> dict:
        flat = {k: v for k, v in r.items() if k not in ("dims", "overrides")}
        flat.update({k: r["dims"].get(k, "") for k in DIMENSIONS})
        flat["overrides"] = None if not r["overrides"] else r["overrides"]
        flat["time"] = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        return flat

    api_rows = [from_api(r) for r in everything]
    assert [r["id"] for r in csv_rows] == [r["id"] for r in pq_rows] == ids
    for a, c, p in zip(api_rows, csv_rows, pq_rows):
        p_over, c_over = p.pop("overrides"), c.pop("overrides")
        p_over, c_over = (orjson.loads(p_over) if p_over else None), (orjson.loads(c_over) if c_over else None)
        assert p_over == c_over == a.pop("overrides")
        assert dict(p.pop("aspects")) == orjson.loads(c.pop("aspects")) == a.pop("aspects")
        assert p.pop("flags") == orjson.loads(c.pop("flags")) == a.pop("flags")
        assert set(p) == set(c) == set(a), (set(p) ^ set(a))
        for k in a:
            want = a[k]
            if isinstance(want, float) and isinstance(p[k], float):
                assert p[k] == pytest.approx(want)
            else:
                assert p[k] == want, (k, p[k], want)
            assert c[k] == as_text(want) or (isinstance(want, float) and float(c[k]) == want), (k, c[k], want)
    tp_csv = await stack.get("/v1/touchpoints/export", params={"metric": "fcr_operational", **RANGE})
    tp_rows = list(csv.DictReader(io.StringIO(tp_csv.text)))
    assert {r["id"] for r in tp_rows} == _behind(events, dims, "fcr_operational", 0, 2**62, {})
    assert all(r["first_contact"] == "true" for r in tp_rows)

    # -- weighted KPIs = numpy on the posted answers; n = the unweighted tile's n --------------------
    checked = 0
    for metric in ("nps", "csat", "ces", "fcr"):
        for group_by in ("", "channel"):
            weighted = await _get(stack, "/v1/kpis/weighted", metric=metric, group_by=group_by, **kpi_window)
            plain = await _get(stack, "/v1/kpis", metric=metric, group_by=group_by, **kpi_window)
            plain_n = {(p["window_start"], tuple(p["group"].items())): p["n"] for p in plain["data"] if p["n"]}
            assert {(p["window_start"], tuple(p["group"].items())) for p in weighted["data"]} == set(plain_n)
            for p in weighted["data"]:
                lo, hi = parse_ms(p["window_start"]), parse_ms(p["window_end"])
                ids_behind = _behind(events, dims, metric, lo, hi, p["group"])
                value, n_eff = _weighted_reference(events, ids_behind, metric)
                assert p["n"] == len(ids_behind) == plain_n[(p["window_start"], tuple(p["group"].items()))]
                assert p["value"] == pytest.approx(value, rel=1e-9, abs=1e-9), (metric, p)
                assert p["effective_n"] == pytest.approx(n_eff, rel=1e-9)
                assert p["low_sample"] == (n_eff < 30)
                if p["ci_low"] is not None and metric != "nps":  # adjusted Wald may exclude a tiny sample's score
                    assert p["ci_low"] <= p["value"] + 1e-9 and p["value"] - 1e-9 <= p["ci_high"]
                checked += 1
    assert checked > 40
    rolling = await _get(stack, "/v1/kpis/weighted", metric="csat", window="24h",
                         **{"from": "2026-11-03T11:00:00Z", "to": "2026-11-03T12:00:00Z"})
    (p,) = rolling["data"]
    ids_behind = _behind(events, dims, "csat", parse_ms("2026-11-02T12:00:00Z"), parse_ms("2026-11-03T12:00:00Z"), {})
    value, n_eff = _weighted_reference(events, ids_behind, "csat")
    assert p["n"] == len(ids_behind) and p["value"] == pytest.approx(value, rel=1e-9)
    assert p["effective_n"] == pytest.approx(n_eff, rel=1e-9) and n_eff < p["n"]  # unequal weights cost precision

    # -- bad input: 422 with the exact parameter ---------------------------------------------------
    async def loc(path: str, **params) -> list:
        resp = await stack.get(path, params=params)
        assert resp.status_code == 422, resp.text
        return [tuple(d["loc"]) for d in resp.json()["detail"]]

    assert await loc("/v1/responses", metric="volume") == [("query", "metric")]
    assert await loc("/v1/touchpoints", metric="nps") == [("query", "metric")]
    assert await loc("/v1/responses", metric="response_rate") == [("query", "metric")]
    assert await loc("/v1/responses", limit=0) == [("query", "limit")]
    assert await loc("/v1/responses", limit=1001) == [("query", "limit")]
    assert await loc("/v1/responses", cursor="not-a-cursor") == [("query", "cursor")]
    assert await loc("/v1/responses/export", format="xlsx") == [("query", "format")]
    assert await loc("/v1/kpis/weighted", metric="volume") == [("query", "metric")]
    assert await loc("/v1/kpis/weighted", group_by="colour") == [("query", "group_by")]
    first = await _get(stack, "/v1/responses", metric="nps", channel="chat", limit=5, **RANGE)
    assert await loc("/v1/responses", metric="nps", channel="email", cursor=first["next_cursor"]) == \
        [("query", "cursor")]
    assert await loc("/v1/responses", metric="csat", channel="chat", cursor=first["next_cursor"]) == \
        [("query", "cursor")]
    # A cursor keeps its range: the next page needs no from/to (the default `to` would be now).
    second = await _get(stack, "/v1/responses", metric="nps", channel="chat", limit=5, cursor=first["next_cursor"])
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}
    assert second["window_start"] == first["window_start"] and second["window_end"] == first["window_end"]
    assert Counter(r["dims"].get("channel") for r in first["data"] + second["data"]) == Counter({"chat": 10})
