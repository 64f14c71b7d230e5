"""/v1/audit: the tenant's admin actions, newest first (``admin`` scope). No SQL here."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminCaller, ServicesDep
from api.responses import SCOPED, errors
from api.params import IsoDateTime, from_ms, to_ms
from schemas.audit import AuditEntryPublic, AuditLog
from warehouse.audit_queries import audit_entries

router = APIRouter(prefix="/v1", tags=["audit"], responses=errors(*SCOPED))


@router.get("/audit", response_model=AuditLog, summary="The tenant's audit log")
async def read_audit(
    caller: AdminCaller, services: ServicesDep,
    action: Annotated[str | None, Query(description="Exact action, or a prefix ending in `.*` (`webhook.*`)",
                                        max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditLog:
    entries = await audit_entries(
        services.warehouse, caller.tenant, action=action, target=target,
        since_ms=to_ms(since) if since else None, until_ms=to_ms(until) if until else None, limit=limit)
    data = [AuditEntryPublic(entry_id=e.entry_id, at=from_ms(e.at_ms), actor=e.actor, action=e.action,
                             target=e.target, details=e.details) for e in entries]
    return AuditLog(data=data, count=len(data))
