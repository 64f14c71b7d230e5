"""The audit log keeps each tenant's entries apart, newest first, with its filters."""
from __future__ import annotations

import asyncio

from warehouse.audit_queries import AuditEntry, audit_entries, record_audit


def test_entries_are_per_tenant_newest_first_and_filtered(warehouse) -> None:
    a1 = AuditEntry("acme", "settings:aaa", "alert_rule.create", "r1", {"name": "x"}, at_ms=1_000)
    a2 = AuditEntry("acme", "settings:aaa", "webhook.delete", "w1", at_ms=2_000)
    a3 = AuditEntry("acme", "cli:ops", "webhook.create", "w2", at_ms=3_000)
    b1 = AuditEntry("globex", "settings:bbb", "webhook.create", "w9", at_ms=2_500)

    async def run():
        await record_audit(warehouse, a1, a2, b1)
        await record_audit(warehouse, a3, a3)  # the same entry twice is one entry
        return (await audit_entries(warehouse, "acme"),
                await audit_entries(warehouse, "acme", action="webhook.*"),
                await audit_entries(warehouse, "acme", action="alert_rule.create"),
                await audit_entries(warehouse, "acme", since_ms=2_000, until_ms=3_000),
                await audit_entries(warehouse, "globex", target="w9"),
                await audit_entries(warehouse, "acme", limit=1))

    every, hooks, rules, ranged, other, first = asyncio.run(run())
    assert [e.entry_id for e in every] == [a3.entry_id, a2.entry_id, a1.entry_id]
    assert every[2] == a1
    assert [e.target for e in hooks] == ["w2", "w1"]
    assert [e.target for e in rules] == ["r1"]
    assert [e.target for e in ranged] == ["w1"]
    assert other == [b1]
    assert [e.target for e in first] == ["w2"]
