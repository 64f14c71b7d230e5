"""The commit's panel step (``Checkpointer.apply`` step 3): the flags of a batch's answers.

Quality bits come from the answer alone; the respondent rule (``kpi.panel.repeats``) compares each
new answer with the stored answers of its (tenant, customer, survey) within the cooldown on both
sides, read from every shard (``queries.customer_answers``), and with the batch's. The rule and
its guarantee are stated in docs/architecture.md (Panel health); the commit applies what this
returns (retracts each stored answer that became a repeat and re-adds it as one).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.panel_settings import PanelSettings
from core.windows import DAY_MS
from kpi.panel import REPEAT, quality_flags, repeats
from schemas.records import SHARD, EventType, Record
from stream_processors.aggregators import ShardState
from warehouse import queries
from warehouse.client import Warehouse

__all__ = ["flag_answers"]

_RESPONSE = EventType.survey_response.value


async def flag_answers(wh: Warehouse, panel: PanelSettings, restored: Callable[[int], Awaitable[ShardState]],
                       others: list[Record]) -> list[Record]:
    """Set ``flags`` on the batch's answers; return the stored answers that become repeats.

    A new answer only ever adds a predecessor, so a stored answer can only become a repeat, never
    stop being one; those are returned as the objects their shard state holds (a waiting answer's
    pending record; ``restored(shard)`` gives that state), their windows still to load.
    """
    answers = [r for r in others if r["type"] == _RESPONSE]
    for r in answers:
        r["flags"] = quality_flags(r, panel.value("min_duration_s", r["tenant"]), panel.straight_lining_min_aspects)
    cooldown = {t: int(panel.value("cooldown_days", t) * DAY_MS) for t in {r["tenant"] for r in answers}}
    ruled = [r for r in answers if r.get("customer") and cooldown[r["tenant"]] > 0]
    if not ruled:
        return []
    groups = {(r["tenant"], r["customer"], r.get("survey_id") or "") for r in ruled}
    lo = min(r["time_ms"] - cooldown[r["tenant"]] for r in ruled)
    hi = max(r["time_ms"] + cooldown[r["tenant"]] for r in ruled) + 1
    stored = await queries.customer_answers(wh, groups, lo, hi)
    new = {id(r) for r in ruled}
    by_group: dict[tuple[str, str, str], list[Record]] = {}
    for r in [*stored, *ruled]:
        by_group.setdefault((r["tenant"], r["customer"], r.get("survey_id") or ""), []).append(r)
    flips: list[Record] = []
    for group, recs in by_group.items():
        recs.sort(key=lambda r: (r["time_ms"], r["source"], r["id"]))
        hits = repeats(((group, r["time_ms"], (r["source"], r["id"]), i) for i, r in enumerate(recs)),
                       cooldown[group[0]])
        for i, r in enumerate(recs):
            if id(r) in new:
                if i in hits:
                    r["flags"] |= REPEAT
            elif i in hits and not (r.get("flags") or 0) & REPEAT and id(recs[i - 1]) in new:
                flips.append(r)
    out = []
    for r in flips:
        state = await restored(r[SHARD])
        waiting = next((w for w in state.pending.get((r["tenant"], r.get("interaction_id") or ""), ())
                        if w["type"] == _RESPONSE and w["source"] == r["source"] and w["id"] == r["id"]), None)
        out.append(r if waiting is None else waiting)
    return out
