"""Retention as ClickHouse TTL on chDB: per-tenant periods delete ledger rows and delivery attempts and clear
comments (scores kept); the policy is applied idempotently after the migrations.

Times are relative to now by whole days far from every boundary (100 days old vs a 30-day and a 365-day
period), so the outcome is the same at any hour; ``OPTIMIZE … FINAL`` makes ClickHouse apply the TTL now
instead of at its next merge.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from core.privacy_settings import RetentionSettings
from warehouse.retention import apply_retention, stated_ttl, ttl_rules
from tests.conftest import migrated_warehouse

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
POLICY = RetentionSettings(ledger_days=3660, comment_days=365, delivery_log_days=90, tenants={
    "brief": {"ledger_days": 1000, "delivery_log_days": 7},
    "acme": {"comment_days": 30},
})


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "ret") as warehouse:
        yield warehouse


def _ddl(wh, table: str) -> str:
    return wh.query("SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                    {"db": wh.database, "t": table}).result_rows[0][0]


def test_the_policy_is_applied_once_and_changed_when_the_settings_change(wh):
    first = apply_retention(wh, POLICY)
    assert len(first) == len(ttl_rules(POLICY)) == 10
    assert apply_retention(wh, POLICY) == []  # a restart with the same settings runs nothing
    for rule in ttl_rules(POLICY):
        assert stated_ttl(_ddl(wh, rule.table.value), rule.column) == rule.expression, rule
    assert stated_ttl(_ddl(wh, "survey_responses"), None) == (
        "toDateTime(time) + toIntervalDay(multiIf(tenant = 'brief', 1000, 3660))")
    assert stated_ttl(_ddl(wh, "survey_responses"), "comment") == (
        "toDateTime(time) + toIntervalDay(multiIf(tenant = 'acme', 30, 365))")
    changed = RetentionSettings(comment_days=200)
    assert [s.split(" MODIFY ")[0] for s in apply_retention(wh, changed, dry_run=True)] == [
        f"ALTER TABLE {r.table.value}" for r in ttl_rules(changed)]
    assert apply_retention(wh, POLICY) == []  # the dry run wrote nothing


def test_expired_rows_are_deleted_and_comments_cleared_per_tenant(wh):
    apply_retention(wh, POLICY)
    now = int(time.time() * 1000)
    cols = ["tenant", "event_key", "source", "event_id", "time_ms", "customer", "comment", "nps", "version"]
    rows = []
    for tenant in ("acme", "brief", "other"):
        for i, age_days in enumerate((2000, 100, 1)):
            rows.append([tenant, i, "s", f"{tenant}-{age_days}d", now - age_days * DAY_MS, "c", "call me", 9, 1])
    wh.insert("survey_responses", rows, cols)
    wh.insert("touchpoints", [[r[0], r[1], r[2], r[3], r[4], r[5], 1] for r in rows],
              ["tenant", "event_key", "source", "event_id", "time_ms", "customer", "version"])
    wh.insert("cases", [[t, f"case-{t}", now - 100 * DAY_MS, now - 100 * DAY_MS, "call me", 2, 1]
                        for t in ("acme", "other")],
              ["tenant", "case_id", "responded_at_ms", "opened_at_ms", "comment", "nps", "version"])
    wh.insert("webhook_deliveries", [[t, "sub", f"d-{t}-{age}", datetime.fromtimestamp((now - age * DAY_MS) / 1000, timezone.utc)]
                                     for t in ("brief", "other") for age in (30, 1)],
              ["tenant", "subscription_id", "delivery_id", "attempted_at"])
    wh.insert("webhook_dead_letters", [[t, f"dl-{t}", "{}", datetime.fromtimestamp((now - 30 * DAY_MS) / 1000,
                                                                                    timezone.utc), "dead", 1]
                                       for t in ("brief", "other")],
              ["tenant", "delivery_id", "body", "dead_at", "state", "version"])
    for table in ("survey_responses", "touchpoints", "cases", "webhook_deliveries", "webhook_dead_letters"):
        wh.command(f"OPTIMIZE TABLE {table} FINAL")

    answers = {r[0]: (r[1], r[2]) for r in wh.query(
        "SELECT event_id, comment, nps FROM survey_responses ORDER BY event_id").result_rows}
    assert answers == {
        # acme keeps comments 30 days, the others 365; every score stays
        "acme-2000d": ("", 9), "acme-100d": ("", 9), "acme-1d": ("call me", 9),
        # brief keeps events 1000 days, the others 3660
        "brief-100d": ("call me", 9), "brief-1d": ("call me", 9),
        "other-2000d": ("", 9), "other-100d": ("call me", 9), "other-1d": ("call me", 9),
    }
    assert [r[0] for r in wh.query("SELECT event_id FROM touchpoints ORDER BY event_id").result_rows] == [
        "acme-100d", "acme-1d", "acme-2000d", "brief-100d", "brief-1d", "other-100d", "other-1d", "other-2000d"]
    assert wh.query("SELECT tenant, comment, nps FROM cases ORDER BY tenant").result_rows == [
        ("acme", None, 2), ("other", "call me", 2)]
    assert [r[0] for r in wh.query("SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id").result_rows] == [
        "d-brief-1", "d-other-1", "d-other-30"]
    assert wh.query("SELECT delivery_id FROM webhook_dead_letters").result_rows == [("dl-other",)]
