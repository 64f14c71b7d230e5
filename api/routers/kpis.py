"""GET /v1/kpis: KPI values per window bucket, with n, counts and a confidence interval."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ReadCaller, ServicesDep
from api.kpi_series import DEFAULT_SPAN, TooManyBuckets, kpi_series
from api.params import FromParam, GroupByParam, WindowParam, unprocessable, utc, view_for
from kpi.measures import Metric
from schemas.dimensions import DIMENSIONS, validate_view
from schemas.kpis import KpiSeries

router = APIRouter(prefix="/v1", tags=["kpis"])



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
    window: WindowParam = "1h",
    from_: FromParam = None,
    to: Annotated[datetime | None, Query(description="ISO-8601, exclusive; default now")] = None,
    group_by: GroupByParam = "",
    confidence: Annotated[float, Query(gt=0.5, lt=1.0)] = 0.95,
) -> KpiSeries:
    to_dt = utc(to) if to else datetime.now(timezone.utc)
    from_dt = utc(from_) if from_ else to_dt - DEFAULT_SPAN[window]
    if from_dt >= to_dt:
        raise unprocessable("from", "must be before `to`")
    try:
        groups = validate_view([g for g in group_by.split(",") if g]) if group_by else ()
    except ValueError as exc:
        raise unprocessable("group_by", str(exc)) from None
    filters = {k: v for k, v in request.query_params.items() if k in DIMENSIONS}
    view = view_for(services.settings.stream.views, set(groups) | set(filters))

    try:
        points = await kpi_series(
            services.warehouse, caller.tenant, metric, window, int(from_dt.timestamp() * 1000),
            int(to_dt.timestamp() * 1000), groups, filters, view, min_sample=services.settings.api.min_sample,
            confidence=confidence,
        )
    except TooManyBuckets as exc:
        raise unprocessable("from", str(exc)) from None
    return KpiSeries(metric=metric.value, window=window, confidence=confidence, group_by=list(groups),
                     filters=filters, data=points, count=len(points))
