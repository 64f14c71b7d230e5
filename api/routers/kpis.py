"""GET /v1/kpis: KPI values per window bucket, with n, counts and a confidence interval."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.kpi_series import DEFAULT_SPAN, kpi_series
from api.params import KpisRangeDep, source_for, time_range, to_ms
from core.dimensions import DIMENSIONS
from schemas.kpis import KpiSeries
from warehouse.count_sources import LEDGER_UNFLAGGED

router = APIRouter(prefix="/v1", tags=["kpis"], responses=errors(*SCOPED))


@router.get(
    "/kpis",
    response_model=KpiSeries,
    summary="KPI values by window",
    description=(
        "Any other query parameter named like a dimension "
        f"({', '.join(DIMENSIONS)}) filters on it, e.g. `channel=chat`. Rolling windows "
        "(`24h`, `7d`, `28d`) sum the tumbling hours/days ending at each bucket. A stored view answers when "
        "it holds every grouped and filtered dimension; any other crossing (up to 4 `group_by` dimensions, any "
        "filters) is answered from the ledger with the same counts a view would hold. `source` says which "
        "answered (`view:<name>` or `ledger`). `metric=aspect:<name>` reads a configured rated aspect's mean "
        "(`aspect_top2:<name>` its top-2-box %); its `counts` are n, sum, sumsq and top2. `exclude_flagged=true` "
        "leaves out the survey answers with a quality flag (straight-lining, too fast, contradictory; "
        "`GET /v1/panel/quality`) and is answered from the ledger. Repeats under the respondent rule "
        "(`panel.cooldown_days`) are never counted."
    ),
)
async def get_kpis(caller: ReadCaller, services: ServicesDep, read: KpisRangeDep,
                   exclude_flagged: Annotated[bool, Query(
                       description="Leave out quality-flagged answers (read from the ledger)")] = False) -> KpiSeries:
    metric, window, filters, confidence = read.metric, read.window, read.filters, read.confidence
    from_dt, to_dt = time_range(read.from_, read.to, DEFAULT_SPAN[window])
    groups = read.groups()
    source = source_for(services.settings.stream.views, groups, filters)
    if exclude_flagged:
        source = LEDGER_UNFLAGGED

    points = await kpi_series(
        services.warehouse, caller.tenant, metric, window, to_ms(from_dt), to_ms(to_dt), groups, filters, source,
        min_sample=services.settings.api.min_sample, confidence=confidence,
    )
    return KpiSeries(metric=metric.value, window=window, confidence=confidence, group_by=list(groups),
                     filters=filters, source=source.name, data=points, count=len(points))
