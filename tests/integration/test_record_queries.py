"""warehouse.record_queries on real chDB: the rows behind a metric are the ones the counters count.

Random ledger rows are written with the real writer, some of them twice (a
re-attributed answer: a later version with other dimensions, as the
checkpointer writes it). Expected values come from ``kpi.counts.add_record``
over the latest version of each row, filtered here in Python.
"""
from __future__ import annotations

import itertools
import random

import pytest

from kpi.counts import KpiCounts, add_record
from kpi.measures import measure
from kpi.weighted import WeightedCounts, answer_field, weighted_measure
from schemas.records import EventType
from warehouse import record_queries as rq
from warehouse.client import Warehouse
from warehouse.tables import event_key
from warehouse.writer import KpiWriter
from tests.conftest import migrated_warehouse

pytestmark = pytest.mark.integration

TENANT = "acme"
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000
CHANNELS = ["", "chat", "phone"]
SEGMENTS = ["", "vip", "smb"]


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "rq") as warehouse:
        yield warehouse


def _records(rng: random.Random, n: int) -> list[dict]:
    offsets = itertools.count()
    out = []
    for i in range(n):
        t = T0 + rng.randrange(4 * HOUR)
        dims = {k: v for k, v in (("channel", rng.choice(CHANNELS)), ("segment", rng.choice(SEGMENTS))) if v}
        base = {"tenant": rng.choice([TENANT, TENANT, "other"]), "source": "/t", "time_ms": t, "subject": None,
                "customer": "p" * 32, "attributes": {}, "_shard": 0, "_offset": next(offsets)}
        if rng.random() < 0.4:
            rec = base | {"type": EventType.touchpoint.value, "id": f"tp-{i}", "interaction_id": f"i-{i}",
                          "dims": dims, "first_contact": rng.choice([None, True, False]),
                          "resolved": rng.choice([None, True, False]), "wait_s": None, "handle_s": 1.0,
                          "transferred": None, "abandoned": None, "converted": None}
        else:
            answers = {"nps": rng.choice([None, *range(11)]), "csat": rng.choice([None, *range(1, 6)]),
                       "ces": rng.choice([None, *range(1, 8)]), "fcr": rng.choice([None, True, False])}
            rec = base | {"type": EventType.survey_response.value, "id": f"r-{i}", "interaction_id": f"i-{i}",
                          "dims": {}, "_dims": dims, "_attributed": rng.random() < 0.8, "survey_id": "s",
                          "comment": "", "weight": rng.choice([None, 0.5, 2.0, 3.5])} | answers
        rec["_key"] = event_key(rec["tenant"], rec["source"], rec["id"])
        out.append(rec)
    return out


async def _write(wh: Warehouse, records: list[dict]) -> None:
    writer = KpiWriter(wh)
    for r in records:
        writer.add_ledger(r)
    await writer.flush()


def _dims_of(rec: dict) -> dict:
    return rec.get("_dims", rec.get("dims") or {})


async def test_rows_behind_each_metric_match_the_counters(wh: Warehouse) -> None:
    rng = random.Random(4)
    records = _records(rng, 600)
    await _write(wh, records)
    # Re-attribution: a later version of some answers with other dimensions replaces the first.
    moved = []
    for r in rng.sample([r for r in records if r["type"] == EventType.survey_response.value], 80):
        moved.append(r | {"_dims": {"channel": "email", "segment": "vip"}, "_attributed": True})
    await _write(wh, moved)
    latest = {r["id"]: r for r in [*records, *moved]}

    checked = 0
    for metric, (table, _) in rq.RECORDS_BEHIND.items():
        for filters in ({}, {"channel": "chat"}, {"channel": "email"}, {"channel": "", "segment": "vip"}):
            lo, hi = T0 + HOUR, T0 + 3 * HOUR
            want = KpiCounts()
            want_ids = set()
            for r in latest.values():
                if (r["tenant"] == TENANT and lo <= r["time_ms"] < hi
                        and all(_dims_of(r).get(k, "") == v for k, v in filters.items())
                        and r["type"] == (EventType.touchpoint.value if table.value == "touchpoints"
                                          else EventType.survey_response.value)):
                    before = measure(metric, want).n
                    add_record(want, r)
                    if measure(metric, want).n > before:
                        want_ids.add(r["id"])
            selection = rq.Selection.of(TENANT, metric, lo, hi, filters)
            got, after = [], None
            while True:
                page = await rq.read_page(wh, selection, after, 7)
                got += page.rows
                if page.next_after is None:
                    break
                after = page.next_after
            assert len(got) == measure(metric, want).n, (metric, filters)
            assert {r["event_id"] for r in got} == want_ids
            keys = [(r["time_ms"], r["event_key"], r["source"], r["event_id"]) for r in got]
            assert keys == sorted(keys) and len(set(keys)) == len(keys)
            streamed = [row async for block in rq.stream_rows(wh, selection, 13) for row in block]
            assert [tuple(r.values()) for r in got] == [tuple(r) for r in streamed]
            checked += len(got)
    assert checked > 500


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "fcr"])
async def test_weighted_sums_match_the_answers(wh: Warehouse, metric: str) -> None:
    records = _records(random.Random(9), 500)
    await _write(wh, records)
    field = answer_field(metric)
    for filters in ({}, {"segment": "smb"}):
        chosen = [r for r in records if r["type"] == EventType.survey_response.value and r["tenant"] == TENANT
                  and r[field] is not None and all(r["_dims"].get(k, "") == v for k, v in filters.items())]
        rows = await rq.weighted_answers(wh, rq.Selection.of(TENANT, metric, T0, T0 + 4 * HOUR, filters), HOUR,
                                         ("channel",))
        for channel in CHANNELS:
            for hour in range(4):
                start = T0 + hour * HOUR
                answers = [r for r in chosen if r["_dims"].get("channel", "") == channel
                           and start <= r["time_ms"] < start + HOUR]
                state = WeightedCounts()
                for row in rows:
                    if row.group == (channel,) and row.bucket_ms == start:
                        state.add_answers({field: row.value}, row.count, row.sum_w, row.sum_w2)
                want = weighted_measure(metric, WeightedCounts.from_answers(
                    [{field: r[field]} for r in answers], [r["weight"] for r in answers]))
                got = weighted_measure(metric, state)
                assert got.n == want.n == len(answers)
                assert got.effective_n == pytest.approx(want.effective_n, rel=1e-12)
                assert (got.value is None and want.value is None) or got.value == pytest.approx(want.value)
