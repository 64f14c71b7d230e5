"""The FastAPI application: routers per resource, one handler for CX Pulse errors."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.deps import Services
from api.routers import alerts, events, gaps, health, kpis, stream, webhooks
from api.routers import audit, records, weighted
from api.routers import cases as cases_router
from api.routers.board import mount_board
from api.metrics import HttpMetrics
from core import dimensions
from core.errors import CxPulseError, IngestStorageFull, IngestUnavailable, QueryError, WarehouseError


def create_api(services: Services) -> FastAPI:
    app = FastAPI(
        title="CX Pulse",
        version="0.1.0",
        summary="Live NPS, CSAT, CES and FCR from contact-center events",
    )
    app.state.services = services
    if services is not None:  # None: an app without services (probes only)
        dimensions.configure(services.settings.custom_dimensions)  # the allowlist of filters, groups and views
    app.add_middleware(HttpMetrics)  # requests by route and status class on /metrics
    app.include_router(events.router)
    app.include_router(kpis.router)
    app.include_router(weighted.router)
    app.include_router(records.router)
    app.include_router(gaps.router)
    app.include_router(alerts.router)
    app.include_router(webhooks.router)
    app.include_router(stream.router)
    app.include_router(cases_router.router)
    app.include_router(audit.router)
    app.include_router(health.router)
    mount_board(app)

    @app.exception_handler(CxPulseError)
    async def _cxpulse_error(request: Request, exc: CxPulseError) -> JSONResponse:
        if isinstance(exc, QueryError):  # shaped like FastAPI's own validation errors
            return JSONResponse({"detail": [{"loc": exc.location, "msg": exc.message, "type": "value_error"}]}, 422)
        if isinstance(exc, IngestUnavailable):
            return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": str(round(exc.retry_after))})
        if isinstance(exc, IngestStorageFull):
            return JSONResponse({"detail": str(exc)}, 507)
        code = 503 if isinstance(exc, WarehouseError) else 400
        return JSONResponse({"detail": str(exc)}, code)

    return app
