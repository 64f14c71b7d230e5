"""Current KPI counts of a rule's window, read from ``kpi_windows`` (used by the evaluator).

The same reading ``GET /v1/kpis`` does (:func:`warehouse.series.rolled_counts`), for the
one point that ends with the current bucket; the view is the smallest configured one that
holds every scoped dimension (``warehouse.queries.choose_view``).
"""
from __future__ import annotations

from kpi.counts import KpiCounts
from core.windows import BucketPlan
from warehouse import queries
from warehouse.client import Warehouse
from warehouse.count_sources import CountSource
from warehouse.series import rolled_counts

__all__ = ["current_counts"]


async def current_counts(wh: Warehouse, tenant: str, window: str, views: list[list[str]],
                         scope: dict[str, str], now_ms: int, aspects: bool = False) -> KpiCounts:
    """Counts of the window ending with the bucket that holds ``now_ms`` (the current, partial bucket);
    with ``aspects``, the rated aspects' counters too (a rule on ``aspect:<name>``)."""
    plan = BucketPlan.current(window, now_ms)
    view = queries.choose_view(views, set(scope))
    points = (await rolled_counts(wh, tenant, plan, CountSource(view), (), scope, aspects=aspects)).get(())
    return points[-1][1] if points else KpiCounts()
