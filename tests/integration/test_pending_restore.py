"""Answers waiting for their touchpoint across a restart: a restarted worker attributes exactly as one
that never stopped, however long the answer waits (``warehouse.pending_queries``), and the bound on
what waits (``stream.pending_attribution_max``) settles the same answers in both."""
from __future__ import annotations

import pytest

import tests.integration.test_checkpoint as ck
from core import metrics
from core.windows import DAY_MS, MINUTE_MS
from stream_processors.checkpoint import Checkpointer
from warehouse.client import Warehouse
from warehouse.tables import Table
from tests.conftest import migrated_warehouse

pytestmark = pytest.mark.integration

T = ck.T0 - 5 * DAY_MS  # stored() reads T0 - 7 d .. T0 + 30 d


@pytest.fixture
def pair(chdb_dsn: str):
    """Two warehouses: one for a worker that restarts, one for a worker that never stops."""
    with migrated_warehouse(chdb_dsn, "pa") as a, migrated_warehouse(chdb_dsn, "pb") as b:
        yield a, b


def ledger(wh: Warehouse) -> dict:
    rows = wh.query(f"SELECT event_id, attributed, channel, team FROM {Table.survey_responses.value} FINAL "
                    f"UNION ALL SELECT event_id, attributed, channel, team FROM {Table.survey_invitations.value} "
                    "FINAL").result_rows
    return {r[0]: tuple(r[1:]) for r in rows}


async def all_stored(wh: Warehouse) -> dict:
    return {(size, view): await ck.stored(wh, size, view) for size in ck.SIZES for view in ck.VIEWS}


def settled_total() -> float:
    return metrics.PENDING_SETTLED._value.get()


async def test_an_answer_waiting_over_30_days_is_attributed_after_a_restart_as_without(pair) -> None:
    wh_a, wh_b = pair
    ans = ck.answer("sr-w", T, "iw", nps=10)
    inv = ck.invitation("inv-w", T + 1000, "iw")
    first = [ans, inv, ck.tp("tp-o", T, "io", "chat")]
    later = [ck.tp("tp-late", T + 34 * DAY_MS, "ix", "chat")]  # the watermark moves 34 days on
    touch = [ck.tp("tp-w", T - MINUTE_MS, "iw", "voice", "t2")]  # history posted out of order
    never_stopped = ck.checkpointer(wh_b)
    for batch in (first, later):
        await ck.commit(ck.checkpointer(wh_a), batch)  # a restart before each batch
        await ck.commit(never_stopped, batch)

    restarted = ck.checkpointer(wh_a)
    r_a = await ck.commit(restarted, touch)
    r_b = await ck.commit(never_stopped, touch)
    assert r_a.reattributed == r_b.reattributed == 2  # the answer and its invitation, 34 days apart
    assert ledger(wh_a) == ledger(wh_b) == {"sr-w": (True, "voice", "t2"), "inv-w": (True, "voice", "t2")}
    assert await all_stored(wh_a) == await all_stored(wh_b)
    await ck.assert_stored_matches(wh_a, [*first, *later, *touch])
    assert restarted.shards[0].pending == never_stopped.shards[0].pending == {}


async def test_the_bound_settles_the_oldest_in_a_running_and_a_restored_worker_alike(pair) -> None:
    wh_a, wh_b = pair
    waiting = [ck.answer(f"sr-{i}", T + i * 1000, f"i{i}", nps=9) for i in range(3)]
    touches = [ck.tp(f"tp-{i}", T + 10 * MINUTE_MS, f"i{i}", "voice") for i in range(2)]
    before = settled_total()
    await ck.commit(ck.checkpointer(wh_a, pending_max=2), waiting)
    never_stopped = ck.checkpointer(wh_b, pending_max=2)
    await ck.commit(never_stopped, waiting)
    assert settled_total() - before == 2  # sr-0 in each worker: the oldest of three, the bound two
    assert ledger(wh_a)["sr-0"] == (True, "", "")  # settled: counted under its own dimensions

    restarted = ck.checkpointer(wh_a, pending_max=2)
    r_a = await ck.commit(restarted, touches)
    r_b = await ck.commit(never_stopped, touches)
    assert r_a.reattributed == r_b.reattributed == 1  # sr-1; sr-0 stays where it was
    assert ledger(wh_a) == ledger(wh_b) == {
        "sr-0": (True, "", ""), "sr-1": (True, "voice", ""), "sr-2": (False, "", "")}
    assert await all_stored(wh_a) == await all_stored(wh_b)
    assert {k: [r["id"] for r in v] for k, v in restarted.shards[0].pending.items()} == {
        (ck.TENANT, "i2"): ["sr-2"]} == {k: [r["id"] for r in v] for k, v in never_stopped.shards[0].pending.items()}


async def test_a_restore_over_the_bound_settles_the_older_ones_in_the_ledger(pair) -> None:
    """A lowered bound (or a ledger from before it): the restore keeps the newest, settles the rest where
    they are stored, and then agrees with a worker that ran under that bound from the start."""
    wh_a, wh_b = pair
    waiting = [ck.answer(f"sr-{i}", T + i * 1000, f"i{i}", csat=5) for i in range(3)]
    touches = [ck.tp(f"tp-{i}", T + 10 * MINUTE_MS, f"i{i}", "chat") for i in range(3)]
    await ck.commit(ck.checkpointer(wh_a, pending_max=10), waiting)
    never_stopped = ck.checkpointer(wh_b, pending_max=1)
    await ck.commit(never_stopped, waiting)
    assert [v for v in ledger(wh_a).values()] == [(False, "", "")] * 3

    before = settled_total()
    restarted = ck.checkpointer(wh_a, pending_max=1)
    r_a = await ck.commit(restarted, touches)
    assert settled_total() - before == 2  # sr-0 and sr-1, in the restore
    r_b = await ck.commit(never_stopped, touches)
    assert r_a.reattributed == r_b.reattributed == 1  # sr-2 only
    assert ledger(wh_a) == ledger(wh_b) == {
        "sr-0": (True, "", ""), "sr-1": (True, "", ""), "sr-2": (True, "chat", "")}
    assert await all_stored(wh_a) == await all_stored(wh_b)
    # Every other ledger column of a settled row is unchanged.
    assert ck.ledger_row(wh_a, Table.survey_responses, "sr-0", "subject, customer, csat, comment, time_ms") == (
        "subj-sr-0", "cust-i0", 5, "c-sr-0", T)


async def test_a_restore_reads_the_waiting_records_in_one_query_per_table(pair, monkeypatch) -> None:
    wh_a, _ = pair
    await ck.commit(ck.checkpointer(wh_a), [ck.answer("sr-q", T, "iq", nps=1), ck.invitation("inv-q", T, "iq"),
                                            ck.tp("tp-q", T + 60 * DAY_MS, "iz", "chat")])
    seen: list[str] = []
    query = wh_a.aquery

    async def counting(sql: str, parameters=None):
        if "NOT attributed" in sql:
            seen.append(sql)
        return await query(sql, parameters)

    monkeypatch.setattr(wh_a, "aquery", counting)
    state = await Checkpointer(warehouse=wh_a, views=list(ck.VIEWS), sizes=list(ck.SIZES),
                               grace_ms=ck.GRACE_MS).restored(0)
    assert len(seen) == 2  # survey_responses and survey_invitations
    assert sorted(r["id"] for rs in state.pending.values() for r in rs) == ["inv-q", "sr-q"]
