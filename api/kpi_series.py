"""The KPI series of ``GET /v1/kpis``, as a function the live stream reuses.

Reads the tumbling windows of one stored view, or the ledger for a crossing no view holds
(:func:`warehouse.series.rolled_counts`),
and turns them into :class:`~schemas.kpis.KpiPoint` values per bucket and group; rolling
windows (``24h``, ``7d``, ``28d``) sum the tumbling hours/days ending at each bucket.
The buckets are a :class:`core.windows.BucketPlan` capped at ``MAX_BUCKETS``.
No FastAPI here: callers validate their parameters; :class:`~core.errors.TooManyBuckets`
(a ``QueryError`` on ``from``) reaches the API's one error handler.
"""
from __future__ import annotations

from datetime import timedelta

from api.params import from_ms
from kpi.measures import AspectMetric, Metric, measure
from schemas.kpis import KpiPoint
from core.errors import TooManyBuckets
from core.windows import BucketPlan
from warehouse.client import Warehouse
from warehouse.count_sources import CountSource
from warehouse.series import rolled_counts

__all__ = ["MAX_BUCKETS", "BucketPlan", "TooManyBuckets", "bucket_plan", "kpi_series"]

MAX_BUCKETS = 20_000
#: Range a read covers when it gives no ``from``: enough buckets to show a trend.
DEFAULT_SPAN = {"1m": timedelta(hours=1), "1h": timedelta(hours=24), "1d": timedelta(days=28),
                "24h": timedelta(days=7), "7d": timedelta(days=28), "28d": timedelta(days=90)}


def bucket_plan(window: str, from_ms_: int, to_ms_: int) -> BucketPlan:
    """Buckets of ``window`` starting in [``from_ms_``, ``to_ms_``); :class:`TooManyBuckets` past the cap."""
    plan = BucketPlan.over(window, from_ms_, to_ms_)
    if (to_ms_ - plan.first) // plan.base_ms > MAX_BUCKETS:
        raise TooManyBuckets(f"more than {MAX_BUCKETS} buckets; narrow the range or use a larger window")
    return plan


async def kpi_series(
    wh: Warehouse, tenant: str, metric: Metric | AspectMetric, window: str, from_ms_: int, to_ms_: int,
    groups: tuple[str, ...], filters: dict[str, str], source: CountSource, *, min_sample: int,
    confidence: float,
) -> list[KpiPoint]:
    """Points of ``metric`` for the buckets starting in [``from_ms_``, ``to_ms_``), by start then group."""
    plan = bucket_plan(window, from_ms_, to_ms_)
    points: list[KpiPoint] = []
    rolled_by_group = await rolled_counts(wh, tenant, plan, source, groups, filters,
                                          aspects=isinstance(metric, AspectMetric))
    for group, rolled in rolled_by_group.items():
        for start, counts in rolled:
            if counts.is_zero():
                continue
            kv = measure(metric, counts, min_sample=min_sample, confidence=confidence)
            lo, hi = plan.point(start)
            points.append(KpiPoint(
                window_start=from_ms(lo), window_end=from_ms(hi),
                group=dict(zip(groups, group)), value=kv.value, n=kv.n, ci_low=kv.ci_low,
                ci_high=kv.ci_high, low_sample=kv.low_sample, counts=kv.counts,
            ))
    points.sort(key=lambda p: (p.window_start, tuple(p.group.values())))
    return points
