"""The commit sequence: how a batch of Kafka messages becomes stored KPI windows.

Exactly-once *effect* on top of at-least-once delivery (faust-streaming's
exactly-once mode has open bugs, and replays after a crash are normal):

* the ledger (ClickHouse tables of accepted events, keyed by tenant, source
  and id) is the truth; an event counts in a window iff it is in the ledger;
* a replayed or re-sent event is found in the ledger and skipped;
* window state is rebuilt from the ledger when a shard is (re)assigned, and
  a window that left memory is rebuilt from the ledger before a late event
  updates it;
* whether an invitation was answered is not stored: it is read from the
  ledger (an answer with the same tenant and interaction id exists), so every
  partial write of a crashed commit leaves a state the replay rebuilds.

So a crash at any step leaves either the ledger without the batch (the
replay counts it) or with it (the replay skips it), and the window rows are
rewritten from ledger-consistent state by the next commit.
"""
from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Sequence

from core import metrics
from core.panel_settings import PanelSettings
from core.dimensions import view_name
from schemas.records import ANSWERED, ATTRIBUTED, EFFECTIVE_DIMS, EVENT_KEY, SHARD, EventType, Record, effective_dims
from stream_processors.aggregators import CLOSED_CELLS_KEPT, INTERACTION_CACHE, ShardState, WindowKey, is_touchpoint
from stream_processors.panel_flags import flag_answers
from stream_processors.pending import PENDING_MAX, attribute, released_by, restore_pending, settle_pending
from core.windows import WindowSize, merged_spans, window_start
from kpi.panel import REPEAT
from warehouse import queries
from warehouse.tables import TABLE_OF_TYPE, event_key
from warehouse.client import Warehouse
from warehouse.writer import KpiWriter, WindowUpdate

log = logging.getLogger(__name__)

_RESPONSE = EventType.survey_response.value
_INVITATION = EventType.survey_invitation.value


@dataclass
class BatchResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    reattributed: int = 0
    #: stored invitations moved to "answered" by the first answer of their interaction
    invitations_answered: int = 0
    #: stored answers that became repeats (respondent rule) because an earlier answer arrived late
    repeats_flagged: int = 0
    window_rows: int = 0


@dataclass
class Checkpointer:
    """Owns the shard states of this worker and commits batches into the warehouse."""

    warehouse: Warehouse
    views: list[tuple[str, ...]]
    sizes: list[WindowSize]
    grace_ms: int
    interaction_cache: int = INTERACTION_CACHE
    #: per shard; the worker passes ``stream.closed_window_cells``, whose default this is (0: every closed
    #: window is reloaded from the ledger).
    closed_cells_kept: int = CLOSED_CELLS_KEPT
    #: the respondent rule and quality flags of answers (``kpi.panel``)
    panel: PanelSettings = field(default_factory=PanelSettings)
    #: per shard, the records waiting for their touchpoint (``stream_processors.pending``): the oldest beyond
    #: it are settled, in a running worker (step 5) as in a restore
    pending_max: int = PENDING_MAX
    shards: dict[int, ShardState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.writer = KpiWriter(self.warehouse)
        self._view_dims = {view_name(v): v for v in self.views}
        #: one change of the shard states at a time: a commit, or an erasure (``stream_processors.erasure``)
        self.lock = asyncio.Lock()

    def revoke(self, shards: Sequence[int]) -> None:
        """Forget state of shards another worker now owns (it rebuilds them from the ledger)."""
        for shard in shards:
            self.shards.pop(shard, None)

    async def commit(self, records: list[Record]) -> BatchResult:
        """``apply`` under the lock an erasure takes too."""
        async with self.lock:
            return await self.apply(records)

    async def apply(self, records: list[Record]) -> BatchResult:
        """Apply one batch and store it. Returns only when stored; the caller then acks.

        Every record carries ``_shard`` and ``_offset`` (its Kafka partition and offset).

        1. Restore state of shards seen for the first time (rebuild from the ledger).
        2. Drop duplicates: repeated keys inside the batch, then keys the ledger holds.
        3. Attribute answers and invitations to their touchpoint's dimensions
           (cache, this batch's touchpoints, then the ledger). Join invitations and answers
           by interaction: a new invitation counts as answered if the ledger or the batch
           holds an answer; the first answer of an interaction finds its stored invitations.
           Flag answers (``kpi.panel``): quality bits from the answer itself; the respondent
           rule against the customer's stored answers to the survey (every shard): a new answer
           is a repeat if its predecessor is within the cooldown, and a stored answer whose new
           predecessor (a late earlier answer) is within the cooldown becomes one.
        4. Load from the ledger every closed window the batch will touch that is not in memory
           (one ledger read for all of them).
        5. Apply: stored invitations that got their first answer (unanswered -> answered, in
           their own window and cell), stored answers that became repeats (retracted, re-added
           as repeats, which count nothing, ledger row re-versioned), touchpoints (releasing
           answers that waited for them), then the rest. Settle the waiting records beyond
           ``pending_max`` of each shard, oldest first (``stream_processors.pending``).
        6. Write the dirty window cells, then the ledger rows. Windows go first: a crash
           between the two leaves the ledger without the batch, so the replay applies it
           again onto windows rebuilt from the ledger.
        7. Evict windows no on-time event can reach, beyond the most recently touched
           ``closed_cells_kept`` cells of them (kept so replayed history does not reload them).
        """
        result = BatchResult(received=len(records))
        started = time.perf_counter()
        for shard in sorted({r[SHARD] for r in records}):  # 1
            if shard not in self.shards:
                self.shards[shard] = await self._restore_shard(shard)

        fresh = await self._drop_duplicates(records)  # 2
        result.duplicates = len(records) - len(fresh)

        touchpoints = [r for r in fresh if is_touchpoint(r)]
        others = [r for r in fresh if not is_touchpoint(r)]
        await self._resolve_interactions(touchpoints, others)  # 3
        now_answered, answered_in_batch = await self._join_answers(others)
        now_repeats = await flag_answers(self.warehouse, self.panel, self.restored, others)

        released = released_by(self.shards, touchpoints)  # 4
        await self._load_closed_windows([*fresh, *(r for rs in released.values() for r in rs), *now_answered,
                                         *now_repeats])

        add_ledger = self.writer.add_ledger
        for inv in now_answered:  # 5
            state = self.shards[inv[SHARD]]
            state.stage(inv, effective_dims(inv), -1)
            inv[ANSWERED] = True
            state.stage(inv, effective_dims(inv), 1)
            for waiting in state.pending.get((inv["tenant"], inv["interaction_id"]), ()):
                if waiting["type"] == _INVITATION:  # the same invitation, waiting for its touchpoint
                    waiting[ANSWERED] = True
            result.invitations_answered += 1
        releasing = {id(r) for rs in released.values() for r in rs}
        for ans in now_repeats:
            state = self.shards[ans[SHARD]]
            state.stage(ans, effective_dims(ans), -1)
            ans["flags"] = (ans.get("flags") or 0) | REPEAT
            state.stage(ans, effective_dims(ans), 1)
            if id(ans) not in releasing:  # else its release below writes it
                add_ledger(ans)
            result.repeats_flagged += 1
        for tp in touchpoints:
            state = self.shards[tp[SHARD]]
            state.stage(tp, tp.get("dims") or {}, 1)
            if tp.get("interaction_id"):
                state.remember_interaction(tp["tenant"], tp["interaction_id"], tp.get("dims") or {})
                for waiting in state.pending.pop((tp["tenant"], tp["interaction_id"]), []):
                    state.stage(waiting, effective_dims(waiting), -1)
                    waiting[EFFECTIVE_DIMS] = {**(tp.get("dims") or {}), **(waiting.get("dims") or {})}
                    waiting[ATTRIBUTED] = True
                    state.stage(waiting, waiting[EFFECTIVE_DIMS], 1)
                    add_ledger(waiting)
                    result.reattributed += 1
            add_ledger(tp)
        for rec in others:
            state = self.shards[rec[SHARD]]
            attribute(state, rec)
            state.stage(rec, rec[EFFECTIVE_DIMS], 1)
            add_ledger(rec)
        for shard, tenant, iid in answered_in_batch:
            self.shards[shard].remember_answered(tenant, iid)
        settle_pending(self.shards.values(), self.pending_max, add_ledger,
                       {id(r) for r in others} | {id(r) for r in now_repeats})
        result.applied = len(fresh)

        self.add_dirty_windows()  # 6
        stats = await self.writer.flush()
        result.window_rows = stats.window_rows

        for state in self.shards.values():  # 7
            state.evict_closed()
        _observe_commit(result, stats, time.perf_counter() - started)
        _observe_memory(self.shards.values())
        return result

    def add_dirty_windows(self) -> None:
        """Fold every shard's staged deltas and hand its dirty cells to the writer (flushed by the caller)."""
        for shard_id, state in self.shards.items():
            state.apply_staged()
            for (tenant, size, start), (view, values), counts in state.take_dirty():
                self.writer.add_window(WindowUpdate(
                    tenant=tenant, size=size.value, view=view, window_start_s=start // 1000,
                    dims=dict(zip(self._view_dims[view], values)), shard=shard_id, counts=counts,
                ))

    async def restored(self, shard: int) -> ShardState:
        """The state of ``shard``, rebuilt from the ledger if this worker does not hold it yet."""
        if shard not in self.shards:
            self.shards[shard] = await self._restore_shard(shard)
        return self.shards[shard]

    # -- steps ------------------------------------------------------------------
    async def _restore_shard(self, shard: int) -> ShardState:
        state = ShardState(shard, self.views, self.sizes, self.grace_ms, self.interaction_cache,
                           self.closed_cells_kept)
        watermark = await queries.shard_watermark(self.warehouse, shard)
        if watermark is None:
            return state  # nothing stored: every window starts empty
        from_ms = window_start(watermark - self.grace_ms, max(s.ms for s in self.sizes))
        stored = await queries.ledger_records(self.warehouse, shard, from_ms, 2**62)
        for size in self.sizes:
            state.complete_from[size] = from_ms
        await self._mark_answered(state, stored)
        for rec in stored:
            state.stage(rec, effective_dims(rec), 1)
            if is_touchpoint(rec) and rec.get("interaction_id"):
                state.remember_interaction(rec["tenant"], rec["interaction_id"], rec.get("dims") or {})
        waiting = await restore_pending(self.warehouse, shard, self.pending_max)
        await self._mark_answered(state, waiting)
        for rec in waiting:
            state.pending.setdefault((rec["tenant"], rec["interaction_id"]), []).append(rec)
        state.apply_staged()
        # Stored window rows may lag the ledger after a crash: rewrite what was rebuilt.
        state.mark_all_dirty()
        log.info("shard %d restored: %d events since %d, %d answers awaiting touchpoints",
                 shard, len(stored), from_ms, len(waiting))
        return state

    async def _drop_duplicates(self, records: list[Record]) -> list[Record]:
        seen: set[tuple[str, str, str, str]] = set()
        unique: list[Record] = []
        for r in records:
            key = (r["type"], r["tenant"], r["source"], r["id"])
            if key not in seen:
                seen.add(key)
                r[EVENT_KEY] = event_key(r["tenant"], r["source"], r["id"])
                unique.append(r)
        stored: set[tuple[str, str, str, str]] = set()
        for etype, table in TABLE_OF_TYPE.items():
            same_type = [r for r in unique if r["type"] == etype]
            for k in await queries.stored_events(self.warehouse, table, same_type):
                stored.add((etype, *k))
        return [r for r in unique if (r["type"], r["tenant"], r["source"], r["id"]) not in stored]

    async def _resolve_interactions(self, touchpoints: list[Record], others: list[Record]) -> None:
        in_batch = {(t["tenant"], t.get("interaction_id")) for t in touchpoints}
        missing = {
            (r["tenant"], r["interaction_id"]) for r in others
            if r.get("interaction_id") and (r["tenant"], r["interaction_id"]) not in in_batch
            and self.shards[r[SHARD]].interaction_dims(r["tenant"], r["interaction_id"]) is None
        }
        if not missing:
            return
        found = await queries.touchpoint_dims(self.warehouse, missing)
        for r in others:
            key = (r["tenant"], r.get("interaction_id"))
            if key in found:
                self.shards[r[SHARD]].remember_interaction(key[0], key[1], found[key])

    async def _load_closed_windows(self, records: list[Record]) -> None:
        """Every closed window the batch touches and memory lacks, from one ledger read for all shards."""
        wanted: dict[int, dict[WindowKey, None]] = {}
        for r in records:
            state = self.shards[r[SHARD]]
            for key in state.window_keys(r):
                if state.needs_load(key):
                    wanted.setdefault(r[SHARD], {})[key] = None
        if not wanted:
            return
        spans = {shard: merged_spans((start, start + size.ms) for _, size, start in keys)
                 for shard, keys in wanted.items()}
        tenants = {tenant for keys in wanted.values() for tenant, _, _ in keys}
        stored = await queries.ledger_records_in(self.warehouse, spans, tenants)
        metrics.CLOSED_WINDOW_READS.inc()
        of_shard: dict[int, list[Record]] = {}
        for rec in stored:
            of_shard.setdefault(rec[SHARD], []).append(rec)
        for shard, keys in sorted(wanted.items()):
            state = self.shards[shard]
            # As the ledger stands before this batch: the batch's own answers are applied in step 5.
            await self._mark_answered(state, of_shard.get(shard, []))
            of_tenant: dict[str, list[Record]] = {}
            for rec in of_shard.get(shard, ()):  # in time order, so each window is a slice
                of_tenant.setdefault(rec["tenant"], []).append(rec)
            times = {tenant: [r["time_ms"] for r in recs] for tenant, recs in of_tenant.items()}
            for key in keys:
                tenant, size, start = key
                recs, at = of_tenant.get(tenant, []), times.get(tenant, [])
                state.load_window(key, recs[bisect_left(at, start):bisect_left(at, start + size.ms)])
            metrics.LATE_WINDOW_LOADS.inc(len(keys))

    # -- the invitation / answer join ---------------------------------------------
    async def _join_answers(self, others: list[Record]) -> tuple[list[Record], set[tuple[int, str, str]]]:
        """Set ``_answered`` on the batch's invitations; find the stored ones its answers answer first.

        An invitation is answered iff an answer with its tenant and interaction id is in the ledger
        (or in this batch, which the ledger will hold). Returns the stored invitations whose
        interaction gets its first answer in this batch (still counted as unanswered) and the
        (shard, tenant, interaction) keys answered in this batch. Answers without an interaction id
        answer no invitation; invitations without one are never answered.
        """
        in_batch: set[tuple[int, str, str]] = set()
        keys: set[tuple[int, str, str]] = set()
        for r in others:
            iid = r.get("interaction_id")
            if not iid:
                continue
            key = (r[SHARD], r["tenant"], iid)
            keys.add(key)
            if r["type"] == _RESPONSE:
                in_batch.add(key)
        cached = {k for k in keys if self.shards[k[0]].known_answered(k[1], k[2])}
        stored = await queries.answered_interactions(self.warehouse, {(t, i) for _, t, i in keys - cached})
        before = cached | {k for k in keys if (k[1], k[2]) in stored}  # answered before this batch
        for s, t, i in before - cached:
            self.shards[s].remember_answered(t, i)  # ledger truth already: safe to cache now
        for r in others:
            if r["type"] == _INVITATION:
                key = (r[SHARD], r["tenant"], r.get("interaction_id") or "")
                r[ANSWERED] = bool(key[2]) and (key in in_batch or key in before)
        first: dict[int, set[tuple[str, str]]] = {}
        for s, t, i in in_batch - before:
            first.setdefault(s, set()).add((t, i))
        now_answered: list[Record] = []
        for shard, pairs in sorted(first.items()):
            for inv in await queries.stored_invitations(self.warehouse, shard, pairs):
                inv[ANSWERED] = False  # as its cells count it today
                now_answered.append(inv)
        return now_answered, in_batch

    async def _mark_answered(self, state: ShardState, records: list[Record]) -> None:
        """Set ``_answered`` on stored invitations read back from the ledger (restore, window loads)."""
        invitations = [r for r in records if r["type"] == _INVITATION]
        unknown = {(r["tenant"], r["interaction_id"]) for r in invitations if r.get("interaction_id")
                   and not state.known_answered(r["tenant"], r["interaction_id"])}
        stored = await queries.answered_interactions(self.warehouse, unknown)
        for r in invitations:
            iid = r.get("interaction_id")
            r[ANSWERED] = bool(iid) and ((r["tenant"], iid) in stored or state.known_answered(r["tenant"], iid))
        for t, i in stored:
            state.remember_answered(t, i)


def _observe_commit(result, stats, seconds: float) -> None:
    """One stored batch on ``core.metrics``: what ``apply`` did and what the writer stored."""
    metrics.RECORDS_PROCESSED.inc(result.applied)
    metrics.DUPLICATES_SKIPPED.inc(result.duplicates)
    metrics.REATTRIBUTED.inc(result.reattributed)
    metrics.WINDOW_UPDATES.inc(stats.window_rows)
    metrics.SINK_BATCH_ROWS.observe(stats.ledger_rows + stats.window_rows)
    metrics.SINK_LATENCY.observe(stats.seconds)
    metrics.COMMIT_LATENCY.observe(seconds)
    metrics.SINK_LAST_SUCCESS.set(time.time())


def _observe_memory(shards) -> None:
    """What the shard states hold after a commit, on ``core.metrics``: every one is bounded (a setting, or the
    grace for open windows), so a soak tells a leak from a full cache (``make soak``)."""
    shards = list(shards)
    metrics.PENDING_ATTRIBUTION.set(sum(len(v) for s in shards for v in s.pending.values()))
    metrics.CLOSED_WINDOWS_HELD.set(sum(s.closed_windows_held for s in shards))
    metrics.WINDOWS_HELD.set(sum(len(s.windows) for s in shards))
    metrics.WINDOW_CELLS_HELD.set(sum(len(w) for s in shards for w in s.windows.values()))
    metrics.INTERACTION_CACHE.set(sum(len(s.interactions) for s in shards))
    metrics.ANSWERED_CACHE.set(sum(len(s.answered) for s in shards))
