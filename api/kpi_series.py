"""The KPI series of ``GET /v1/kpis``, as a function the live stream reuses.

Reads the tumbling windows of one stored view and turns them into
:class:`~schemas.kpis.KpiPoint` values per bucket and group; rolling windows
(``24h``, ``7d``, ``28d``) sum the tumbling hours/days ending at each bucket.
No FastAPI here: callers validate their parameters; :class:`~core.errors.TooManyBuckets`
(a ``QueryError`` on ``from``) reaches the API's one error handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from api.params import from_ms
from kpi.counts import KpiCounts
from kpi.measures import Metric, measure, rolling
from schemas.kpis import KpiPoint
from core.errors import TooManyBuckets
from core.windows import API_WINDOWS, window_start
from warehouse import queries
from warehouse.client import Warehouse

__all__ = ["MAX_BUCKETS", "BucketPlan", "TooManyBuckets", "bucket_plan", "kpi_series"]

MAX_BUCKETS = 20_000
#: Range a read covers when it gives no ``from``: enough buckets to show a trend.
DEFAULT_SPAN = {"1m": timedelta(hours=1), "1h": timedelta(hours=24), "1d": timedelta(days=28),
                "24h": timedelta(days=7), "7d": timedelta(days=28), "28d": timedelta(days=90)}


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """The buckets of a read: points start at ``first``, ``first + base_ms``, ... before ``end``.

    A point at ``start`` covers event times ``[start - lead, start + base_ms)``: ``lead`` is
    0 for tumbling windows and ``(buckets - 1) * base_ms`` for rolling ones.
    """

    base_ms: int
    buckets: int
    first: int
    end: int

    @property
    def lead(self) -> int:
        return (self.buckets - 1) * self.base_ms

    @property
    def starts(self) -> range:
        """Tumbling buckets to read: the points' own and the ``lead`` before the first."""
        return range(self.first - self.lead, self.end, self.base_ms)

    def covered(self) -> tuple[int, int]:
        """Event times ``[from, to)`` the points together cover (what a drill-down selects)."""
        last = self.first + max(0, (self.end - 1 - self.first) // self.base_ms) * self.base_ms
        return self.first - self.lead, last + self.base_ms


def bucket_plan(window: str, from_ms_: int, to_ms_: int) -> BucketPlan:
    """Buckets of ``window`` starting in [``from_ms_``, ``to_ms_``); :class:`TooManyBuckets` past the cap."""
    spec = API_WINDOWS[window]
    base_ms = spec.base.ms
    first = window_start(from_ms_, base_ms)
    if (to_ms_ - first) // base_ms > MAX_BUCKETS:
        raise TooManyBuckets(f"more than {MAX_BUCKETS} buckets; narrow the range or use a larger window")
    return BucketPlan(base_ms, spec.buckets, first, to_ms_)


async def kpi_series(
    wh: Warehouse, tenant: str, metric: Metric, window: str, from_ms_: int, to_ms_: int,
    groups: tuple[str, ...], filters: dict[str, str], view: tuple[str, ...], *, min_sample: int,
    confidence: float,
) -> list[KpiPoint]:
    """Points of ``metric`` for the buckets starting in [``from_ms_``, ``to_ms_``), by start then group."""
    spec = API_WINDOWS[window]
    plan = bucket_plan(window, from_ms_, to_ms_)
    base_ms, first, end, lead = plan.base_ms, plan.first, plan.end, plan.lead
    rows = await queries.read_windows(
        wh, tenant, spec.base.value, view, groups, filters, (first - lead) // 1000, (end + base_ms - 1) // 1000,
    )
    by_group: dict[tuple[str, ...], dict[int, KpiCounts]] = {}
    for row in rows:
        by_group.setdefault(row.group, {})[row.window_start * 1000] = row.counts
    starts = list(plan.starts)
    points: list[KpiPoint] = []
    for group in sorted(by_group):
        buckets = by_group[group]
        sums = rolling([buckets.get(s, KpiCounts()) for s in starts], spec.buckets)
        for start, counts in zip(starts, sums):
            if start < first or counts.is_zero():
                continue
            kv = measure(metric, counts, min_sample=min_sample, confidence=confidence)
            points.append(KpiPoint(
                window_start=from_ms(start - lead), window_end=from_ms(start + base_ms),
                group=dict(zip(groups, group)), value=kv.value, n=kv.n, ci_low=kv.ci_low,
                ci_high=kv.ci_high, low_sample=kv.low_sample, counts=kv.counts,
            ))
    points.sort(key=lambda p: (p.window_start, tuple(p.group.values())))
    return points
