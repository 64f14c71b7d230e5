"""GET /v1/stream: KPI window updates, gaps and alert state changes as Server-Sent Events."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import deps
from api.deps import Caller, ServicesDep
from api.responses import SCOPED, errors
from api.kpi_series import DEFAULT_SPAN, MAX_BUCKETS, kpi_series
from api.params import KpiSeriesDep, to_ms, unprocessable, view_for
from warehouse.count_sources import CountSource
from api.routers.gaps import gap_public
from api.stream import AlertCursor, Sources, Streamer, __doc__ as STREAM_DOC
from gaps.detect import Gap, GapKind
from gaps.evaluate import LIVE_KINDS, GapQuery, evaluate_window
from core.dimensions import DIMENSIONS, all_dimensions
from schemas.gaps import GapMetric
from core.windows import API_WINDOWS, window_start
from alerts import store as alert_store

router = APIRouter(prefix="/v1", tags=["stream"], responses=errors(*SCOPED))

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


async def _stream_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[str | None, Query(
        description="The API key, for clients that cannot send headers (browsers' `EventSource`). "
        "Accepted on this endpoint only; prefer the `Authorization` header where possible.")] = None,
) -> Caller:
    if credentials is None and access_token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return deps.require("read")(await deps.authenticate(services, credentials))


StreamCaller = Annotated[Caller, Depends(_stream_caller)]


@router.get(
    "/stream",
    summary="Live KPI windows, gaps and alert state changes (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An endless SSE stream"}},
    description=(
        "Any query parameter named like a dimension "
        f"({', '.join(DIMENSIONS)}) filters the stream, e.g. `channel=chat`: KPIs and gaps are computed "
        "within that scope, and alerts whose scope names another value of a filtered dimension are left out. "
        "`from` (default: the span `GET /v1/kpis` uses) fixes the first bucket; the last one follows the "
        "clock. Gaps (`gaps=true`, `window` 1h or 1d) are the significant ones of `GET /v1/gaps` for the "
        "same scope and `dimension`.\n\n" + (STREAM_DOC or "")
    ),
)
async def get_stream(
    request: Request,
    caller: StreamCaller,
    services: ServicesDep,
    read: KpiSeriesDep,
    gaps: Annotated[bool, Query(description="Also push significant gaps (window 1h or 1d)")] = False,
    gaps_window: Annotated[Literal["1h", "1d", "live"] | None, Query(
        description="Gaps: their window (default `window`); `live` = the last minutes, as gap alert rules see them"
    )] = None,
    dimension: Annotated[str | None, Query(description="Gaps: the (built-in or custom) dimension whose values are "
                                                       "compared")] = None,
    interval: Annotated[float, Query(ge=0.5, le=300, description="Seconds between polls")] = 5.0,
    last_event_id: Annotated[str | None, Header(description="Resume alert events after this event id")] = None,
) -> StreamingResponse:
    settings, wh, tenant = services.settings, services.warehouse, caller.tenant
    metric, window, filters, confidence = read.metric, read.window, read.filters, read.confidence
    groups = read.groups()
    view = view_for(settings.stream.views, set(groups) | set(filters))
    now_ms = int(time.time() * 1000)
    first_ms = to_ms(read.from_) if read.from_ else now_ms - int(DEFAULT_SPAN[window].total_seconds() * 1000)
    base_ms = API_WINDOWS[window].base.ms
    if first_ms >= now_ms:
        raise unprocessable("from", "must be in the past")
    if (now_ms - window_start(first_ms, base_ms)) // base_ms > MAX_BUCKETS:
        raise unprocessable("from", f"more than {MAX_BUCKETS} buckets; use a later `from` or a larger window")

    async def read_kpis():
        return await kpi_series(wh, tenant, metric, window, first_ms, int(time.time() * 1000), groups, filters,
                                CountSource(view), min_sample=settings.api.min_sample, confidence=confidence)

    async def read_alerts(from_ms: int | None):
        return await alert_store.read_history(wh, tenant, from_ms=from_ms,
                                                limit=1 if from_ms is None else settings.alerts.max_history)

    read_gaps: Callable[[], Awaitable[list[Gap]]] | None = None
    if gaps:
        gap_window = gaps_window or window
        if gap_window not in ("1h", "1d", "live"):
            raise unprocessable("window", "gaps need window 1h or 1d, or gaps_window")
        if metric.value not in {m.value for m in GapMetric}:
            raise unprocessable("metric", f"gaps are evaluated for {[m.value for m in GapMetric]}")
        dim = dimension or None
        if dim is not None and dim not in all_dimensions():
            raise unprocessable("dimension", f"unknown dimension {dim!r}; allowed: {list(all_dimensions())}")
        if dim is not None and dim in filters:
            raise unprocessable("dimension", f"{dim!r} is also a filter")
        gap_view = view_for(settings.stream.views, set(filters) | ({dim} if dim else set()), "dimension")
        gs = settings.gaps

        async def _read_gaps() -> list[Gap]:
            q = GapQuery(metric=metric, window=gap_window, at_ms=int(time.time() * 1000),
                         kinds=LIVE_KINDS if gap_window == "live" else frozenset(GapKind), scope=filters, dimension=dim)
            _, found = await evaluate_window(wh, tenant, q, CountSource(gap_view), settings.stream.views, gs)
            return found

        read_gaps = _read_gaps
    elif dimension is not None:
        raise unprocessable("dimension", "only used with gaps=true")

    streamer = Streamer(
        Sources(kpis=read_kpis, alerts=read_alerts, gaps=read_gaps,
                render_gap=lambda g: gap_public(g).model_dump(mode="json")),
        metric=metric.value, window=window, group_by=list(groups), filters=filters, interval=interval,
        cursor=AlertCursor.parse(last_event_id),
    )
    return StreamingResponse(
        streamer.frames(request.is_disconnected), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"},
    )

