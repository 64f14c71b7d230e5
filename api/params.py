"""Parameters routers share: the KPI read query, 422 errors with a field path, UTC times, views."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from core.isotime import IsoDateTime as _IsoDateTime

from core import aspects as aspect_config
from kpi.measures import AspectMetric, Metric
from schemas.gaps import GapMetric
from core.dimensions import all_dimensions, validate_view
from core.errors import NoViewCovers, QueryError
from warehouse import queries
from warehouse.count_sources import CountSource, choose_source


#: A date-time query parameter: ISO-8601 only (``core.isotime``); naive times are UTC (``utc``).
IsoDateTime = _IsoDateTime

#: Query parameters of every KPI-series read (`/v1/kpis`, `/v1/stream`); `KpiRangeDep` gathers them.
WINDOW_PATTERN = "^(1m|1h|1d|24h|7d|28d)$"
WindowParam = Annotated[str, Query(pattern=WINDOW_PATTERN)]
FromParam = Annotated[IsoDateTime | None, Query(alias="from", description="ISO-8601; default depends on window")]
GroupByParam = Annotated[str, Query(description="Comma-separated dimensions")]
ToParam = Annotated[IsoDateTime | None, Query(description="ISO-8601, exclusive; default now")]
ConfidenceParam = Annotated[float, Query(gt=0.5, lt=1.0)]


def unprocessable(loc: list[str] | str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors; a bare name means a query parameter."""
    path = ["query", loc] if isinstance(loc, str) else loc
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": path, "msg": message, "type": "value_error"}])


def utc(dt: datetime) -> datetime:
    """Naive datetimes are UTC; aware ones are converted."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def to_ms(dt: datetime) -> int:
    return int(utc(dt).timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def view_for(views: list[list[str]], needed: set[str], loc: list[str] | str = "group_by") -> tuple[str, ...]:
    """The stored view that answers a read, or a 422 naming the parameter that asked too much."""
    try:
        return queries.choose_view(views, needed)
    except NoViewCovers as exc:
        raise exc.at(loc) from None


def source_for(views: list[list[str]], group_by: tuple[str, ...], filters: dict[str, str],
               loc: list[str] | str = "group_by") -> CountSource:
    """The stored view that answers a read, else the ledger; a 422 at ``loc`` past the ledger's limit."""
    try:
        return choose_source(views, group_by, tuple(filters))
    except QueryError as exc:
        raise exc.at(loc) from None


def time_range(from_: datetime | None, to: datetime | None, span: timedelta) -> tuple[datetime, datetime]:
    """``from``/``to`` in UTC: ``to`` defaults to now, ``from`` to ``to - span``; a 422 unless from < to."""
    to_dt = utc(to) if to else datetime.now(timezone.utc)
    from_dt = utc(from_) if from_ else to_dt - span
    if from_dt >= to_dt:
        raise unprocessable("from", "must be before `to`")
    return from_dt, to_dt


def group_by_dims(group_by: str) -> tuple[str, ...]:
    """The ``group_by`` parameter as a canonical view tuple, or a 422."""
    try:
        return validate_view([g for g in group_by.split(",") if g]) if group_by else ()
    except ValueError as exc:
        raise unprocessable("group_by", str(exc)) from None


def dimension_filters(request: Request) -> dict[str, str]:
    """Query parameters named like a dimension (``channel=chat``, or a custom one): the filters of a KPI read."""
    known = all_dimensions()
    return {k: v for k, v in request.query_params.items() if k in known}


FiltersDep = Annotated[dict[str, str], Depends(dimension_filters)]


@dataclass(frozen=True)
class KpiRead:
    """The query parameters of a KPI-series read, as given (``group_by`` and the range unparsed).

    Routers parse them where they need them (``groups()``, ``time_range``) so each 422 comes
    in the order the route checks it.
    """

    metric: Metric
    window: str
    from_: datetime | None
    group_by: str
    confidence: float
    filters: dict[str, str]
    to: datetime | None = None

    def groups(self) -> tuple[str, ...]:
        return group_by_dims(self.group_by)


def _kpi_series_read(
    filters: FiltersDep,
    metric: Metric = Metric.nps,
    window: WindowParam = "1h",
    from_: FromParam = None,
    group_by: GroupByParam = "",
    confidence: ConfidenceParam = 0.95,
) -> KpiRead:
    return KpiRead(metric, window, from_, group_by, confidence, filters)


def _kpi_range_read(read: Annotated[KpiRead, Depends(_kpi_series_read)], to: ToParam = None) -> KpiRead:
    return replace(read, to=to)


def kpi_range_of(metrics: type[Enum], default: Enum):
    """``KpiRangeDep`` for a route that serves only ``metrics`` (an enum of ``Metric`` values), so the
    OpenAPI document lists the values it accepts."""
    def read(filters: FiltersDep, metric=default, window: WindowParam = "1h", from_: FromParam = None,
             group_by: GroupByParam = "", confidence: ConfidenceParam = 0.95, to: ToParam = None) -> KpiRead:
        return KpiRead(Metric(metric.value), window, from_, group_by, confidence, filters, to)

    read.__annotations__["metric"] = metrics  # a class, not a string: FastAPI reads it as given
    return Annotated[KpiRead, Depends(read)]


#: ``metric``, ``window``, ``from``, ``group_by``, ``confidence`` and the dimension filters:
#: a series that follows the clock (``/v1/stream``).
KpiSeriesDep = Annotated[KpiRead, Depends(_kpi_series_read)]
#: The same with ``to`` (``/v1/kpis``, ``/v1/kpis/weighted``).
KpiRangeDep = Annotated[KpiRead, Depends(_kpi_range_read)]


#: ``metric`` of ``GET /v1/kpis``: a :class:`Metric`, or a configured rated aspect (``aspect:<name>``, the
#: mean; ``aspect_top2:<name>``, the top-2-box %).
_ASPECT_NAME = "[a-z][a-z0-9_]{0,62}"
KPI_METRIC_PATTERN = ("^(" + "|".join(m.value for m in Metric)
                      + f"|aspect:{_ASPECT_NAME}|aspect_top2:{_ASPECT_NAME})$")
KpiMetricParam = Annotated[str, Query(
    pattern=KPI_METRIC_PATTERN,
    description="A KPI (" + ", ".join(m.value for m in Metric) + "), or a configured rated aspect: "
    "`aspect:<name>` (mean score, Student t interval) or `aspect_top2:<name>` (top-2-box %, Wilson).",
)]


def kpi_metric(value: str, loc: list[str] | str = "metric") -> Metric | AspectMetric:
    """A ``metric`` parameter as a :class:`Metric` or a configured :class:`AspectMetric`, else a 422 at ``loc``."""
    aspect = AspectMetric.parse(value)
    if aspect is None:
        try:
            return Metric(value)
        except ValueError:
            raise unprocessable(loc, f"unknown metric {value!r}") from None
    if aspect_config.spec(aspect.name) is None:
        known = ", ".join(sorted(aspect_config.aspects())) or "none configured"
        raise unprocessable(loc, f"unknown aspect {aspect.name!r}; configured: {known}")
    return aspect


def _kpis_read(filters: FiltersDep, metric: KpiMetricParam = "nps", window: WindowParam = "1h",
               from_: FromParam = None, group_by: GroupByParam = "", confidence: ConfidenceParam = 0.95,
               to: ToParam = None) -> KpiRead:
    return KpiRead(kpi_metric(metric), window, from_, group_by, confidence, filters, to)  # type: ignore[arg-type]


#: ``metric`` of ``GET /v1/gaps``: a gap metric (``schemas.gaps.GapMetric``) or a configured rated aspect.
GAP_METRIC_PATTERN = ("^(" + "|".join(m.value for m in GapMetric)
                      + f"|aspect:{_ASPECT_NAME}|aspect_top2:{_ASPECT_NAME})$")
GapMetricParam = Annotated[str, Query(
    pattern=GAP_METRIC_PATTERN,
    description="A gap metric (" + ", ".join(m.value for m in GapMetric) + "), or a configured rated aspect: "
    "`aspect:<name>` (mean score, Welch's t test) or `aspect_top2:<name>` (top-2-box %, two-proportion test).",
)]


def gap_metric(value: str, loc: list[str] | str = "metric") -> Metric | AspectMetric:
    """A gap ``metric`` parameter as a :class:`Metric` or a configured :class:`AspectMetric`, else a 422 at ``loc``."""
    if AspectMetric.parse(value) is None and value not in {m.value for m in GapMetric}:
        raise unprocessable(loc, f"no gap detection for {value!r}; use one of {[m.value for m in GapMetric]} "
                            "or a configured aspect")
    return kpi_metric(value, loc)


#: ``KpiRangeDep`` whose ``metric`` may also be a rated aspect (``GET /v1/kpis``).
KpisRangeDep = Annotated[KpiRead, Depends(_kpis_read)]
