"""One audit entry per admin action, written by the route after the change it records is stored.

``actor`` is the caller's key id (never its secret); ``details`` hold ids, counts and the names of
changed fields, never secrets (webhook secrets, key secrets) or free text that may carry personal
data (comments, resolution notes, URLs' paths and queries).
"""
from __future__ import annotations

from typing import Any

from api.deps import Caller, Services
from warehouse.audit_queries import AuditEntry, record_audit

__all__ = ["audit"]


async def audit(services: Services, caller: Caller, action: str, target: str, **details: Any) -> None:
    await record_audit(services.warehouse, AuditEntry(tenant=caller.tenant, actor=caller.key_id, action=action,
                                                      target=target, details=details))
