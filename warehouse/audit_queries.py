"""The audit log: who changed what, per tenant (table ``audit_log``, migration 0010).

Every admin action (alert rules, silences, targets, webhooks, API keys, erasures) writes one
:class:`AuditEntry` through :func:`record_audit` after the change it records is stored, so the log
never names a change that did not happen. ``actor`` names the API key that acted (its id, never
its secret) or the CLI (``cli:<user>``). ``details`` is a small JSON object (counts, the fields
changed); it never holds secrets or personal data. Values are bound; the only identifier is a
``Table`` member.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from warehouse.client import Warehouse
from warehouse.tables import Table

__all__ = ["AuditEntry", "audit_entries", "record_audit"]

_COLUMNS = ("tenant", "at_ms", "entry_id", "actor", "action", "target", "details")


@dataclass(frozen=True)
class AuditEntry:
    tenant: str
    actor: str
    #: ``<resource>.<verb>``: ``alert_rule.create``, ``webhook.delete``, ``api_key.revoke``, ``erasure.run``
    action: str
    #: the id of what was acted on (rule id, subscription id, key id, erasure id)
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    at_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _row(e: AuditEntry) -> list[Any]:
    return [e.tenant, e.at_ms, e.entry_id, e.actor, e.action, e.target,
            orjson.dumps(e.details, option=orjson.OPT_SORT_KEYS).decode()]


async def record_audit(wh: Warehouse, *entries: AuditEntry) -> None:
    """Append ``entries`` to the log (one insert)."""
    if entries:
        await wh.ainsert(Table.audit_log.value, [_row(e) for e in entries], _COLUMNS)


async def audit_entries(wh: Warehouse, tenant: str, *, action: str | None = None, target: str | None = None,
                        since_ms: int | None = None, until_ms: int | None = None,
                        limit: int = 100) -> list[AuditEntry]:
    """The tenant's entries, newest first, optionally filtered (``action`` may end in ``.*``)."""
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": tenant, "limit": limit}
    if action is not None:
        if action.endswith(".*"):
            where.append("startsWith(action, {action:String})")
            params["action"] = action[:-1]
        else:
            where.append("action = {action:String}")
            params["action"] = action
    if target is not None:
        where.append("target = {target:String}")
        params["target"] = target
    if since_ms is not None:
        where.append("at_ms >= {since:Int64}")
        params["since"] = since_ms
    if until_ms is not None:
        where.append("at_ms < {until:Int64}")
        params["until"] = until_ms
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM {Table.audit_log.value} FINAL WHERE {' AND '.join(where)} "
           "ORDER BY at_ms DESC, entry_id LIMIT {limit:UInt32}")
    result = await wh.aquery(sql, params)
    return [AuditEntry(tenant=r[0], at_ms=r[1], entry_id=r[2], actor=r[3], action=r[4], target=r[5],
                       details=orjson.loads(r[6]) if r[6] else {}) for r in result.result_rows]
