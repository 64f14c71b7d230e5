"""GET /v1/kpis: KPI values per window bucket, with n, counts and a confidence interval."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ReadCaller, ServicesDep
from api.params import from_ms, unprocessable, utc, view_for
from kpi.counts import KpiCounts
from kpi.measures import Metric, measure, rolling
from schemas.dimensions import DIMENSIONS, validate_view
from schemas.kpis import KpiPoint, KpiSeries
from stream_processors.windows import API_WINDOWS, window_start
from warehouse import queries

router = APIRouter(prefix="/v1", tags=["kpis"])

MAX_BUCKETS = 20_000
_DEFAULT_SPAN = {"1m": timedelta(hours=1), "1h": timedelta(hours=24), "1d": timedelta(days=28),
                 "24h": timedelta(days=7), "7d": timedelta(days=28), "28d": timedelta(days=90)}


@router.get(
    "/kpis",
    response_model=KpiSeries,
    summary="KPI values by window",
    description=(
        "Any other query parameter named like a dimension "
        f"({', '.join(DIMENSIONS)}) filters on it, e.g. `channel=chat`. Rolling windows "
        "(`24h`, `7d`, `28d`) sum the tumbling hours/days ending at each bucket."
    ),
)
async def get_kpis(
    request: Request,
    caller: ReadCaller,
    services: ServicesDep,
    metric: Metric = Metric.nps,
    window: Annotated[str, Query(pattern="^(1m|1h|1d|24h|7d|28d)$")] = "1h",
    from_: Annotated[datetime | None, Query(alias="from", description="ISO-8601; default depends on window")] = None,
    to: Annotated[datetime | None, Query(description="ISO-8601, exclusive; default now")] = None,
    group_by: Annotated[str, Query(description="Comma-separated dimensions")] = "",
    confidence: Annotated[float, Query(gt=0.5, lt=1.0)] = 0.95,
) -> KpiSeries:
    spec = API_WINDOWS[window]
    base_ms = spec.base.ms
    to_dt = utc(to) if to else datetime.now(timezone.utc)
    from_dt = utc(from_) if from_ else to_dt - _DEFAULT_SPAN[window]
    if from_dt >= to_dt:
        raise unprocessable("from", "must be before `to`")
    try:
        groups = validate_view([g for g in group_by.split(",") if g]) if group_by else ()
    except ValueError as exc:
        raise unprocessable("group_by", str(exc)) from None
    filters = {k: v for k, v in request.query_params.items() if k in DIMENSIONS}
    view = view_for(services.settings.stream.views, set(groups) | set(filters))

    first = window_start(int(from_dt.timestamp() * 1000), base_ms)
    end = int(to_dt.timestamp() * 1000)
    if (end - first) // base_ms > MAX_BUCKETS:
        raise unprocessable("from", f"more than {MAX_BUCKETS} buckets; narrow the range or use a larger window")
    lead = (spec.buckets - 1) * base_ms
    rows = await queries.read_windows(
        services.warehouse, caller.tenant, spec.base.value, view, groups, filters,
        (first - lead) // 1000, (end + base_ms - 1) // 1000,
    )
    by_group: dict[tuple[str, ...], dict[int, KpiCounts]] = {}
    for row in rows:
        by_group.setdefault(row.group, {})[row.window_start * 1000] = row.counts
    starts = list(range(first - lead, end, base_ms))
    min_sample = services.settings.api.min_sample
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
    return KpiSeries(metric=metric.value, window=window, confidence=confidence, group_by=list(groups),
                     filters=filters, data=points, count=len(points))
