"""/v1/responses and /v1/touchpoints: the records behind a KPI value, paged or exported.

They take the parameters of ``GET /v1/kpis`` (``metric``, ``window``, ``from``,
``to``, dimension filters), so the records behind any tile are one URL away
and their number is the tile's ``n`` (see :mod:`warehouse.record_queries`).
"""
from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Caller, ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.exports import MEDIA_TYPES, ExportFormat, public_record, stream_export
from api.kpi_series import DEFAULT_SPAN, bucket_plan
from api.params import (
    WINDOW_PATTERN,
    FromParam,
    ToParam,
    dimension_filters,
    from_ms,
    kpi_metric,
    time_range,
    to_ms,
    unprocessable,
)
from kpi.measures import AspectMetric, Metric
from core.dimensions import DIMENSIONS
from schemas.drilldown import ResponsePage, TouchpointPage
from warehouse import record_queries as rq
from warehouse.tables import Table

router = APIRouter(prefix="/v1", tags=["drill-down"], responses=errors(*SCOPED))

#: Range of a read without ``from`` or ``window``.
DEFAULT_RANGE = timedelta(hours=24)
MAX_LIMIT = 1_000
#: Rows per streamed block and per Parquet row group of an export: bounds its memory.
EXPORT_BLOCK_ROWS = 10_000

OptionalWindowParam = Annotated[str | None, Query(
    pattern=WINDOW_PATTERN,
    description="As in /v1/kpis: the records behind the points whose buckets start in [from, to). "
                "Without it, [from, to) is the event-time range itself.",
)]
CursorParam = Annotated[str | None, Query(
    description="`next_cursor` of the previous page; it keeps that page's time range, so `from`, `to` and "
                "`window` are then ignored, while metric and filters must be the same")]
FormatParam = Annotated[ExportFormat | None, Query(
    description="csv or parquet; default from the Accept header (parquet if it names parquet), else csv")]

_DESCRIPTION = (
    "Any other query parameter named like a dimension ({dims}) filters on it, as in /v1/kpis. "
    "`metric` selects the records behind that metric's `n`: {metrics}. The count of records over all pages "
    "equals the `n` of the same /v1/kpis read (one point) or the sum of the points' `n` (tumbling windows)."
)


def _metrics_of(name: str, table: Table) -> type[Enum]:
    """The metrics whose ``n`` counts rows of ``table``: the ``metric`` values its routes accept."""
    return Enum(name, {m.name: m.value for m, (t, _) in rq.RECORDS_BEHIND.items() if t is table}, type=str)


ResponseMetric = _metrics_of("ResponseMetric", Table.survey_responses)
TouchpointMetric = _metrics_of("TouchpointMetric", Table.touchpoints)
_ASPECT_NAME = "[a-z][a-z0-9_]{0,62}"
#: ``metric`` of the answer routes: a metric whose ``n`` counts answers, or a configured rated aspect (the
#: answers rating it: ``rq.ASPECT_BEHIND``).
ResponseMetricParam = Annotated[str, Query(
    pattern="^(" + "|".join(m.value for m in ResponseMetric) + f"|aspect:{_ASPECT_NAME}|aspect_top2:{_ASPECT_NAME})$",
    description="A metric whose n counts answers (" + ", ".join(m.value for m in ResponseMetric) + "), or a "
    "configured rated aspect, `aspect:<name>` or `aspect_top2:<name>`: the answers rating it.")]


def _selection(request: Request, caller: Caller, table: Table, metric: Enum | str, window: str | None,
               from_, to, cursor: str | None) -> tuple[rq.Selection, rq.Position | None]:
    metric = kpi_metric(metric) if isinstance(metric, str) and not isinstance(metric, Enum) else Metric(metric.value)
    if isinstance(metric, AspectMetric) and table is not Table.survey_responses:  # not reachable: the pattern
        raise unprocessable("metric", "aspects are rated by answers")
    after: rq.Position | None = None
    c: rq.Cursor | None = None
    if cursor:
        try:
            c = rq.decode_cursor(cursor)
        except rq.InvalidCursor as exc:
            raise unprocessable("cursor", str(exc)) from None
        lo, hi, after = c.from_ms, c.to_ms, c.after
    else:
        from_dt, to_dt = time_range(from_, to, DEFAULT_SPAN[window] if window else DEFAULT_RANGE)
        lo, hi = to_ms(from_dt), to_ms(to_dt)
        if window:
            lo, hi = bucket_plan(window, lo, hi).covered()
    selection = rq.Selection.of(caller.tenant, metric, lo, hi, dimension_filters(request))
    if c is not None and c.fingerprint != selection.fingerprint():
        raise unprocessable("cursor", "the cursor belongs to another metric or other filters")
    return selection, after


async def _page(services, selection: rq.Selection, after: rq.Position | None, limit: int, model):
    page = await rq.read_page(services.warehouse, selection, after, limit)
    return model(
        metric=selection.metric.value, window_start=from_ms(selection.from_ms), window_end=from_ms(selection.to_ms),
        filters=dict(selection.filters), count=len(page.rows),
        next_cursor=rq.encode_cursor(selection, page.next_after) if page.next_after else None,
        data=[public_record(selection.table, r) for r in page.rows],
    )


async def _export(request: Request, services, selection: rq.Selection, fmt: ExportFormat | None) -> StreamingResponse:
    if fmt is None:
        fmt = ExportFormat.parquet if "parquet" in request.headers.get("accept", "") else ExportFormat.csv
    pages = rq.stream_rows(services.warehouse, selection, EXPORT_BLOCK_ROWS)
    # The first block is read before the response starts, so a warehouse failure is still a 503.
    first = await anext(pages, None)

    async def all_pages():
        try:
            if first is not None:
                yield first
                async for rows in pages:
                    yield rows
        finally:
            await pages.aclose()  # stops the warehouse read if the client went away

    name = f"{selection.table.value}-{selection.metric.value}-{selection.from_ms}-{selection.to_ms}.{fmt.value}"
    return StreamingResponse(stream_export(selection.table, all_pages(), fmt), media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


_EXPORT_RESPONSES = {200: {"description": "The rows, streamed: CSV with a header line, or Parquet (a row group per "
                                          f"at most {EXPORT_BLOCK_ROWS} rows)",
                            "content": {MEDIA_TYPES[ExportFormat.csv]: {}, MEDIA_TYPES[ExportFormat.parquet]: {}}}}
_RESPONSE_METRICS = ", ".join(m.value for m in ResponseMetric) + ", and `aspect:<name>` / `aspect_top2:<name>` of a configured aspect (the answers rating it)"
_TOUCHPOINT_METRICS = ", ".join(m.value for m in TouchpointMetric)


@router.get("/responses", response_model=ResponsePage, summary="Survey answers behind a KPI value",
            description=_DESCRIPTION.format(dims=", ".join(DIMENSIONS), metrics=_RESPONSE_METRICS))
async def get_responses(
    request: Request, caller: ReadCaller, services: ServicesDep, metric: ResponseMetricParam = "responses",
    window: OptionalWindowParam = None, from_: FromParam = None, to: ToParam = None, cursor: CursorParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> ResponsePage:
    selection, after = _selection(request, caller, Table.survey_responses, metric, window, from_, to, cursor)
    return await _page(services, selection, after, limit, ResponsePage)


@router.get("/touchpoints", response_model=TouchpointPage, summary="Touchpoints behind a KPI value",
            description=_DESCRIPTION.format(dims=", ".join(DIMENSIONS), metrics=_TOUCHPOINT_METRICS))
async def get_touchpoints(
    request: Request, caller: ReadCaller, services: ServicesDep, metric: TouchpointMetric = TouchpointMetric.volume,
    window: OptionalWindowParam = None, from_: FromParam = None, to: ToParam = None, cursor: CursorParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> TouchpointPage:
    selection, after = _selection(request, caller, Table.touchpoints, metric, window, from_, to, cursor)
    return await _page(services, selection, after, limit, TouchpointPage)


@router.get("/responses/export", summary="Survey answers behind a KPI value as CSV or Parquet (streamed)",
            response_class=StreamingResponse, responses=_EXPORT_RESPONSES)
async def export_responses(
    request: Request, caller: ReadCaller, services: ServicesDep, metric: ResponseMetricParam = "responses",
    window: OptionalWindowParam = None, from_: FromParam = None, to: ToParam = None, format: FormatParam = None,
) -> StreamingResponse:
    selection, _ = _selection(request, caller, Table.survey_responses, metric, window, from_, to, None)
    return await _export(request, services, selection, format)


@router.get("/touchpoints/export", summary="Touchpoints behind a KPI value as CSV or Parquet (streamed)",
            response_class=StreamingResponse, responses=_EXPORT_RESPONSES)
async def export_touchpoints(
    request: Request, caller: ReadCaller, services: ServicesDep, metric: TouchpointMetric = TouchpointMetric.volume,
    window: OptionalWindowParam = None, from_: FromParam = None, to: ToParam = None, format: FormatParam = None,
) -> StreamingResponse:
    selection, _ = _selection(request, caller, Table.touchpoints, metric, window, from_, to, None)
    return await _export(request, services, selection, format)
