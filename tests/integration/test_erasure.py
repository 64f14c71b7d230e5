"""Erasure by the shard owner (``stream_processors.erasure.erase_shard``) on a real chDB.

Windows are compared, for every size and view, with ``naive`` counts (tests/integration/
test_checkpoint.py) of the records that remain: open and closed windows, answers waiting for their
touchpoint, another customer's invitation answered only by the erased answer, a crash between the
window write and the ledger delete, a redelivered command, erased events delivered again (ledger
dedup and case opener), and events committed afterwards.
"""
from __future__ import annotations

import pytest

from notifications.erasure import ErasureCommand
from stream_processors.case_agent import CaseOpener
from stream_processors.erasure import erase_shard
from stream_processors.outcome_ledger import OutcomeLedger
from warehouse.audit_queries import audit_entries
from warehouse import erasure_queries as eq
from warehouse.case_queries import list_cases
from warehouse.tables import event_key
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS
from tests.integration.test_checkpoint import (
    TENANT, T0, answer, assert_stored_matches, checkpointer, commit, invitation, signal, tp,
)
from tests.conftest import migrated_warehouse
from tests.integration.test_case_agent import SOURCE, response

pytestmark = pytest.mark.integration

ALICE, BOB = "pseudo-alice", "pseudo-bob"


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "er") as warehouse:
        yield warehouse


def of(customer: str, rec: dict) -> dict:
    return rec | {"customer": customer}


def dataset() -> list[dict]:
    """Two customers over two days on two shards; alice's answer also answers bob's invitation (i3)."""
    out = []
    for day in (0, 1):
        t = T0 + day * DAY_MS + 9 * HOUR_MS
        for shard in (0, 1):
            s = f"d{day}s{shard}"
            out += [
                of(ALICE, tp(f"tp-a-{s}", t, f"ia-{s}", "voice", "t1", first_contact=True, resolved=True, shard=shard)),
                of(ALICE, invitation(f"inv-a-{s}", t + MINUTE_MS, f"ia-{s}", shard=shard)),
                of(ALICE, answer(f"sr-a-{s}", t + 5 * MINUTE_MS, f"ia-{s}", nps=2, csat=1, shard=shard)),
                of(BOB, tp(f"tp-b-{s}", t + 2 * MINUTE_MS, f"ib-{s}", "chat", "t1", first_contact=True, shard=shard)),
                of(BOB, invitation(f"inv-b-{s}", t + 3 * MINUTE_MS, f"ib-{s}", shard=shard)),
                of(BOB, answer(f"sr-b-{s}", t + 6 * MINUTE_MS, f"ib-{s}", nps=10, csat=5, shard=shard)),
                # bob was invited about i3; only alice answered it
                of(BOB, tp(f"tp-b3-{s}", t + 7 * MINUTE_MS, f"i3-{s}", "chat", "t2", shard=shard)),
                of(BOB, invitation(f"inv-b3-{s}", t + 8 * MINUTE_MS, f"i3-{s}", shard=shard)),
                of(ALICE, answer(f"sr-a3-{s}", t + 9 * MINUTE_MS, f"i3-{s}", nps=8, shard=shard)),
                # signals: alice's review (her pseudonym, as ingest sets it) and bob's like
                of(ALICE, signal(f"sig-a-{s}", t + 10 * MINUTE_MS, "social", rating=1, shard=shard)),
                of(BOB, signal(f"sig-b-{s}", t + 11 * MINUTE_MS, "social", kind="like", shard=shard)),
            ]
    # alice answered about an interaction whose touchpoint has not arrived (waiting in memory)
    out.append(of(ALICE, answer("sr-a-wait", T0 + DAY_MS + 10 * HOUR_MS, "i-late", nps=9, shard=0)))
    return out


def outcomes() -> list[dict]:
    """Business outcomes: alice 1 on shard 0 and 2 on shard 1, bob 1 on each (they count in no window)."""
    def one(customer: str, eid: str, shard: int) -> dict:
        return {"tenant": TENANT, "id": eid, "source": "/crm", "type": "cx.outcome.v1", "time_ms": T0 + DAY_MS,
                "subject": None, "interaction_id": "", "customer": customer, "dims": {}, "attributes": {},
                "kind": "churn", "amount": "12.5", "currency": "EUR", "account": "", "product": None,
                "_shard": shard, "_offset": 0}
    return [one(ALICE, "o-a0", 0), one(ALICE, "o-a1", 1), one(ALICE, "o-a2", 1), one(BOB, "o-b0", 0),
            one(BOB, "o-b1", 1)]


def outcome_count(wh, customer: str) -> int:
    return wh.query("SELECT count() FROM outcomes WHERE customer = {c:String}", {"c": customer}).result_rows[0][0]


def command(erasure_id: str = "er-1") -> ErasureCommand:
    return ErasureCommand(tenant=TENANT, erasure_id=erasure_id, customer=ALICE, requested_at_ms=T0 + 5 * DAY_MS,
                          actor="settings:abc", shards=2)


async def cases_part(wh, erasure_id: str = "er-1") -> None:
    """What the API writes before it broadcasts the command (no case here)."""
    await eq.record_part(wh, eq.ErasurePart(tenant=TENANT, erasure_id=erasure_id, part=eq.CASES_PART, shards=2,
                                            state="done", requested_at_ms=T0 + 5 * DAY_MS, actor="settings:abc",
                                            counts={"case_events": 0, "case_links": 0, "cases": 0}))


def ledger_count(wh, customer: str) -> int:
    return sum(wh.query(f"SELECT count() FROM {t} WHERE customer = {{c:String}}", {"c": customer}).result_rows[0][0]
               for t in ("touchpoints", "survey_responses", "survey_invitations", "signals"))


def remaining(records: list[dict]) -> list[dict]:
    return [r for r in records if r["customer"] != ALICE]


# alice per shard: 2 days x (1 touchpoint, 1 invitation, 2 answers, 1 signal); shard 0 also holds the waiting answer
WANT_SHARD0 = {"signals": 2, "survey_invitations": 2, "survey_responses": 5, "touchpoints": 2, "outcomes": 1}
WANT_SHARD1 = {"signals": 2, "survey_invitations": 2, "survey_responses": 4, "touchpoints": 2, "outcomes": 2}


async def test_erasure_retracts_open_and_closed_windows_and_deletes_the_ledger_rows(wh):
    ck = checkpointer(wh)
    records = dataset()
    await commit(ck, records)
    await OutcomeLedger(wh).commit(outcomes())
    await assert_stored_matches(wh, records)
    assert ck.shards[0].pending  # alice's answer waits for its touchpoint
    assert ledger_count(wh, ALICE) == 21
    await cases_part(wh)

    assert await erase_shard(ck, command(), 0) == WANT_SHARD0
    assert await audit_entries(wh, TENANT, action="erasure.run") == []  # shard 1 has not reported
    assert await erase_shard(ck, command(), 1) == WANT_SHARD1

    await assert_stored_matches(wh, remaining(records))
    assert ledger_count(wh, ALICE) == 0
    assert ledger_count(wh, BOB) == 24  # 2 days x 2 shards x 6 events, untouched
    assert (outcome_count(wh, ALICE), outcome_count(wh, BOB)) == (0, 2)
    assert not ck.shards[0].pending
    (entry,) = await audit_entries(wh, TENANT, action="erasure.run")
    assert (entry.target, entry.actor, entry.details) == ("er-1", "settings:abc", {
        "case_events": 0, "case_links": 0, "cases": 0, "signals": 4,
        "survey_invitations": 4, "survey_responses": 9, "touchpoints": 4, "outcomes": 3})
    assert "pseudo-alice" not in str(entry)

    # A redelivered command changes nothing and reports the same counts; so does a second erasure.
    assert await erase_shard(ck, command(), 0) == WANT_SHARD0
    await cases_part(wh, "er-2")
    assert await erase_shard(ck, command("er-2"), 0) == {"signals": 0, "survey_invitations": 0, "survey_responses": 0,
                                                         "touchpoints": 0, "outcomes": 0}
    await assert_stored_matches(wh, remaining(records))
    assert len(await audit_entries(wh, TENANT, action="erasure.run")) == 1  # er-2 waits for shard 1

    # Alice's events delivered again (a replay from before the last offset commit) are skipped.
    replayed = [r for r in records if r["customer"] == ALICE]
    result = await commit(ck, replayed)
    assert (result.duplicates, result.applied) == (len(replayed), 0)
    assert await OutcomeLedger(wh).commit([o for o in outcomes() if o["customer"] == ALICE]) == 0
    assert outcome_count(wh, ALICE) == 0
    await assert_stored_matches(wh, remaining(records))
    assert ledger_count(wh, ALICE) == 0

    # Later events count as usual; the forgotten waiting answer is not re-attributed by its touchpoint.
    later = [of(BOB, tp("tp-late", T0 + DAY_MS + 10 * HOUR_MS + MINUTE_MS, "i-late", "voice", "t2", shard=0)),
             of(BOB, answer("sr-b-late", T0 + 9 * HOUR_MS + 30 * MINUTE_MS, "ib-d0s0", csat=3, shard=0))]
    await commit(ck, later)
    await assert_stored_matches(wh, remaining(records) + later)


async def test_a_crash_between_the_windows_and_the_ledger_delete_is_redone_after_the_restart(wh, monkeypatch):
    records = dataset()
    await commit(checkpointer(wh), records)
    await OutcomeLedger(wh).commit(outcomes())
    await cases_part(wh)
    ck = checkpointer(wh)
    await commit(ck, [])  # a worker that restored nothing yet

    async def crash(*_a, **_k):
        raise RuntimeError("killed")

    monkeypatch.setattr("stream_processors.erasure.delete_customer_events", crash)
    with pytest.raises(RuntimeError):
        await erase_shard(ck, command(), 0)
    assert ledger_count(wh, ALICE) == 21  # windows were written, the ledger still holds alice
    monkeypatch.undo()

    restarted = checkpointer(wh)  # the process exited: state is rebuilt from the ledger
    assert await erase_shard(restarted, command(), 0) == WANT_SHARD0  # the counts reported before the crash
    assert await erase_shard(restarted, command(), 1) == WANT_SHARD1
    await assert_stored_matches(wh, remaining(records))
    assert ledger_count(wh, ALICE) == 0
    (entry,) = await audit_entries(wh, TENANT, action="erasure.run")
    assert entry.details["survey_responses"] == 9



async def test_the_case_opener_does_not_reopen_an_erased_customers_case_on_a_replay(settings, warehouse):
    sent: list = []

    async def publish(messages) -> None:
        sent.extend(messages)

    opener = CaseOpener(settings, warehouse, publish, clock=lambda: T0)
    batch = [response("r-alice", ALICE, nps=1), response("r-bob", BOB, nps=2)]
    assert [kind for kind, _ in await opener.handle(batch)] == ["opened", "opened"]
    assert await eq.erase_customer_cases(warehouse, TENANT, ALICE) == {"case_events": 0, "case_links": 1, "cases": 1}
    await eq.record_erased(warehouse, "er-9", [(TENANT, event_key(TENANT, SOURCE, "r-alice"), SOURCE, "r-alice")])
    published = len(sent)
    assert await opener.handle(batch) == []  # bob's case is known, alice's response erased: nothing reopened
    assert len(sent) == published
    assert {c.customer for c in await list_cases(warehouse, TENANT)} == {BOB}
