"""Rolled-up KPI counts of the stored windows: the one read behind ``GET /v1/kpis``
(``api.kpi_series``) and the alert evaluator's current counts (``alerts.windows_read``).

Tumbling buckets of the window's base size from :func:`warehouse.count_sources.read_counts`
(a stored view's windows, or the ledger),
summed over the rolling span by :func:`kpi.measures.rolling`, for the points of a
:class:`core.windows.BucketPlan`.
"""
from __future__ import annotations

from kpi.counts import KpiCounts
from kpi.measures import rolling
from core.windows import BucketPlan
from warehouse.client import Warehouse
from warehouse.count_sources import CountSource, read_counts

__all__ = ["rolled_counts"]


async def rolled_counts(
    wh: Warehouse, tenant: str, plan: BucketPlan, source: CountSource, groups: tuple[str, ...],
    filters: dict[str, str], aspects: bool = False,
) -> dict[tuple[str, ...], list[tuple[int, KpiCounts]]]:
    """Per group (the values of ``groups``, sorted; only groups with stored windows), the
    (start ms, rolled counts) of each point of ``plan``; with ``aspects``, the rated aspects' too."""
    rows = await read_counts(
        wh, tenant, plan.base.value, source, groups, filters,
        (plan.first - plan.lead) // 1000, (plan.end + plan.base_ms - 1) // 1000, aspects=aspects,
    )
    by_group: dict[tuple[str, ...], dict[int, KpiCounts]] = {}
    for row in rows:
        by_group.setdefault(row.group, {})[row.window_start * 1000] = row.counts
    return {group: plan.rolled(by_group[group], KpiCounts, rolling) for group in sorted(by_group)}
