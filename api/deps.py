"""Dependencies injected into routers: settings, warehouse, publisher, the caller's tenant."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import KeyRefused, KeyRegistry
from api.rate_limit import retry_after_header
from core import metrics
from core.aspects import validate_specs
from core.settings import Settings
from core.topics import topic_names
from ingest.admission import Admission
from ingest.pipeline import BatchSpec, IngestPipeline
from ingest.validation import TimeHorizon
from notifications.producer import Publisher
from warehouse.client import Warehouse


@dataclass
class Services:
    """What the API process holds open; built by the runtime, stored on ``app.state``."""

    settings: Settings
    warehouse: Warehouse
    publisher: Publisher
    ingest: IngestPipeline
    #: the acknowledgement path of POST /v1/events; without one, straight to ``publisher``
    admission: Optional[Admission] = None
    #: API keys: settings-file and stored ones, their cache, last use and rate limits (``api.keys``)
    keys: Optional[KeyRegistry] = None

    def __post_init__(self) -> None:
        if self.admission is None and self.publisher is not None:
            self.admission = Admission(self.publisher, None)
        if self.keys is None and self.settings is not None:  # no settings: an app only served static files
            self.keys = KeyRegistry(self.settings.api, self.warehouse)

    def batch_spec(self, tenant: str) -> BatchSpec:
        s = self.settings
        return BatchSpec(
            tenant=tenant, pseudonym_key=s.pseudonym_key.encode(), topics=topic_names(s.kafka.topic_prefix),
            partitions=s.kafka.partitions, max_record_bytes=s.kafka.max_record_bytes,
            max_events=s.api.max_batch_events,
            horizon=TimeHorizon.from_clock(s.api.max_future_s, s.api.max_event_age_days),
            custom_dimensions=tuple(s.custom_dimensions),
            aspects=validate_specs(s.aspect_inputs()),
        )


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


@dataclass(frozen=True)
class Caller:
    tenant: str
    scopes: frozenset[str]
    #: names the key in the audit log without revealing it: a stored key's id, or
    #: ``settings:<first 12 hex of its SHA-256>`` for a settings-file key
    key_id: str = ""


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticate(services: ServicesDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """The caller of a request: 401 without a usable key, 429 over the key's rate (``api.keys``)."""
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer API key", headers=_CHALLENGE)
    keys = services.keys
    assert keys is not None
    try:
        key = await keys.resolve(credentials.credentials)
    except KeyRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=_CHALLENGE) from None
    wait = keys.limiter.check(key.key_id, key.rate_per_s, key.burst)
    if wait > 0:
        metrics.API_RATE_LIMITED.inc()
        retry = retry_after_header(wait)
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"rate limit of this API key exceeded; retry after {retry} s",
                            headers={"Retry-After": retry})
    return Caller(tenant=key.tenant, scopes=key.scopes, key_id=key.key_id)


def require(scope: str):
    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if scope not in caller.scopes and "admin" not in caller.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"API key lacks the {scope!r} scope")
        return caller

    return check


IngestCaller = Annotated[Caller, Depends(require("ingest"))]
ReadCaller = Annotated[Caller, Depends(require("read"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
