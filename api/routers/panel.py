"""/v1/panel/quality: answer flags per scope (panel health, ``kpi.panel``), from the ledger."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from api.deps import ReadCaller, ServicesDep
from api.params import (ConfidenceParam, FiltersDep, FromParam, GroupByParam, ToParam, group_by_dims, time_range,
                        to_ms, unprocessable)
from api.responses import SCOPED, errors
from core.dimensions import DIMENSIONS, MAX_GROUP_BY
from kpi import stats
from kpi.panel import FLAG_BITS
from schemas.panel import FlagShare, QualityGroup, QualityReport
from warehouse import panel_queries

router = APIRouter(prefix="/v1", tags=["panel"], responses=errors(*SCOPED))

_DEFAULT_SPAN = timedelta(days=28)


def _share(count: int, n: int, confidence: float) -> FlagShare:
    if n <= 0:
        return FlagShare(count=count, share=None, ci_low=None, ci_high=None)
    low, high = stats.wilson_interval(count, n, confidence)
    return FlagShare(count=count, share=count / n, ci_low=low, ci_high=high)


@router.get(
    "/panel/quality",
    response_model=QualityReport,
    response_model_by_alias=True,
    summary="Answer quality flags per scope: repeats, straight-lining, too fast, contradictory",
    description=(
        "Survey answers with event time in [`from`, `to`) (default the last 28 days), per `group_by` group "
        f"(up to {MAX_GROUP_BY} dimensions), filtered by any query parameter named like a dimension "
        f"({', '.join(DIMENSIONS)}), with the number carrying each flag, its share and a Wilson interval. "
        "Read from the ledger (the latest version of each answer). `GET /v1/kpis?exclude_flagged=true` leaves "
        "the quality-flagged answers out of a KPI; repeats are never counted."
    ),
)
async def get_quality(caller: ReadCaller, services: ServicesDep, filters: FiltersDep, from_: FromParam = None,
                      to: ToParam = None, group_by: GroupByParam = "",
                      confidence: ConfidenceParam = 0.95) -> QualityReport:
    groups = group_by_dims(group_by)
    if len(groups) > MAX_GROUP_BY:
        raise unprocessable("group_by", f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    from_dt, to_dt = time_range(from_, to, _DEFAULT_SPAN)
    rows = await panel_queries.flag_counts(services.warehouse, caller.tenant, groups, filters, to_ms(from_dt),
                                           to_ms(to_dt))
    data = [QualityGroup(group=dict(zip(groups, values)), answers=n,
                         **{name: _share(flags[name], n, confidence) for name in FLAG_BITS},
                         any_quality=_share(quality, n, confidence))
            for values, n, flags, quality in rows]
    return QualityReport(from_=from_dt, to=to_dt, group_by=list(groups), filters=filters, confidence=confidence,
                         data=data, count=len(data))
