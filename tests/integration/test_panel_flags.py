"""The respondent rule and the quality flags through the real Checkpointer and chDB.

Generated customers answer one survey several times over three months, on several shards,
with and without their touchpoints; the batches are committed in shuffled orders (late earlier
answers included). The stored windows of every view and size, the ledger path and the stored
flags must equal what this test computes on its own from the whole set: per (customer, survey),
ordered by (time, source, id), an answer is a repeat iff the previous one is less than the
cooldown before it; repeats count nowhere.
"""
from __future__ import annotations

import copy
import random
from collections import defaultdict

import pytest

from core.panel_settings import PanelSettings
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from kpi.counts import KpiCounts
from schemas.records import EventType
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.helpers import count_record
from warehouse import queries
from warehouse.ledger_counts import ledger_windows
from warehouse.tables import Table

pytestmark = pytest.mark.integration

TP = EventType.touchpoint.value
SR = EventType.survey_response.value
TENANT = "acme"
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
COOLDOWN_DAYS = 30
SIZES = [WindowSize.hour, WindowSize.day]
VIEWS = [(), ("channel",)]


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    offset = 0
    for c in range(12):
        times = sorted(T0 + rng.randrange(0, 90) * DAY_MS + rng.randrange(0, 24) * HOUR_MS for _ in range(rng.randint(1, 5)))
        if c == 0:
            times = [T0 + 5 * DAY_MS, T0 + 5 * DAY_MS]  # a tie: the (source, id) order decides
        for k, t in enumerate(times):
            iid, shard = f"i-{c}-{k}", rng.randrange(3)
            base = {"tenant": TENANT, "source": "/test", "time_ms": t, "subject": None, "interaction_id": iid,
                    "customer": f"cust-{c}", "attributes": {}, "_shard": shard}
            offset += 1
            out.append(base | {"type": SR, "id": f"a-{c}-{k}", "dims": {}, "survey_id": "s1",
                               "nps": rng.randrange(11), "csat": rng.randint(1, 5), "ces": None, "fcr": None,
                               "comment": None, "weight": None, "duration_s": rng.choice([None, 5.0, 60.0]),
                               "_offset": offset})
            if rng.random() < 0.6:  # its touchpoint, a little later or earlier
                offset += 1
                out.append(base | {"type": TP, "id": f"t-{c}-{k}", "time_ms": t - rng.randrange(0, 3) * MINUTE_MS,
                                   "dims": {"channel": rng.choice(["chat", "voice"])}, "wait_s": None,
                                   "handle_s": None, "resolved": None, "first_contact": None,
                                   "transferred": None, "abandoned": None, "converted": None, "_offset": offset})
    # another customer without a customer id: never a repeat
    for k in range(2):
        out.append({"tenant": TENANT, "source": "/test", "time_ms": T0 + k * HOUR_MS, "subject": None,
                    "interaction_id": f"anon-{k}", "customer": "", "attributes": {}, "_shard": 0, "type": SR,
                    "id": f"anon-{k}", "dims": {}, "survey_id": "s1", "nps": 10, "csat": 1, "ces": None,
                    "fcr": None, "comment": None, "weight": None, "duration_s": None, "_offset": 10_000 + k})
    return out


def expected_repeats(records: list[dict]) -> set[str]:
    by_customer: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r["type"] == SR and r["customer"]:
            by_customer[(r["customer"], r["survey_id"])].append(r)
    out = set()
    for answers in by_customer.values():
        answers.sort(key=lambda r: (r["time_ms"], r["source"], r["id"]))
        for prev, cur in zip(answers, answers[1:]):
            if cur["time_ms"] - prev["time_ms"] < COOLDOWN_DAYS * 86_400_000:
                out.add(cur["id"])
    return out


def expected_quality(r: dict) -> set[str]:
    out = set()
    if r.get("duration_s") is not None and r["duration_s"] < 10:
        out.add("too_fast")
    if (r["nps"] >= 9 and r["csat"] == 1) or (r["nps"] <= 1 and r["csat"] == 5):
        out.add("contradictory")
    aspects = r.get("aspects") or {}
    if len(aspects) >= 3 and len(set(aspects.values())) == 1:
        out.add("straight_lining")
    return out


def naive(records: list[dict], size_ms: int, group: tuple[str, ...], skip: set[str]) -> dict:
    tp_dims = {r["interaction_id"]: r["dims"] for r in records if r["type"] == TP}
    out: dict = defaultdict(KpiCounts)
    for r in records:
        if r["type"] == SR and r["id"] in skip:
            continue
        dims = r["dims"] if r["type"] == TP else {**tp_dims.get(r["interaction_id"], {}), **r["dims"]}
        count_record(out[(r["time_ms"] // size_ms * size_ms // 1000, tuple(dims.get(d, "") for d in group))], r)
    return dict(out)


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "panel") as warehouse:
        yield warehouse


def checkpointer(wh) -> Checkpointer:
    return Checkpointer(warehouse=wh, views=list(VIEWS), sizes=list(SIZES), grace_ms=10 * MINUTE_MS,
                        panel=PanelSettings(cooldown_days=COOLDOWN_DAYS, min_duration_s=10))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_respondent_rule_is_exact_under_any_arrival_order(wh, seed):
    records = generate(seed)
    rng = random.Random(seed * 7)
    shuffled = records[:]
    rng.shuffle(shuffled)  # late earlier answers, answers before their touchpoints
    ck = checkpointer(wh)
    for i in range(0, len(shuffled), 5):
        await ck.commit(copy.deepcopy(shuffled[i:i + 5]))
    # A restart (state rebuilt from the ledger, flags included) and a replay change nothing. (Not mid-stream:
    # an answer waiting more than 30 days behind the watermark for its touchpoint is not restored as
    # waiting, an existing bound of ``Checkpointer._restore_shard`` this shuffle would hit.)
    ck = checkpointer(wh)
    await ck.commit(copy.deepcopy(shuffled[:7]))

    repeats = expected_repeats(records)
    assert repeats and len(repeats) < sum(r["type"] == SR for r in records)
    flags = dict(wh.query(f"SELECT event_id, flags FROM {Table.survey_responses.value} FINAL").result_rows)
    answers = {r["id"]: r for r in records if r["type"] == SR}
    assert set(flags) == set(answers)
    for eid, r in answers.items():
        names = {n for n, bit in (("repeat", 1), ("straight_lining", 2), ("too_fast", 4), ("contradictory", 8))
                 if flags[eid] & bit}
        assert names == expected_quality(r) | ({"repeat"} if eid in repeats else set()), eid

    lo, hi = (T0 - DAY_MS) // 1000, (T0 + 100 * DAY_MS) // 1000
    for size in SIZES:
        for view in VIEWS:
            want = naive(records, size.ms, view, repeats)
            rows = await queries.read_windows(wh, TENANT, size.value, view, view, {}, lo, hi)
            assert {(r.window_start, r.group): r.counts for r in rows if not r.counts.is_zero()} == want, (size, view)
            ledger = await ledger_windows(wh, TENANT, size.ms, view, {}, lo, hi)
            assert {(r.window_start, r.group): r.counts for r in ledger} == want, (size, view)

    # exclude_flagged: the ledger path also leaves out the quality-flagged answers
    flagged = {eid for eid, r in answers.items() if expected_quality(r)}
    got = await ledger_windows(wh, TENANT, WindowSize.day.ms, (), {}, lo, hi, exclude_flagged=True)
    assert {(r.window_start, r.group): r.counts for r in got} == naive(records, DAY_MS, (), repeats | flagged)


async def test_late_earlier_answer_flips_the_later_one(wh):
    """The later answer counted first; the earlier one arrives days later on another shard: the later
    one becomes the repeat (retracted from its closed window), the earlier one counts."""
    records = generate(4)
    base = {"tenant": TENANT, "source": "/test", "subject": None, "customer": "cust-x", "attributes": {}, "type": SR,
            "dims": {}, "survey_id": "s1", "ces": None, "fcr": None, "comment": None, "weight": None,
            "duration_s": None}
    later = base | {"id": "later", "time_ms": T0 + 10 * DAY_MS, "interaction_id": "il", "nps": 10, "csat": 5,
                    "_shard": 1, "_offset": 1}
    earlier = base | {"id": "earlier", "time_ms": T0 + 2 * DAY_MS, "interaction_id": "ie", "nps": 0, "csat": 2,
                      "_shard": 2, "_offset": 2}
    ck = checkpointer(wh)
    await ck.commit([copy.deepcopy(later)])
    await ck.commit(copy.deepcopy(records[:3]))  # moves the watermark on: the later answer's hour closes
    await ck.commit([copy.deepcopy(earlier)])
    lo, hi = (T0 - DAY_MS) // 1000, (T0 + 100 * DAY_MS) // 1000
    rows = await queries.read_windows(wh, TENANT, "1d", (), (), {}, lo, hi)
    got = {r.window_start: r.counts for r in rows if not r.counts.is_zero()}
    want = naive([*records[:3], later, earlier], DAY_MS, (), {"later"} | expected_repeats(records[:3]))
    assert got == {k[0]: v for k, v in want.items()}
    flags = dict(wh.query(f"SELECT event_id, flags FROM {Table.survey_responses.value} FINAL "
                          "WHERE event_id IN ('later', 'earlier')").result_rows)
    assert flags == {"later": 1, "earlier": 0}
