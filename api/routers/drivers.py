"""GET /v1/drivers: rated aspects ranked by their relation to NPS or CSAT in a scope."""
from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadCaller, ServicesDep
from api.params import ConfidenceParam, FiltersDep, FromParam, ToParam, time_range, to_ms
from api.responses import SCOPED, errors
from core import aspects as aspect_config
from core.dimensions import DIMENSIONS
from kpi.drivers import rank
from schemas.drivers import DriverPoint, DriverRanking
from warehouse.driver_queries import OUTCOMES, driver_sums

router = APIRouter(prefix="/v1", tags=["kpis"], responses=errors(*SCOPED))

DriverMetric = Enum("DriverMetric", {m: m for m in OUTCOMES}, type=str)
#: ``window``: the span ending at ``to`` when no ``from`` is given.
SPANS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
         "28d": timedelta(days=28)}
DriverWindow = Enum("DriverWindow", {k: k for k in SPANS}, type=str)


@router.get(
    "/drivers",
    response_model=DriverRanking,
    response_model_by_alias=True,
    summary="Key drivers: rated aspects ranked by their relation to NPS or CSAT",
    description=(
        "Over the answers of the scope (event time in [`from`, `to`), or the `window` ending at `to`; any "
        f"dimension filter, e.g. `segment=premium`: {', '.join(DIMENSIONS)} and the custom ones) that carry "
        "both the outcome score (NPS 0-10 or CSAT 1-5) and a configured rated aspect: per aspect, Pearson's r "
        "of the two scores with its Fisher-z interval, n, the least-squares slope (outcome points per aspect "
        "point) and the aspect's mean. Ranked by |r|, strongest first. Computed on read from the stored "
        "answers (each once, under the dimensions it counts under)."
    ),
)
async def get_drivers(
    caller: ReadCaller, services: ServicesDep, filters: FiltersDep,
    metric: Annotated[DriverMetric, Query(description="The outcome")] = DriverMetric.nps,  # type: ignore[assignment]
    window: Annotated[DriverWindow, Query(description="Span ending at `to` when `from` is not given")]
    = DriverWindow("28d"),  # type: ignore[assignment]
    from_: FromParam = None, to: ToParam = None, confidence: ConfidenceParam = 0.95,
) -> DriverRanking:
    from_dt, to_dt = time_range(from_, to, SPANS[window.value])
    sums = await driver_sums(services.warehouse, caller.tenant, metric.value, to_ms(from_dt), to_ms(to_dt), filters)
    specs = aspect_config.aspects()
    ranked = rank(sums, min_sample=services.settings.api.min_sample, confidence=confidence)
    data = [DriverPoint(aspect=d.aspect, label=specs[d.aspect].label if d.aspect in specs else d.aspect, n=d.n,
                        r=d.r, ci_low=d.ci_low, ci_high=d.ci_high, slope=d.slope, mean=d.mean,
                        significant=d.significant, low_sample=d.low_sample) for d in ranked]
    return DriverRanking.model_validate({"metric": metric.value, "from": from_dt, "to": to_dt,
                                         "confidence": confidence, "filters": filters, "rule": "abs_r",
                                         "data": data, "count": len(data)})
