"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from datetime import datetime, timezone

from api.deps import Caller, ReadCaller, ServicesDep, authenticate
from api.responses import SCOPED, errors
from core.windows import WindowSize
from warehouse import freshness_queries

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ingest accepts, the Kafka broker and the warehouse are usable",
            responses={503: {"description": "Not ready: `checks` says which check failed (same body as 200)"}})
async def readyz(services: ServicesDep, response: Response) -> dict[str, object]:
    admission = services.admission
    checks: dict[str, object] = {
        "kafka": services.publisher.started and not admission.broker_down,
        "warehouse": await services.warehouse._run(services.warehouse.ping),
        "accepting": not admission.closed,
    }
    ready = all(checks.values())
    if admission.broker_restarts:
        checks["broker_restarts"] = admission.broker_restarts
    if admission.log is not None:  # what a restart would replay; not a readiness condition
        checks["ingest_log"] = {"pending_events": admission.log.pending_events,
                                "bytes": admission.log.size_bytes, "segments": admission.log.segments}
    response.status_code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "not ready", "checks": checks}


@router.get("/v1/status", summary="Freshness of the caller's KPI windows", responses=errors(*SCOPED))
async def tenant_status(caller: ReadCaller, services: ServicesDep) -> dict[str, object]:
    stream = services.settings.stream
    # The largest configured size and the first view: the fewest rows that every commit writes.
    size = max(stream.window_sizes, key=lambda s: WindowSize(s).ms)
    age, latest_ms = await freshness_queries.window_freshness(services.warehouse, caller.tenant, size,
                                                              tuple(stream.views[0]))
    latest = datetime.fromtimestamp(latest_ms / 1000, tz=timezone.utc).isoformat() if latest_ms else None
    return {"tenants": [{"tenant": caller.tenant, "seconds_since_update": age, "latest_event": latest}]
            if age is not None else []}


@router.get("/v1/whoami", summary="The tenant and scopes of the caller's API key", responses=errors(401, 429))
async def whoami(caller: Annotated[Caller, Depends(authenticate)]) -> dict[str, object]:
    """Lets clients such as `cxpulse rules apply` check that a file's tenant is the key's."""
    return {"tenant": caller.tenant, "scopes": sorted(caller.scopes)}


@router.get("/metrics", summary="Prometheus metrics (OpenMetrics when the Accept header asks for it)",
            response_class=Response)
async def prometheus_metrics(accept: Annotated[str, Header()] = "") -> Response:
    # prometheus_client's own negotiation, as the worker's metrics server does it: OpenMetrics text
    # for `Accept: application/openmetrics-text` (what Prometheus asks first), the 0.0.4 text format otherwise
    encode, content_type = choose_encoder(accept)
    return Response(encode(REGISTRY), headers={"content-type": content_type})
