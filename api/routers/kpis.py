"""GET /v1/kpis: KPI values per window bucket, with n, counts and a confidence interval."""
from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ReadCaller, ServicesDep
from api.kpi_series import DEFAULT_SPAN, kpi_series
from api.params import (
    ConfidenceParam,
    FromParam,
    GroupByParam,
    ToParam,
    WindowParam,
    dimension_filters,
    group_by_dims,
    time_range,
    view_for,
)
from kpi.measures import Metric
from core.dimensions import DIMENSIONS
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
    to: ToParam = None,
    group_by: GroupByParam = "",
    confidence: ConfidenceParam = 0.95,
) -> KpiSeries:
    from_dt, to_dt = time_range(from_, to, DEFAULT_SPAN[window])
    groups = group_by_dims(group_by)
    filters = dimension_filters(request)
    view = view_for(services.settings.stream.views, set(groups) | set(filters))

    points = await kpi_series(
        services.warehouse, caller.tenant, metric, window, int(from_dt.timestamp() * 1000),
        int(to_dt.timestamp() * 1000), groups, filters, view, min_sample=services.settings.api.min_sample,
        confidence=confidence,
    )
    return KpiSeries(metric=metric.value, window=window, confidence=confidence, group_by=list(groups),
                     filters=filters, data=points, count=len(points))
