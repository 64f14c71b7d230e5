"""The FastAPI application: routers per resource, one handler for CX Pulse errors."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.deps import Services
from api.routers import alerts, events, gaps, health, kpis, stream, webhooks
from api.routers import api_keys, aspects as aspects_router, audit, drivers, erasures, outcomes, panel, records, weighted
from api.routers import cases as cases_router
from api.routers.board import mount_board
from api.metrics import HttpMetrics
from api.openapi import install as install_openapi
from core import aspects, dimensions
from kpi.counts import configure_experience
from core.errors import CxPulseError, IngestStorageFull, IngestUnavailable, QueryError, WarehouseError


def create_api(services: Services) -> FastAPI:
    app = FastAPI(
        title="CX Pulse",
        version="0.1.0",
        summary="Live NPS, CSAT, CES and FCR from contact-center events",
    )
    app.state.services = services
    if services is not None and services.settings is not None:  # None: an app without services (probes only)
        dimensions.configure(services.settings.custom_dimensions)  # the allowlist of filters, groups and views
        configure_experience(services.settings.experience.bounds())  # positive / negative experiences
        aspects.configure(services.settings.aspect_inputs())  # the aspects answers may rate (core.aspects)
    app.add_middleware(HttpMetrics)  # requests by route and status class on /metrics
    app.include_router(events.router)
    app.include_router(kpis.router)
    app.include_router(weighted.router)
    app.include_router(drivers.router)
    app.include_router(aspects_router.router)
    app.include_router(records.router)
    app.include_router(gaps.router)
    app.include_router(panel.router)
    app.include_router(alerts.router)
    app.include_router(webhooks.router)
    app.include_router(stream.router)
    app.include_router(cases_router.router)
    app.include_router(audit.router)
    app.include_router(api_keys.router)
    app.include_router(erasures.router)
    app.include_router(outcomes.router)
    app.include_router(health.router)
    mount_board(app)
    install_openapi(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 405:  # Starlette's `Allow` names the first route of the path only (GET or POST ...)
            allowed = sorted({m for r in app.router.routes if isinstance(r, APIRoute)
                              and r.matches(request.scope)[0] is not Match.NONE for m in r.methods})
            exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": ", ".join(allowed)})
        return await http_exception_handler(request, exc)

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
