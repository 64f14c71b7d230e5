"""Current KPI counts of a rule's window, read from ``kpi_windows`` (shared by the evaluator and tests).

The same reading ``GET /v1/kpis`` does: tumbling buckets of the window's base
size from ``warehouse.queries.read_windows``, summed over the rolling span by
``kpi.measures.rolling``; the view is the smallest configured one that holds
every scoped dimension (``warehouse.queries.choose_view``).
"""
from __future__ import annotations

from kpi.counts import KpiCounts
from kpi.measures import rolling
from core.windows import API_WINDOWS, window_start
from warehouse import queries
from warehouse.client import Warehouse

__all__ = ["current_counts"]




async def current_counts(wh: Warehouse, tenant: str, window: str, views: list[list[str]],
                         scope: dict[str, str], now_ms: int) -> KpiCounts:
    """Counts of the window ending with the bucket that holds ``now_ms`` (the current, partial bucket)."""
    spec = API_WINDOWS[window]
    base_ms = spec.base.ms
    view = queries.choose_view(views, set(scope))
    last = window_start(now_ms, base_ms)
    first = last - (spec.buckets - 1) * base_ms
    rows = await queries.read_windows(wh, tenant, spec.base.value, view, (), scope, first // 1000,
                                      (last + base_ms) // 1000)
    by_start = {r.window_start * 1000: r.counts for r in rows}
    buckets = [by_start.get(s, KpiCounts()) for s in range(first, last + base_ms, base_ms)]
    return rolling(buckets, spec.buckets)[-1]
