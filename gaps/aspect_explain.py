"""Which rated aspects explain an NPS or CSAT gap (``explained_by_aspects`` of ``GET /v1/gaps``).

For a *segment* gap the observed answers are the segment's in the window and the reference the rest
of its scope in the same window; for a *baseline* gap the observed answers are the scope's in the
window and the reference the scope's in the baseline periods used (the same hour of past weeks, or
the past days). Per configured aspect, over the answers carrying it and the outcome score:
``kpi.drivers.explain_change`` gives the change of its mean score (aspect points: "wait_time −1.8")
and that change times the slope of the outcome on the aspect in the observed answers (the part of
the outcome's change it accounts for, in outcome *score* points: 0-10 for NPS, 1-5 for CSAT, not
NPS points). Target gaps (a number, no reference answers) and data gaps have none.

Read from the ledger (``warehouse.driver_queries``): one query for the window, one per baseline
period, each grouped by the gap query's dimension.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.aspects import aspects as configured_aspects
from gaps.detect import Gap, GapKind, Window
from kpi.drivers import AspectChange, PairSums, explain_change, merge
from kpi.measures import Metric
from warehouse.client import Warehouse
from warehouse.driver_queries import driver_sums, driver_sums_by

__all__ = ["EXPLAINED_METRICS", "explained_by_aspects"]

#: Gap metric -> the outcome score its answers carry.
EXPLAINED_METRICS = {Metric.nps: "nps", Metric.csat: "csat"}
_KINDS = (GapKind.segment, GapKind.baseline)
_ALL = "\x00all"  # the whole scope (no dimension value)


async def explained_by_aspects(
    wh: Warehouse, tenant: str, metric: Metric, scope: dict[str, str], dimension: str | None, win: Window,
    period_ms: int, gaps: Sequence[Gap], top: int = 3, min_n: int = 2,
) -> list[list[AspectChange] | None]:
    """Per gap of ``gaps`` (in order): its ``top`` aspect changes, or None when not explained (another
    metric or kind, no configured aspect)."""
    outcome = EXPLAINED_METRICS.get(metric)
    wanted = [g.kind in _KINDS for g in gaps]
    if outcome is None or not any(wanted) or not configured_aspects():
        return [None] * len(gaps)

    async def read(lo: int, hi: int) -> dict[str, dict[str, PairSums]]:
        if dimension is None:
            return {_ALL: await driver_sums(wh, tenant, outcome, lo, hi, scope)}
        groups = await driver_sums_by(wh, tenant, outcome, lo, hi, scope, dimension)
        return {**groups, _ALL: merge(*groups.values())}

    now = await read(win.start_ms, win.end_ms)
    periods = max((g.reference.periods or 0 for g in gaps if g.kind is GapKind.baseline), default=0)
    history: dict[str, dict[str, PairSums]] = {}
    for i in range(1, periods + 1):
        for key, sums in (await read(win.start_ms - i * period_ms, win.end_ms - i * period_ms)).items():
            history[key] = merge(history.get(key, {}), sums)
    out: list[list[AspectChange] | None] = []
    for g, want in zip(gaps, wanted):
        if not want:
            out.append(None)
            continue
        key = g.scope[dimension] if dimension and dimension in g.scope and dimension not in scope else _ALL
        observed = now.get(key, {})
        if g.kind is GapKind.segment:
            whole = now.get(_ALL, {})
            reference = {a: s - observed.get(a, PairSums()) for a, s in whole.items()}
        else:
            reference = history.get(key, {})
        out.append(explain_change(reference, observed, min_n=min_n)[:top])
    return out
