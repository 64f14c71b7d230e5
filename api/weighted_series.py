"""Weighted KPI series (``GET /v1/kpis/weighted``), read from the ledger.

Same buckets as :func:`api.kpi_series.kpi_series` (:func:`~api.kpi_series.bucket_plan`, rolled by
:meth:`core.windows.BucketPlan.rolled`),
but the state comes from the survey answers themselves: the warehouse sums
weights per (tumbling bucket, group, answer value) and
:mod:`kpi.weighted` does the rest. No stream counters are involved, so a
weighted value always covers exactly the answers an unweighted tile counts.
"""
from __future__ import annotations

from api.kpi_series import bucket_plan
from api.params import from_ms
from kpi.measures import Metric
from kpi.weighted import WeightedCounts, answer_field, trailing_sums, weighted_measure
from schemas.drilldown import WeightedPoint
from warehouse import record_queries
from warehouse.client import Warehouse

__all__ = ["weighted_series"]


async def weighted_series(
    wh: Warehouse, tenant: str, metric: Metric, window: str, from_ms_: int, to_ms_: int,
    groups: tuple[str, ...], filters: dict[str, str], *, min_sample: int, confidence: float,
) -> list[WeightedPoint]:
    """Weighted points of ``metric`` for the buckets starting in [``from_ms_``, ``to_ms_``) that hold answers."""
    field = answer_field(metric)
    plan = bucket_plan(window, from_ms_, to_ms_)
    lo, hi = plan.covered()
    selection = record_queries.Selection.of(tenant, metric, lo, hi, filters)
    rows = await record_queries.weighted_answers(wh, selection, plan.base_ms, groups)
    by_group: dict[tuple[str, ...], dict[int, WeightedCounts]] = {}
    for row in rows:
        state = by_group.setdefault(row.group, {}).setdefault(row.bucket_ms, WeightedCounts())
        state.add_answers({field: row.value}, row.count, row.sum_w, row.sum_w2)
    points: list[WeightedPoint] = []
    for group in sorted(by_group):
        for start, state in plan.rolled(by_group[group], WeightedCounts, trailing_sums):
            if state.counts.responses == 0:
                continue
            wv = weighted_measure(metric, state, min_sample=min_sample, confidence=confidence)
            lo, hi = plan.point(start)
            points.append(WeightedPoint(
                window_start=from_ms(lo), window_end=from_ms(hi),
                group=dict(zip(groups, group)), value=wv.value, n=wv.n, effective_n=wv.effective_n,
                sum_weights=wv.sum_weights, ci_low=wv.ci_low, ci_high=wv.ci_high, low_sample=wv.low_sample,
                weighted_counts=wv.weighted_counts,
            ))
    points.sort(key=lambda p: (p.window_start, tuple(p.group.values())))
    return points
