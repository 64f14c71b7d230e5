"""Dependencies injected into routers: settings, warehouse, publisher, the caller's tenant."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Optional

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.settings import ApiKey, Settings
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

    def __post_init__(self) -> None:
        if self.admission is None and self.publisher is not None:
            self.admission = Admission(self.publisher, None)

    def batch_spec(self, tenant: str) -> BatchSpec:
        s = self.settings
        return BatchSpec(
            tenant=tenant, pseudonym_key=s.pseudonym_key.encode(), topics=topic_names(s.kafka.topic_prefix),
            partitions=s.kafka.partitions, max_record_bytes=s.kafka.max_record_bytes,
            max_events=s.api.max_batch_events,
            horizon=TimeHorizon.from_clock(s.api.max_future_s, s.api.max_event_age_days),
            custom_dimensions=tuple(s.custom_dimensions),
        )


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


@dataclass(frozen=True)
class Caller:
    tenant: str
    scopes: frozenset[str]
    #: names the key in the audit log without revealing it (``settings:<first 12 hex of its SHA-256>``)
    key_id: str = ""


def authenticate(services: ServicesDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer API key",
                            headers={"WWW-Authenticate": "Bearer"})
    key: ApiKey | None = services.settings.api.keys.get(credentials.credentials)
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    key_id = "settings:" + hashlib.sha256(credentials.credentials.encode()).hexdigest()[:12]
    return Caller(tenant=key.tenant, scopes=frozenset(key.scopes), key_id=key_id)


def require(scope: str):
    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if scope not in caller.scopes and "admin" not in caller.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"API key lacks the {scope!r} scope")
        return caller

    return check


IngestCaller = Annotated[Caller, Depends(require("ingest"))]
ReadCaller = Annotated[Caller, Depends(require("read"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
