"""Checkpointer against real chDB: dedup, attribution, late events, restarts, crashes, shards.

Every case reads the stored windows back with ``queries.read_windows`` and compares
them with counts computed here, naively, from the records that were committed.
"""
from __future__ import annotations

import copy
import itertools
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi.counts import KpiCounts
from kpi.measures import Metric, measure
from schemas.records import EventType
from stream_processors.checkpoint import BatchResult, Checkpointer
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from warehouse import queries
from warehouse.client import Warehouse
from warehouse.tables import Table
from tests.conftest import migrated_warehouse
from tests.helpers import count_record

pytestmark = pytest.mark.integration

TP = EventType.touchpoint.value
SR = EventType.survey_response.value
INV = EventType.survey_invitation.value
SIG = EventType.signal.value
TENANT = "acme"
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
GRACE_MS = 10 * MINUTE_MS
SIZES = [WindowSize.minute, WindowSize.hour, WindowSize.day]
VIEWS = [(), ("channel",), ("channel", "team")]


# -- record factories (schemas/records.py format) -------------------------------------
_offsets = itertools.count()


def _base(type_: str, eid: str, t: int, iid: str, dims: dict, shard: int) -> dict:
    return {"tenant": TENANT, "id": eid, "source": "/test", "type": type_, "time_ms": t,
            "subject": f"subj-{eid}", "interaction_id": iid, "customer": f"cust-{iid}", "dims": dict(dims),
            "attributes": {"origin": eid}, "_shard": shard, "_offset": next(_offsets)}


def tp(eid: str, t: int, iid: str, channel: str = "", team: str = "", *, first_contact=None, resolved=None,
       shard: int = 0) -> dict:
    dims = {k: v for k, v in (("channel", channel), ("team", team)) if v}
    return _base(TP, eid, t, iid, dims, shard) | {
        "wait_s": 5.0, "handle_s": 60.0, "resolved": resolved, "first_contact": first_contact,
        "transferred": False, "abandoned": False, "converted": None}


def outcomes(k: int) -> KpiCounts:
    """The outcome counters of ``k`` touchpoints of :func:`tp`: 5 s wait (50 ds), 60 s handled (600 ds),
    not transferred, not abandoned, conversion unknown."""
    return KpiCounts(tp_abandoned_n=k, tp_transferred_n=k, tp_wait_n=k, tp_wait_ds=50 * k, tp_wait_ds2=2500 * k,
                     tp_handle_n=k, tp_handle_ds=600 * k, tp_handle_ds2=360_000 * k)


def answer(eid: str, t: int, iid: str, *, nps=None, csat=None, overrides: dict | None = None,
           shard: int = 0) -> dict:
    return _base(SR, eid, t, iid, overrides or {}, shard) | {
        "survey_id": "s1", "nps": nps, "csat": csat, "ces": None, "fcr": None, "comment": f"c-{eid}",
        "weight": None}


def invitation(eid: str, t: int, iid: str, *, shard: int = 0) -> dict:
    return _base(INV, eid, t, iid, {}, shard) | {"survey_id": "s1", "via": "email"}


def signal(eid: str, t: int, channel: str = "", *, kind: str = "review", rating: int | None = None,
           shard: int = 0) -> dict:
    """A cx.signal.v1 record: no interaction, its own dimensions."""
    return _base(SIG, eid, t, "", {"channel": channel} if channel else {}, shard) | {
        "kind": kind, "rating": rating, "sentiment": None, "score": None, "platform": "google", "brand": "acme",
        "text": f"t-{eid}"}


def resend(rec: dict, **changes) -> dict:
    """The same event delivered again (new Kafka offset)."""
    return copy.deepcopy(rec) | {"_offset": next(_offsets)} | changes


# -- independent expectation ------------------------------------------------------------
def naive(records: list[dict], size_ms: int, group: tuple[str, ...]) -> dict:
    """{(window_start_s, group values): KpiCounts}, deduplicated by event key, answers and
    invitations under their touchpoint's dims (own overrides win), or their own if none; an
    invitation is answered when any answer shares its tenant and (non-empty) interaction id."""
    unique = {(r["type"], r["tenant"], r["source"], r["id"]): r for r in reversed(records)}.values()
    tp_dims = {(r["tenant"], r["interaction_id"]): r["dims"] for r in unique if r["type"] == TP}
    answered = {(r["tenant"], r["interaction_id"]) for r in unique if r["type"] == SR and r["interaction_id"]}
    out: dict = defaultdict(KpiCounts)
    for r in unique:
        dims = r["dims"] if r["type"] in (TP, SIG) else {**tp_dims.get((r["tenant"], r["interaction_id"]), {}),
                                                          **r["dims"]}
        c = out[(r["time_ms"] // size_ms * size_ms // 1000, tuple(dims.get(d, "") for d in group))]
        if r["type"] == INV:
            c.invitations += 1
            c.invitations_answered += (r["tenant"], r["interaction_id"]) in answered
        else:
            count_record(c, r)
    return dict(out)


async def stored(wh: Warehouse, size: WindowSize, view: tuple[str, ...]) -> dict:
    """Stored windows of a view (summed over shards), all-zero rows (retracted cells) left out."""
    rows = await queries.read_windows(wh, TENANT, size.value, view, view, {},
                                      (T0 - 7 * DAY_MS) // 1000, (T0 + 30 * DAY_MS) // 1000)
    return {(r.window_start, r.group): r.counts for r in rows if not r.counts.is_zero()}


async def assert_stored_matches(wh: Warehouse, committed: list[dict]) -> None:
    for size in SIZES:
        for view in VIEWS:
            assert await stored(wh, size, view) == naive(committed, size.ms, view), (size, view)


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "ck") as warehouse:
        yield warehouse


def checkpointer(wh: Warehouse, **kwargs) -> Checkpointer:
    return Checkpointer(warehouse=wh, views=list(VIEWS), sizes=list(SIZES), grace_ms=GRACE_MS, **kwargs)


async def commit(ck: Checkpointer, batch: list[dict]):
    """Commit a copy, as a consumer decodes each delivery afresh."""
    return await ck.commit(copy.deepcopy(batch))


def ledger_row(wh: Warehouse, table: Table, eid: str, columns: str) -> tuple:
    rows = wh.query(f"SELECT {columns} FROM {table.value} FINAL WHERE event_id = {{e:String}}",
                    {"e": eid}).result_rows
    assert len(rows) == 1, rows
    return tuple(rows[0])


# -- cases ------------------------------------------------------------------------------
async def test_replayed_batch_and_resent_events_count_once(wh: Warehouse) -> None:
    t = T0 + 9 * HOUR_MS
    batch1 = [
        tp("tp-a", t, "ia", "voice", "t1", first_contact=True, resolved=True),
        tp("tp-b", t + 1000, "ib", "chat", "t2", first_contact=True, resolved=False),
        answer("sr-a", t + 2000, "ia", nps=10, csat=5),
        invitation("inv-b", t + 3000, "ib"),
    ]
    ck = checkpointer(wh)
    r1 = await commit(ck, batch1)
    assert (r1.received, r1.applied, r1.duplicates, r1.reattributed) == (4, 4, 0, 0)
    after_first = {(s, v): await stored(wh, s, v) for s in SIZES for v in VIEWS}

    r2 = await commit(ck, batch1)  # the consumer crashed before acking: the whole batch again
    assert (r2.received, r2.applied, r2.duplicates, r2.window_rows) == (4, 0, 4, 0)
    assert {(s, v): await stored(wh, s, v) for s in SIZES for v in VIEWS} == after_first

    tp_c = tp("tp-c", t + 4000, "ic", "voice", "t1")
    batch3 = [resend(batch1[0]), resend(batch1[2], nps=0), tp_c, resend(tp_c), resend(batch1[3])]
    r3 = await commit(ck, batch3)
    assert (r3.received, r3.applied, r3.duplicates) == (5, 1, 4)

    # A restarted worker finds the same events in the ledger.
    r4 = await commit(checkpointer(wh), [resend(r) for r in batch1])
    assert (r4.applied, r4.duplicates) == (0, 4)

    committed = [*batch1, tp_c]
    await assert_stored_matches(wh, committed)
    hour = (t // HOUR_MS * HOUR_MS // 1000, ())
    assert (await stored(wh, WindowSize.hour, ()))[hour] == KpiCounts(
        touchpoints=3, tp_first_contact=2, tp_first_contact_resolved=1, invitations=1, responses=1, nps_n=1,
        promoters=1, csat_n=1, csat_sum=5, csat_top2=1, answers_positive=1) + outcomes(3)
    assert wh.query("SELECT count() FROM touchpoints FINAL").result_rows == [(3,)]


async def test_answer_before_touchpoint_moves_to_touchpoint_dims(wh: Warehouse) -> None:
    t = T0 + 10 * HOUR_MS
    early = [
        answer("sr-x", t, "ix", nps=3),
        answer("sr-y", t + 1000, "ix", csat=4, overrides={"team": "t9"}),
        invitation("inv-x", t + 500, "ix"),
    ]
    ck = checkpointer(wh)
    r1 = await commit(ck, early)
    assert (r1.applied, r1.reattributed) == (3, 0)
    hour_s = t // HOUR_MS * HOUR_MS // 1000
    assert await stored(wh, WindowSize.hour, ("channel",)) == {
        (hour_s, ("",)): KpiCounts(invitations=1, responses=2, nps_n=1, detractors=1, csat_n=1, csat_sum=4,
                                   csat_top2=1, invitations_answered=1, answers_positive=1, answers_negative=1)}
    assert ledger_row(wh, Table.survey_responses, "sr-x", "attributed, channel, team") == (False, "", "")
    assert ledger_row(wh, Table.survey_responses, "sr-y", "attributed, channel, team") == (False, "", "t9")
    overall_before = await stored(wh, WindowSize.hour, ())

    touch = tp("tp-x", t + 5 * MINUTE_MS, "ix", "voice", "t1")
    r2 = await commit(ck, [touch])
    assert (r2.applied, r2.reattributed) == (1, 3)
    assert await stored(wh, WindowSize.hour, ("channel",)) == {
        (hour_s, ("voice",)): KpiCounts(touchpoints=1, invitations=1, responses=2, nps_n=1, detractors=1,
                                        csat_n=1, csat_sum=4, csat_top2=1, invitations_answered=1,
                                        answers_positive=1, answers_negative=1) + outcomes(1)}
    assert await stored(wh, WindowSize.hour, ("channel", "team")) == {
        (hour_s, ("voice", "t1")): KpiCounts(touchpoints=1, invitations=1, responses=1, nps_n=1, detractors=1,
                                             invitations_answered=1, answers_negative=1) + outcomes(1),
        (hour_s, ("voice", "t9")): KpiCounts(responses=1, csat_n=1, csat_sum=4, csat_top2=1, answers_positive=1)}
    overall_after = await stored(wh, WindowSize.hour, ())
    overall_after[(hour_s, ())].touchpoints -= 1
    overall_after[(hour_s, ())].subtract(outcomes(1))
    assert overall_after == overall_before  # moving answers changes no total
    await assert_stored_matches(wh, [*early, touch])

    # The ledger rows were re-versioned: attributed, with the touchpoint's dims (overrides kept).
    assert ledger_row(wh, Table.survey_responses, "sr-x", "attributed, channel, team, overrides") == (
        True, "voice", "t1", "")
    assert ledger_row(wh, Table.survey_responses, "sr-y", "attributed, channel, team, overrides") == (
        True, "voice", "t9", '{"team":"t9"}')
    assert ledger_row(wh, Table.survey_invitations, "inv-x", "attributed, channel") == (True, "voice")
    # A later restart rebuilds the same state from those rows (nothing left waiting).
    ck2 = checkpointer(wh)
    await commit(ck2, [tp("tp-z", t + 6 * MINUTE_MS, "iz", "chat")])
    assert ck2.shards[0].pending == {}
    await assert_stored_matches(wh, [*early, touch, tp("tp-z", t + 6 * MINUTE_MS, "iz", "chat")])


async def test_ledger_reads_see_only_the_latest_version_of_each_event(wh: Warehouse) -> None:
    """ledger_records reads the by_time projection without FINAL; it must still answer as FINAL would."""
    t = T0 + 12 * HOUR_MS
    ck = checkpointer(wh)
    await commit(ck, [answer("sr-v", t, "iv", nps=9), answer("sr-w", t + 1000, "iw", nps=2)])
    before = await queries.ledger_records(wh, 0, t, t + HOUR_MS, only_unattributed=True)
    assert sorted(r["id"] for r in before) == ["sr-v", "sr-w"]
    await commit(ck, [tp("tp-v", t + MINUTE_MS, "iv", "chat", "t2")])  # re-versions sr-v: attributed
    versions = wh.query(f"SELECT count() FROM {Table.survey_responses.value} WHERE event_id = 'sr-v'").result_rows
    assert versions == [(2,)]  # both versions are stored (until a merge) ...
    rows = await queries.ledger_records(wh, 0, t, t + HOUR_MS)
    answers = {r["id"]: r for r in rows if r["type"] == EventType.survey_response.value}
    assert sorted(answers) == ["sr-v", "sr-w"]  # ... but read once, at the latest version
    assert answers["sr-v"]["_attributed"] is True and answers["sr-v"]["_dims"]["channel"] == "chat"
    assert answers["sr-w"]["_attributed"] is False
    waiting = await queries.ledger_records(wh, 0, t, t + HOUR_MS, only_unattributed=True)
    assert [r["id"] for r in waiting] == ["sr-w"]  # the stale unattributed version of sr-v is not waiting


@pytest.mark.parametrize("gap_days", [0, 3], ids=["in-restored-range", "only-in-ledger"])
async def test_touchpoint_committed_before_a_restart_attributes_the_answer(wh: Warehouse, gap_days: int) -> None:
    t = T0 + 8 * HOUR_MS
    touch = tp("tp-r", t, "ir", "email", "t3")
    later = tp("tp-later", t + gap_days * DAY_MS, "iother", "chat")  # moves the shard's watermark
    await commit(checkpointer(wh), [touch])
    await commit(checkpointer(wh), [later])

    ck = checkpointer(wh)  # restart: this instance never saw tp-r
    ans = answer("sr-r", t + gap_days * DAY_MS + MINUTE_MS, "ir", nps=8)
    inv = invitation("inv-r", t + gap_days * DAY_MS + 2 * MINUTE_MS, "ir")
    r = await commit(ck, [ans, inv])
    assert (r.applied, r.reattributed) == (2, 0)
    assert ledger_row(wh, Table.survey_responses, "sr-r", "attributed, channel, team") == (True, "email", "t3")
    assert ledger_row(wh, Table.survey_invitations, "inv-r", "attributed, channel, team") == (True, "email", "t3")
    assert ck.shards[0].pending == {}
    day_s = (t + gap_days * DAY_MS) // DAY_MS * DAY_MS // 1000
    assert (await stored(wh, WindowSize.day, ("channel",)))[(day_s, ("email",))] == KpiCounts(
        touchpoints=1 if gap_days == 0 else 0, invitations=1, responses=1, nps_n=1, passives=1,
        invitations_answered=1) + outcomes(1 if gap_days == 0 else 0)
    await assert_stored_matches(wh, [touch, later, ans, inv])


async def test_answer_waiting_across_a_restart_moves_when_its_touchpoint_arrives(wh: Warehouse) -> None:
    t = T0 + 11 * HOUR_MS
    ans = answer("sr-w", t, "iw", nps=10, csat=2)
    other = tp("tp-o", t + 1000, "io", "chat", "t1")
    await commit(checkpointer(wh), [ans, other])

    ck = checkpointer(wh)  # restart: the answer waits in the ledger (attributed = false)
    touch = tp("tp-w", t + 2 * MINUTE_MS, "iw", "voice", "t2")
    r = await commit(ck, [touch])
    assert (r.applied, r.reattributed) == (1, 1)
    await assert_stored_matches(wh, [ans, other, touch])
    # The re-versioned ledger row is the same event, now attributed: nothing else lost.
    assert ledger_row(wh, Table.survey_responses, "sr-w",
                      "attributed, channel, team, subject, customer, attributes, comment, nps, csat") == (
        True, "voice", "t2", "subj-sr-w", "cust-iw", '{"origin":"sr-w"}', "c-sr-w", 10, 2)


async def test_late_event_corrects_an_evicted_window(wh: Warehouse) -> None:
    t = T0 + 9 * HOUR_MS
    first = [
        tp("tp-1", t + 5 * MINUTE_MS, "i1", "voice", "t1", first_contact=True, resolved=True),
        answer("sr-1", t + 6 * MINUTE_MS, "i1", nps=9),
        tp("tp-2", t + 40 * MINUTE_MS, "i2", "chat", "t1"),
    ]
    ck = checkpointer(wh, closed_cells_kept=0)  # closed windows leave memory: the late event reloads them
    await commit(ck, first)
    advance = [tp("tp-far", t + 2 * DAY_MS, "ifar", "voice", "t1")]
    await commit(ck, advance)
    state = ck.shards[0]
    for size in SIZES:  # every window of the first batch left memory
        key = (TENANT, size, (t + 5 * MINUTE_MS) // size.ms * size.ms)
        assert key not in state.windows and state.needs_load(key)

    late = [
        tp("tp-late", t + 7 * MINUTE_MS, "i3", "voice", "t2", first_contact=True, resolved=False),
        answer("sr-late", t + 8 * MINUTE_MS, "i1", nps=0, csat=5),  # attributed to tp-1 (cache)
        answer("sr-late3", t + 9 * MINUTE_MS, "i3", nps=7),
    ]
    r = await commit(ck, late)
    assert (r.applied, r.duplicates) == (3, 0)
    committed = [*first, *advance, *late]
    await assert_stored_matches(wh, committed)
    hour_s = t // 1000
    assert (await stored(wh, WindowSize.hour, ()))[(hour_s, ())] == KpiCounts(
        touchpoints=3, tp_first_contact=2, tp_first_contact_resolved=1, responses=3, nps_n=3, promoters=1,
        passives=1, detractors=1, csat_n=1, csat_sum=5, csat_top2=1, answers_positive=1,
        answers_negative=1) + outcomes(3)  # sr-1 positive, sr-late negative (nps 0 beats csat 5), sr-late3 neither
    assert (await stored(wh, WindowSize.hour, ("channel",)))[(hour_s, ("voice",))] == KpiCounts(
        touchpoints=2, tp_first_contact=2, tp_first_contact_resolved=1, responses=3, nps_n=3, promoters=1,
        passives=1, detractors=1, csat_n=1, csat_sum=5, csat_top2=1, answers_positive=1,
        answers_negative=1) + outcomes(2)
    # Evicted again afterwards, and a second late event loads the corrected window.
    assert (TENANT, WindowSize.hour, t) not in state.windows
    late2 = [tp("tp-late2", t + 50 * MINUTE_MS, "i4", "chat", "t1")]
    await commit(ck, late2)
    await assert_stored_matches(wh, [*committed, *late2])
    # A restarted worker (restore range far from the old window) corrects it the same way.
    late3 = [answer("sr-late4", t + 51 * MINUTE_MS, "i4", csat=1)]
    await commit(checkpointer(wh), late3)
    await assert_stored_matches(wh, [*committed, *late2, *late3])


async def test_restart_rebuilds_open_windows_without_loss_or_double_counting(wh: Warehouse) -> None:
    t = T0 + 14 * HOUR_MS
    batches = [
        [tp("a1", t, "ia", "voice", "t1", first_contact=True, resolved=True, shard=0),
         tp("b1", t + 500, "ib", "chat", "t2", shard=1)],
        [answer("a1-sr", t + 20_000, "ia", nps=9, shard=0), answer("c1-sr", t + 30_000, "ic", nps=1, shard=1),
         invitation("b1-inv", t + 40_000, "ib", shard=1)],
        [tp("a2", t + 70_000, "ia2", "voice", "t2", shard=0), answer("a2-sr", t + 80_000, "ia2", csat=3, shard=0)],
    ]
    ck1 = checkpointer(wh)
    for b in batches:
        await commit(ck1, b)
    committed = [r for b in batches for r in b]
    await assert_stored_matches(wh, committed)

    ck2 = checkpointer(wh)
    more = [
        tp("a3", t + 90_000, "ia3", "voice", "t1", shard=0),  # same minute, hour and day windows
        tp("c1", t + 100_000, "ic", "email", "t3", shard=1),  # releases c1-sr, waiting since ck1
        answer("b1-sr", t + 110_000, "ib", nps=10, overrides={"team": "t7"}, shard=1),
        resend(batches[1][0]),  # a replayed answer
    ]
    r = await commit(ck2, more)
    assert (r.applied, r.duplicates, r.reattributed) == (3, 1, 1)
    committed += more[:3]
    await assert_stored_matches(wh, committed)
    minute_s = (t + 90_000) // MINUTE_MS * MINUTE_MS // 1000
    # Minute 01:00-02:00 after t: a2 and a2-sr (ck1), then a3, c1 and b1-sr (ck2).
    assert (await stored(wh, WindowSize.minute, ()))[(minute_s, ())] == KpiCounts(
        touchpoints=3, responses=2, nps_n=1, promoters=1, csat_n=1, csat_sum=3, answers_positive=1) + outcomes(3)
    # A third instance restored from the ledger alone writes nothing different.
    ck3 = checkpointer(wh)
    await commit(ck3, [tp("a4", t + 115_000, "ia4", "chat", "t1", shard=0)])
    await assert_stored_matches(wh, [*committed, tp("a4", t + 115_000, "ia4", "chat", "t1")])


@pytest.mark.parametrize("restart", [False, True], ids=["same-worker", "restarted-worker"])
async def test_touchpoint_releases_an_answer_whose_window_was_evicted(wh: Warehouse, restart: bool) -> None:
    t = T0 + 3 * HOUR_MS
    ans = answer("sr-old", t + 5 * MINUTE_MS, "iold", nps=10, csat=5)
    ck = checkpointer(wh)
    await commit(ck, [ans])
    advance = [tp("tp-far", t + 2 * DAY_MS, "ifar", "chat", "t1")]
    await commit(ck, advance)
    if restart:
        ck = checkpointer(wh)  # the answer waits in the ledger, older than the restored range
    touch = tp("tp-old", t + 2 * DAY_MS + MINUTE_MS, "iold", "voice", "t2")  # on time; the answer is not
    r = await commit(ck, [touch])
    assert (r.applied, r.reattributed) == (1, 1)
    await assert_stored_matches(wh, [ans, *advance, touch])
    assert (await stored(wh, WindowSize.hour, ("channel",)))[(t // 1000, ("voice",))] == KpiCounts(
        responses=1, nps_n=1, promoters=1, csat_n=1, csat_sum=5, csat_top2=1, answers_positive=1)
    assert ledger_row(wh, Table.survey_responses, "sr-old", "attributed, channel, team") == (True, "voice", "t2")


class SimulatedCrash(Exception):
    """Not a WarehouseError: the writer does not retry it, the commit dies like the process would."""


async def crash_then_redeliver(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, ck: Checkpointer, batch: list[dict], crash_at: str,
    ledger_tables: set[str],
) -> tuple[Checkpointer, BatchResult]:
    """Commit ``batch`` on ``ck`` and crash at the insert ``crash_at`` names (``kpi_windows``, or the
    first/second insert into one of ``ledger_tables``); then commit it again on a fresh checkpointer
    (the process restarted; Kafka redelivers the unacked batch): that checkpointer and its result."""
    real_insert = wh.araw_insert
    calls: list[str] = []

    async def crashing_insert(table, column_names, body, fmt="JSONEachRow"):
        calls.append(table)
        ledger_calls = [c for c in calls if c in ledger_tables]
        if (crash_at == "kpi_windows" and table == "kpi_windows"
                or crash_at == "first-ledger-table" and table in ledger_tables and len(ledger_calls) == 1
                or crash_at == "second-ledger-table" and table in ledger_tables and len(ledger_calls) == 2):
            raise SimulatedCrash(table)
        await real_insert(table, column_names, body, fmt)

    monkeypatch.setattr(wh, "araw_insert", crashing_insert)
    with pytest.raises(SimulatedCrash):
        await commit(ck, batch)
    monkeypatch.undo()
    fresh = checkpointer(wh)
    return fresh, await commit(fresh, batch)


@pytest.mark.parametrize("crash_at", ["kpi_windows", "first-ledger-table", "second-ledger-table"])
@pytest.mark.parametrize("when", ["open", "late"])
async def test_crash_during_the_writes_then_replay_on_a_fresh_worker(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, crash_at: str, when: str,
) -> None:
    t = T0 + 6 * HOUR_MS
    setup = [
        tp("s-tp", t, "is", "voice", "t1", first_contact=True, resolved=True),
        answer("s-early", t + 30_000, "ix", nps=6),  # waits for tp-x, which comes in the crashing batch
    ]
    ck = checkpointer(wh)
    await commit(ck, setup)
    committed = list(setup)
    if when == "late":
        advance = [tp("s-far", t + 3 * DAY_MS, "ifar", "chat", "t2")]
        await commit(ck, advance)
        committed += advance
    batch = [
        tp("tp-x", t + 60_000, "ix", "chat", "t2", first_contact=True, resolved=False),
        answer("sr-s", t + 70_000, "is", nps=10, csat=4),
        invitation("inv-x", t + 80_000, "ix"),
        tp("tp-y", t + 90_000, "iy", "email", "t1"),
    ]

    ledger_tables = {t.value for t in (Table.touchpoints, Table.survey_responses, Table.survey_invitations)}
    fresh, r = await crash_then_redeliver(wh, monkeypatch, ck, batch, crash_at, ledger_tables)
    assert r.applied + r.duplicates == len(batch)
    committed += batch
    await assert_stored_matches(wh, committed)
    for table, n in ((Table.touchpoints, 3 + (when == "late")), (Table.survey_responses, 2),
                     (Table.survey_invitations, 1)):
        assert wh.query(f"SELECT count() FROM {table.value} FINAL").result_rows == [(n,)]
    assert ledger_row(wh, Table.survey_responses, "s-early", "attributed, channel") == (True, "chat")
    # And the next batch on the fresh worker keeps counting exactly.
    nxt = [answer("sr-y", t + 100_000, "iy", nps=2)]
    await commit(fresh, nxt)
    await assert_stored_matches(wh, [*committed, *nxt])


async def test_shards_contributing_to_one_window_are_summed(wh: Warehouse) -> None:
    t = T0 + 12 * HOUR_MS
    batch = [
        tp("p0", t + 1000, "i0", "voice", "t1", first_contact=True, resolved=True, shard=0),
        answer("p0-sr", t + 2000, "i0", nps=10, shard=0),
        tp("p1", t + 3000, "i1", "voice", "t1", first_contact=True, resolved=False, shard=1),
        answer("p1-sr", t + 4000, "i1", nps=5, csat=3, shard=1),
        tp("p2", t + 5000, "i2", "voice", "t2", shard=2),
        invitation("p2-inv", t + 6000, "i2", shard=2),
    ]
    ck = checkpointer(wh)
    await commit(ck, batch[:2])
    await commit(ck, batch[2:])
    hour_s = t // 1000
    assert (await stored(wh, WindowSize.hour, ("channel",)))[(hour_s, ("voice",))] == KpiCounts(
        touchpoints=3, tp_first_contact=2, tp_first_contact_resolved=1, invitations=1, responses=2, nps_n=2,
        promoters=1, detractors=1, csat_n=1, csat_sum=3, answers_positive=1, answers_negative=1) + outcomes(3)
    # One row per shard underneath.
    rows = wh.query(
        "SELECT shard, touchpoints FROM kpi_windows FINAL WHERE size = '1h' AND view = 'channel' "
        "AND channel = 'voice' ORDER BY shard").result_rows
    assert [tuple(r) for r in rows] == [(0, 1), (1, 1), (2, 1)]
    # A restart of one shard rewrites only its own rows; the sum stays exact.
    ck2 = checkpointer(wh)
    more = [tp("p1b", t + 7000, "i1b", "voice", "t1", shard=1)]
    await commit(ck2, more)
    await assert_stored_matches(wh, [*batch, *more])
    filtered = await queries.read_windows(wh, TENANT, "1h", ("channel", "team"), (), {"team": "t1"},
                                          hour_s, hour_s + 3600)
    assert [(r.window_start, r.counts.touchpoints, r.counts.responses) for r in filtered] == [(hour_s, 3, 2)]


# -- response rate: the invitation / answer join ------------------------------------------
async def response_rate_cells(wh: Warehouse, size: WindowSize) -> dict:
    return {k: (c.invitations, c.invitations_answered, c.responses) for k, c in (await stored(wh, size, ())).items()}


@pytest.mark.parametrize("restart", [False, True], ids=["same-worker", "restarted-worker"])
async def test_invitations_answered_whatever_the_arrival_order(wh: Warehouse, restart: bool) -> None:
    t = T0 + 9 * HOUR_MS
    ck = checkpointer(wh)
    await commit(ck, [
        answer("a-1", t + 10 * MINUTE_MS, "i1", nps=9),  # before its invitation
        answer("ivr-1", t + 11 * MINUTE_MS, "", nps=3),  # no interaction: answers no invitation
        answer("app-1", t + 12 * MINUTE_MS, "i-app", csat=5),  # an interaction never invited
        invitation("inv-2", t + 13 * MINUTE_MS, "i2"),  # answered days later, after its touchpoint-less wait
        invitation("inv-0", t + 14 * MINUTE_MS, ""),  # cannot be answered
        invitation("inv-3", t + 15 * MINUTE_MS, "i3"),  # never answered
    ])
    r = await commit(ck, [invitation("inv-1", t + 5 * MINUTE_MS, "i1")])  # after its answer, earlier event time
    assert r.invitations_answered == 0
    hour_s = t // 1000
    assert (await response_rate_cells(wh, WindowSize.hour))[(hour_s, ())] == (4, 1, 3)

    await commit(ck, [tp("tp-far", t + 3 * DAY_MS, "ifar", "chat")])  # the 09:00 windows leave memory
    if restart:
        ck = checkpointer(wh)
    later = [
        answer("a-2", t + 3 * DAY_MS + MINUTE_MS, "i2", nps=10),  # first answer: inv-2 (evicted window) answered
        answer("a-2b", t + 3 * DAY_MS + 2 * MINUTE_MS, "i2", csat=4),  # same batch, second answer: no more
        answer("a-1b", t + 3 * DAY_MS + 3 * MINUTE_MS, "i1", csat=2),  # i1 was answered already
        answer("app-2", t + 3 * DAY_MS + 4 * MINUTE_MS, "i-app", nps=0),
    ]
    r = await commit(ck, later)
    assert (r.applied, r.invitations_answered) == (4, 1)
    cells = await response_rate_cells(wh, WindowSize.hour)
    assert cells[(hour_s, ())] == (4, 2, 3)  # inv-1, inv-2 answered; inv-0, inv-3 not
    assert cells[((t + 3 * DAY_MS) // HOUR_MS * HOUR_MS // 1000, ())] == (0, 0, 4)  # 4 answers, no invitation
    # The answered invitation keeps its flag when its touchpoint arrives and moves it.
    touch = tp("tp-2", t + 3 * DAY_MS + 5 * MINUTE_MS, "i2", "voice", "t1")
    r = await commit(ck, [touch])
    assert r.reattributed == 3  # inv-2, a-2, a-2b
    by_channel = await stored(wh, WindowSize.hour, ("channel",))
    voice, unknown = by_channel[(hour_s, ("voice",))], by_channel[(hour_s, ("",))]
    assert (voice.invitations, voice.invitations_answered) == (1, 1)
    assert (unknown.invitations, unknown.invitations_answered) == (3, 1)
    committed = [
        answer("a-1", t + 10 * MINUTE_MS, "i1", nps=9), answer("ivr-1", t + 11 * MINUTE_MS, "", nps=3),
        answer("app-1", t + 12 * MINUTE_MS, "i-app", csat=5), invitation("inv-2", t + 13 * MINUTE_MS, "i2"),
        invitation("inv-0", t + 14 * MINUTE_MS, ""), invitation("inv-3", t + 15 * MINUTE_MS, "i3"),
        invitation("inv-1", t + 5 * MINUTE_MS, "i1"), tp("tp-far", t + 3 * DAY_MS, "ifar", "chat"), *later, touch,
    ]
    await assert_stored_matches(wh, committed)
    # A third worker restored from the ledger alone agrees (and a replay changes nothing).
    ck3 = checkpointer(wh)
    r = await commit(ck3, [resend(later[0]), invitation("inv-4", t + 3 * DAY_MS + 6 * MINUTE_MS, "i2")])
    assert (r.applied, r.duplicates, r.invitations_answered) == (1, 1, 0)
    await assert_stored_matches(wh, [*committed, invitation("inv-4", t + 3 * DAY_MS + 6 * MINUTE_MS, "i2")])
    day = await stored(wh, WindowSize.day, ())
    rate = measure(Metric.response_rate, day[(t // DAY_MS * DAY_MS // 1000, ())])
    assert (rate.n, rate.value) == (4, 50.0) and rate.counts["responses"] == 3


@pytest.mark.parametrize("crash_at", ["kpi_windows", "first-ledger-table", "second-ledger-table"])
async def test_crash_while_answering_invitations_then_replay(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, crash_at: str,
) -> None:
    t = T0 + 7 * HOUR_MS
    setup = [invitation("c-inv-1", t, "c1"), answer("c-a-2", t + 1000, "c2", nps=8)]
    ck = checkpointer(wh)
    await commit(ck, setup)
    await commit(ck, [tp("c-far", t + 2 * DAY_MS, "cfar", "chat")])  # the stored invitation's window is evicted
    batch = [
        answer("c-a-1", t + 2 * DAY_MS + 1000, "c1", csat=5),  # first answer of a stored invitation
        invitation("c-inv-2", t + 2 * DAY_MS + 2000, "c2"),  # its answer is stored already
        invitation("c-inv-3", t + 2 * DAY_MS + 3000, "c3"), answer("c-a-3", t + 2 * DAY_MS + 4000, "c3", nps=1),
        answer("c-ivr", t + 2 * DAY_MS + 5000, "", nps=10),
    ]
    ledger_tables = {Table.survey_responses.value, Table.survey_invitations.value}
    fresh, r = await crash_then_redeliver(wh, monkeypatch, ck, batch, crash_at, ledger_tables)
    assert r.applied + r.duplicates == len(batch)
    committed = [*setup, tp("c-far", t + 2 * DAY_MS, "cfar", "chat"), *batch]
    await assert_stored_matches(wh, committed)
    day0, day2 = t // DAY_MS * DAY_MS // 1000, (t + 2 * DAY_MS) // DAY_MS * DAY_MS // 1000
    cells = await response_rate_cells(wh, WindowSize.day)
    assert (cells[(day0, ())], cells[(day2, ())]) == ((1, 1, 1), (2, 2, 3))


@st.composite
def _arrivals(draw) -> list[list[dict]]:
    """Invitations, answers (invited, uninvited, without interaction) and some touchpoints of a few
    interactions, over four days, delivered in any order and any batching."""
    t = T0 + 8 * HOUR_MS
    records: list[dict] = []
    for i in range(draw(st.integers(1, 6))):
        iid = f"h{i}" if draw(st.booleans()) or i else ""
        for j in range(draw(st.integers(0, 2))):
            records.append(invitation(f"hinv-{i}-{j}", t + draw(st.integers(0, 4 * DAY_MS)), iid))
        for j in range(draw(st.integers(0, 2))):
            at = t + draw(st.integers(0, 4 * DAY_MS))
            records.append(answer(f"hsr-{i}-{j}", at, iid, nps=draw(st.integers(0, 10))))
        if iid and draw(st.booleans()):
            at = t + draw(st.integers(0, 4 * DAY_MS))
            records.append(tp(f"htp-{i}", at, iid, draw(st.sampled_from(["chat", "voice"]))))
    order = draw(st.permutations(records))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if b > a]
    return batches


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_arrivals(), restart_after=st.integers(0, 4))
async def test_response_rate_is_a_proportion_for_any_arrival_order(chdb_dsn: str, batches, restart_after) -> None:
    with migrated_warehouse(chdb_dsn, "ckh") as wh:
        ck = checkpointer(wh)
        committed: list[dict] = []
        for i, batch in enumerate(batches):
            if i == restart_after:
                ck = checkpointer(wh)  # a restart between batches rebuilds from the ledger
            await commit(ck, batch)
            committed += batch
        await commit(ck, [resend(r) for r in committed])  # a full replay changes nothing
        for size in (WindowSize.hour, WindowSize.day):
            for view in ((), ("channel",)):
                cells = await stored(wh, size, view)
                assert cells == naive(committed, size.ms, view), (size, view)
                for c in cells.values():
                    assert 0 <= c.invitations_answered <= c.invitations
                    v = measure(Metric.response_rate, c)
                    assert v.value is None or 0.0 <= v.value <= 100.0
