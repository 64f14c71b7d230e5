"""The commit's panel step (``Checkpointer.apply`` step 3): the flags of a batch's answers.

Quality bits come from the answer alone; the respondent rule (``kpi.panel.repeats``) compares each
new answer with the stored answers of its (tenant, customer, survey) within the cooldown on both
sides, read from every shard (``queries.customer_answers``), and with the batch's. The rule and
its guarantee are stated in docs/architecture.md (Panel health); the commit applies what this
returns (retracts each stored answer that became a repeat and re-adds it as one).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

from core import metrics
from core.panel_settings import PanelSettings
from core.windows import DAY_MS
from kpi.panel import REPEAT, quality_flags, repeats
from schemas.records import SHARD, EventType, Record
from stream_processors.aggregators import ShardState
from warehouse import queries
from warehouse.client import Warehouse

__all__ = ["flag_answers", "observe_assignment", "respondent_rule_exact"]

log = logging.getLogger(__name__)

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


def respondent_rule_exact(held: Collection[int], partitions: int, panel: PanelSettings) -> bool:
    """Whether this worker's flags are exact: the respondent rule is off for every tenant, or the worker
    holds every one of the ``partitions`` shards (``held``: the shards it holds of every typed topic).

    The rule's guarantee needs one worker holding every partition (docs/architecture.md, Panel health);
    a worker holding only some cannot tell whether another worker shares the group, so it says not exact
    (also when it holds none: the group's other members then hold only some).
    """
    return not panel.respondent_rule_on() or set(range(partitions)) <= set(held)


def observe_assignment(assigned: Iterable[Any], typed_names: Collection[str], partitions: int,
                       panel: PanelSettings) -> bool:
    """One rebalance's check (the worker's ``on_partitions_assigned``, ``assigned`` its whole new assignment
    of Faust ``TP``s): sets ``cxpulse_panel_respondent_rule_inexact`` and logs one ERROR when not exact.

    ``partitions`` is the typed topics' partition count as the worker knows it (an assigned partition beyond
    it raises it).
    """
    by_topic: dict[str, set[int]] = {name: set() for name in typed_names}
    for tp in assigned:
        if tp.topic in by_topic:
            by_topic[tp.topic].add(tp.partition)
    count = max([partitions, *(p + 1 for ps in by_topic.values() for p in ps)])
    held = set.intersection(*by_topic.values()) if by_topic else set()
    exact = respondent_rule_exact(held, count, panel)
    metrics.PANEL_RULE_INEXACT.set(0 if exact else 1)
    if not exact:
        log.error(
            "panel.cooldown_days (the respondent rule) is on but this worker holds %d of the %d partitions of "
            "the typed topics (%s): with several workers in the consumer group repeats can be miscounted "
            "silently; the rule is exact only when one worker holds every partition (`cxpulse up`, or a single "
            "`cxpulse worker`; docs/architecture.md, Panel health). Run one worker, or set panel.cooldown_days "
            "and every panel.tenants override to 0.", len(held), count, sorted(held))
    return exact
