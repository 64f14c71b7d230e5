"""The ``erasures`` agent: one customer's events leave a shard's windows and its ledger, by the shard's owner.

Window rows of shard *p* are written only by the worker that holds shard *p*'s state
(``Checkpointer``): were the API to delete ledger rows and rewrite ``kpi_windows`` itself, that
worker's next commit would write its in-memory counts back over the correction. So the API
broadcasts an ``ErasureCommand`` to every partition of the erasures topic (same partition count and
consumers as the typed topics, so Faust assigns partition *p* of it with shard *p*), and for its
partition the owner runs :func:`erase_shard` under the checkpointer's lock (no commit in between):

1. skip if this shard already reported the erasure done (a redelivered command);
2. read the customer's events of the shard from the ledger (latest version of each), and the
   identities of their business outcomes (``outcomes``: they count in no window, so step 3-5 skip them);
3. load from the ledger the closed windows they counted in that memory lacks (they still count
   them), mark their invitations answered as their cells count them, and find the other customers'
   invitations that only the erased answers answered;
4. retract every event (``sign=-1``, under the dimensions its cells count it), move those
   invitations back to unanswered, and forget the customer in the pending answers and the
   interaction and answered caches;
5. write the dirty window cells (as a commit does);
6. report the part ``deleting`` with its counts, remember the events' identities (``erased_events``:
   the ledger dedup and the case opener skip a replayed delivery of one), delete the events from the
   ledger, report ``done``;
   the last shard to report writes the audit entry (``erasure.run``, counts per table, never the
   customer; a fixed entry id and time, so two shards finishing together write it once).

Windows go before the ledger, as in a commit: a crash after 5 leaves the ledger holding the events,
the restarted worker rebuilds its state from it (the windows count them again) and the redelivered
command retracts them again. A crash after the delete finds no event left, and step 6 keeps the
counts reported in ``deleting``. Any failure stops the process (as ``kpi-windows`` does), so memory
never keeps a half-applied retraction.

Not covered: events of the customer not yet in the ledger when the command runs (still in Kafka or
the ingest log) are stored afterwards; run the erasure again once ingest of that customer stopped.
(Erased events delivered again — a replay after a crash from before the last offset commit, the
ingest log after a broker restart — are skipped: their identities are in ``erased_events``.)
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable

import faust

from notifications.erasure import ErasureCommand, decode_erasure
from schemas.records import ANSWERED, EVENT_KEY, EventType, Record, effective_dims
from stream_processors.aggregators import ShardState, is_touchpoint
from stream_processors.checkpoint import Checkpointer
from stream_processors.topics import Topics
from warehouse import queries
from warehouse.erasure_queries import (ErasurePart, audit_if_complete, customer_outcomes, delete_customer_events,
                                       erasure_parts, record_erased, record_part)
from warehouse.tables import TABLE_OF_TYPE, Table

__all__ = ["erase_shard", "erasure_counts", "register_erasure_agent"]

log = logging.getLogger(__name__)

_RESPONSE = EventType.survey_response.value
_INVITATION = EventType.survey_invitation.value


async def erase_shard(cp: Checkpointer, cmd: ErasureCommand, shard: int) -> dict[str, int]:
    """Erase the customer of ``cmd`` from ``shard`` (steps in the module docstring); its counts per table."""
    wh = cp.warehouse
    reported = {p.part: p for p in await erasure_parts(wh, cmd.tenant, cmd.erasure_id)}.get(shard)
    if reported is not None and reported.state == "done":  # 1
        return reported.counts
    async with cp.lock:
        state = await cp.restored(shard)
        records = await queries.customer_records(wh, shard, cmd.tenant, cmd.customer)  # 2
        outcomes = await customer_outcomes(wh, shard, cmd.tenant, cmd.customer)  # they count in no window
        counts = reported.counts if reported is not None else {**erasure_counts(records),
                                                               Table.outcomes.value: len(outcomes)}
        if records:
            await _retract(cp, state, cmd, records)  # 3, 4
            cp.add_dirty_windows()  # 5
            await cp.writer.flush()
            state.evict_closed()
        part = ErasurePart(tenant=cmd.tenant, erasure_id=cmd.erasure_id, part=shard, shards=cmd.shards,
                           state="deleting", requested_at_ms=cmd.requested_at_ms, actor=cmd.actor, counts=counts)
        await record_part(wh, part)  # 6
        await record_erased(wh, cmd.erasure_id,
                            [(r["tenant"], r[EVENT_KEY], r["source"], r["id"]) for r in records] + outcomes)
        await delete_customer_events(wh, shard, cmd.tenant, cmd.customer)
        await record_part(wh, ErasurePart(**{**part.__dict__, "state": "done"}))
    log.info("erasure %s: shard %d done (%s)", cmd.erasure_id, shard, counts)
    await audit_if_complete(wh, cmd.tenant, cmd.erasure_id)
    return counts


def erasure_counts(records: list[Record]) -> dict[str, int]:
    """Events per ledger table (every table named, zeros included)."""
    counts = {t.value: 0 for t in TABLE_OF_TYPE.values()}
    for rec in records:
        counts[TABLE_OF_TYPE[rec["type"]].value] += 1
    return counts


async def _retract(cp: Checkpointer, state: ShardState, cmd: ErasureCommand, records: list[Record]) -> None:
    tenant, erased = cmd.tenant, {r[EVENT_KEY] for r in records}
    answered_iids = {r["interaction_id"] for r in records if r["type"] == _RESPONSE and r.get("interaction_id")}
    # Other customers' invitations answered only by the erased answers become unanswered.
    still = await queries.answered_without(cp.warehouse, tenant, answered_iids, cmd.customer)
    orphans = [inv for inv in await queries.stored_invitations(
        cp.warehouse, state.shard, {(tenant, i) for i in answered_iids - still}) if inv[EVENT_KEY] not in erased]
    for inv in orphans:
        inv[ANSWERED] = True  # as their cells count them while the erased answers are stored
    await cp._mark_answered(state, records)  # 3: as the cells count them now
    await cp._load_closed_windows([*records, *orphans])
    for rec in records:  # 4
        state.stage(rec, effective_dims(rec), -1)
    for inv in orphans:
        state.stage(inv, effective_dims(inv), -1)
        inv[ANSWERED] = False
        state.stage(inv, effective_dims(inv), 1)
    for iid in answered_iids:
        state.answered.pop((tenant, iid), None)  # a miss asks the ledger again
    for key in [k for k in state.pending if k[0] == tenant]:
        kept = [w for w in state.pending[key] if w.get("customer") != cmd.customer]
        for w in kept:
            if w["type"] == _INVITATION and key[1] in answered_iids - still:
                w[ANSWERED] = False
        if kept:
            state.pending[key] = kept
        else:
            del state.pending[key]
    for rec in records:
        if is_touchpoint(rec) and rec.get("interaction_id"):
            state.interactions.pop((tenant, rec["interaction_id"]), None)


def register_erasure_agent(app: faust.App, topics: Topics, checkpointer: Checkpointer,
                           on_fatal: Callable[[int], Any] = os._exit) -> faust.types.AgentT:
    @app.agent(topics.erasures, name="erasures")
    async def erasures(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                cmd = decode_erasure(msg.value)
            except ValueError as exc:
                log.warning("skipping erasure message at %s:%d: %s", msg.topic, msg.offset, exc)
                continue
            try:
                await erase_shard(checkpointer, cmd, msg.partition)
            except Exception:  # noqa: BLE001
                # Memory may hold a half-applied retraction: restart, rebuild from the ledger, redo.
                log.exception("erasure %s failed on shard %d; exiting so it is redelivered",
                              cmd.erasure_id, msg.partition)
                on_fatal(70)

    return erasures

