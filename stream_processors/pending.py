"""Answers and invitations waiting for their touchpoint: attribution, release, the bound, the restore.

An answer or invitation whose interaction's touchpoint is not known yet counts under its own
dimension overrides and waits in its shard (``ShardState.pending``). Its touchpoint releases it
(the commit re-attributes it). Each shard keeps at most ``stream.pending_attribution_max`` of them:
beyond it the oldest, by :func:`warehouse.pending_queries.pending_order`, are *settled* (attributed
from then on under the dimensions they count under, their ledger rows re-versioned), in a running
worker as in a restore, so a restarted worker holds exactly what one that never stopped holds.
"""
from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping

from core import metrics
from core.pipeline_settings import StreamSettings
from schemas.records import ATTRIBUTED, EFFECTIVE_DIMS, SHARD, Record
from stream_processors.aggregators import ShardState
from warehouse import pending_queries
from warehouse.client import Warehouse

__all__ = ["PENDING_MAX", "attribute", "released_by", "restore_pending", "settle_pending"]

log = logging.getLogger(__name__)

#: per shard: answers and invitations kept waiting for their touchpoint (``stream.pending_attribution_max``)
PENDING_MAX: int = StreamSettings.model_fields["pending_attribution_max"].default


def attribute(state: ShardState, rec: Record) -> None:
    """Give ``rec`` its effective dimensions: its touchpoint's under its overrides, else it waits."""
    overrides = rec.get("dims") or {}
    iid = rec.get("interaction_id")
    if not iid:
        rec[EFFECTIVE_DIMS], rec[ATTRIBUTED] = overrides, True
        return
    tp_dims = state.interaction_dims(rec["tenant"], iid)
    if tp_dims is None:
        rec[EFFECTIVE_DIMS], rec[ATTRIBUTED] = overrides, False
        state.pending.setdefault((rec["tenant"], iid), []).append(rec)
    else:
        rec[EFFECTIVE_DIMS], rec[ATTRIBUTED] = {**tp_dims, **overrides}, True


def released_by(shards: Mapping[int, ShardState], touchpoints: Iterable[Record]) -> dict[tuple[str, str], list[Record]]:
    """The waiting records each of ``touchpoints`` releases, by (tenant, interaction id)."""
    out: dict[tuple[str, str], list[Record]] = {}
    for tp in touchpoints:
        key = (tp["tenant"], tp.get("interaction_id") or "")
        waiting = shards[tp[SHARD]].pending.get(key)
        if waiting:
            out[key] = waiting
    return out


def settle_pending(shards: Iterable[ShardState], pending_max: int, add_ledger: Callable[[Record], None],
                   in_ledger: set[int]) -> None:
    """Settle each shard's waiting records beyond ``pending_max``, oldest first: attributed from now on,
    under their own dimensions (their counts do not change), their ledger rows re-versioned through
    ``add_ledger`` (unless ``in_ledger``, the ids of the records the batch writes anyway)."""
    for state in shards:
        held = sum(len(v) for v in state.pending.values())
        if held <= pending_max:
            continue
        oldest = heapq.nsmallest(held - pending_max, (r for rs in state.pending.values() for r in rs),
                                 key=pending_queries.pending_order)
        for rec in oldest:
            key = (rec["tenant"], rec["interaction_id"])
            rest = [w for w in state.pending[key] if w is not rec]
            if rest:
                state.pending[key] = rest
            else:
                del state.pending[key]
            rec[ATTRIBUTED] = True
            if id(rec) not in in_ledger:
                add_ledger(rec)
        metrics.PENDING_SETTLED.inc(len(oldest))


async def restore_pending(warehouse: Warehouse, shard: int, pending_max: int) -> list[Record]:
    """Every record of ``shard`` waiting for its touchpoint, whatever its age: the ledger's unattributed
    rows, at most ``pending_max`` of them (the newest); any older ones are settled in the ledger, as a
    running worker settles them (a lowered bound, a ledger from before the bound, a crash mid-write)."""
    waiting, more = await pending_queries.unattributed_records(warehouse, shard, pending_max)
    if more:
        oldest = pending_queries.pending_order(waiting[0]) if waiting else None
        settled = await pending_queries.settle_unattributed(warehouse, shard, oldest)
        metrics.PENDING_SETTLED.inc(settled)
        log.warning("shard %d: %d answers and invitations settled without their touchpoint "
                    "(stream.pending_attribution_max = %d)", shard, settled, pending_max)
    return waiting
