"""GET /v1/kpis/weighted: weighted NPS / CSAT / CES / FCR with Kish's effective sample size."""
from __future__ import annotations

from enum import Enum

from fastapi import APIRouter

from api.deps import ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.kpi_series import DEFAULT_SPAN
from api.params import kpi_range_of, time_range, to_ms, unprocessable
from api.weighted_series import weighted_series
from kpi.weighted import WEIGHTED_METRICS
from core.dimensions import DIMENSIONS, MAX_GROUP_BY
from schemas.drilldown import WeightedSeries

WeightedMetric = Enum("WeightedMetric", {m.name: m.value for m in WEIGHTED_METRICS}, type=str)
WeightedRangeDep = kpi_range_of(WeightedMetric, WeightedMetric.nps)

router = APIRouter(prefix="/v1", tags=["kpis"], responses=errors(*SCOPED))


@router.get(
    "/kpis/weighted",
    response_model=WeightedSeries,
    summary="Weighted KPI values by window (survey weights, Kish effective n)",
    description=(
        "Parameters as /v1/kpis; `metric` is one of "
        f"{', '.join(m.value for m in WEIGHTED_METRICS)}. Each answer counts with its `weight` (1 when it has "
        "none); `n` is the number of answers (the /v1/kpis `n`), `effective_n` Kish's (Σw)²/Σw², and the "
        "interval and `low_sample` are computed on `effective_n`. Read from the stored answers, so any "
        f"dimension ({', '.join(DIMENSIONS)}) can filter, and up to {MAX_GROUP_BY} group; `source` is `ledger`."
    ),
)
async def get_weighted_kpis(caller: ReadCaller, services: ServicesDep, read: WeightedRangeDep) -> WeightedSeries:
    metric, window, filters, confidence = read.metric, read.window, read.filters, read.confidence
    from_dt, to_dt = time_range(read.from_, read.to, DEFAULT_SPAN[window])
    groups = read.groups()
    if len(groups) > MAX_GROUP_BY:
        raise unprocessable("group_by", f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    points = await weighted_series(
        services.warehouse, caller.tenant, metric, window, to_ms(from_dt), to_ms(to_dt), groups, filters,
        min_sample=services.settings.api.min_sample, confidence=confidence,
    )
    return WeightedSeries(metric=metric.value, window=window, confidence=confidence, group_by=list(groups),
                          filters=filters, source="ledger", data=points, count=len(points))
