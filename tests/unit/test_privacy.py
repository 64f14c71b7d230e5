"""Retention settings and their TTL expressions, and the erasure command's wire format (no I/O)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.privacy_settings import RetentionSettings
from core.settings import Settings
from notifications.erasure import ErasureCommand, decode_erasure, erasure_messages
from warehouse.retention import stated_ttl, ttl_rules
from warehouse.tables import Table

KEY = "a-real-pseudonym-key-0123456789"


def test_an_erasure_command_goes_to_every_partition_and_decodes_back():
    cmd = ErasureCommand(tenant="acme", erasure_id="e1", customer="p" * 32, requested_at_ms=5, actor="settings:x",
                         shards=3)
    messages = erasure_messages("cx.erasures.v1", cmd)
    assert [(m.topic, m.partition, m.key) for m in messages] == [("cx.erasures.v1", p, b"e1") for p in range(3)]
    assert {decode_erasure(m.value) for m in messages} == {cmd}
    for bad in (b"", b"[]", b'{"tenant": "acme"}', b'{"tenant": "", "erasure_id": "e", "customer": "c", '
                                                    b'"requested_at_ms": 1, "actor": "", "shards": 1}'):
        with pytest.raises(ValueError):
            decode_erasure(bad)


def test_a_tenant_period_overrides_the_default_and_only_that_one():
    r = RetentionSettings(comment_days=200, tenants={"acme": {"comment_days": 30}})
    assert (r.days("comment_days", "acme"), r.days("comment_days", "other"), r.days("comment_days")) == (30, 200, 200)
    assert r.days("ledger_days", "acme") == 3660


def test_the_ttl_expressions_name_each_overriding_tenant_once():
    rules = {(rule.table, rule.column): rule.expression for rule in ttl_rules(RetentionSettings(
        tenants={"b-t": {"ledger_days": 4000, "comment_days": 365}, "a": {"comment_days": 7}}))}
    assert rules == {
        (Table.touchpoints, None): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'b-t', 4000, 3660))",
        (Table.survey_responses, None): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'b-t', 4000, 3660))",
        (Table.survey_invitations, None): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'b-t', 4000, 3660))",
        (Table.signals, None): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'b-t', 4000, 3660))",
        (Table.outcomes, None): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'b-t', 4000, 3660))",
        # b-t's comment period equals the default: no arm for it
        (Table.survey_responses, "comment"): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'a', 7, 365))",
        (Table.signals, "text"): "toDateTime(time) + toIntervalDay(multiIf(tenant = 'a', 7, 365))",
        (Table.cases, "comment"): "toDateTime(intDiv(if(responded_at_ms > 0, responded_at_ms, opened_at_ms), 1000)) "
                                  "+ toIntervalDay(multiIf(tenant = 'a', 7, 365))",
        (Table.webhook_deliveries, None): "toDateTime(attempted_at) + toIntervalDay(90)",
        (Table.webhook_dead_letters, None): "toDateTime(dead_at) + toIntervalDay(90)",
    }


def test_stated_ttl_reads_the_table_and_column_ttl_back():
    ddl = ("CREATE TABLE d.t (`a` String, `comment` Nullable(String) TTL toDateTime(x) + toIntervalDay(multiIf("
           "tenant = 'a', 7, 365)), `b` UInt8) ENGINE = MergeTree ORDER BY (a) TTL toDateTime(y) + "
           "toIntervalDay(9) SETTINGS index_granularity = 8192")
    assert stated_ttl(ddl, None) == "toDateTime(y) + toIntervalDay(9)"
    assert stated_ttl(ddl, "comment") == "toDateTime(x) + toIntervalDay(multiIf(tenant = 'a', 7, 365))"
    assert stated_ttl(ddl, "b") is None
    assert stated_ttl(ddl.replace(" TTL toDateTime(y) + toIntervalDay(9)", ""), None) is None


@pytest.mark.parametrize("retention, path", [
    ({"ledger_days": 3650}, "retention.ledger_days must exceed"),
    ({"tenants": {"acme": {"ledger_days": 100}}}, "retention.ledger_days of tenant acme must exceed"),
    ({"tenants": {"Not A Tenant": {}}}, "is not a tenant id"),
    ({"comment_days": 0}, "retention.comment_days"),
])
def test_bad_retention_settings_stop_the_process(retention, path):
    with pytest.raises(ValidationError) as exc:
        Settings(pseudonym_key=KEY, retention=retention)
    assert path in str(exc.value)


def test_a_short_ledger_period_is_fine_when_ingest_refuses_older_events():
    s = Settings(pseudonym_key=KEY, api={"max_event_age_days": 90}, retention={"tenants": {"acme": {"ledger_days": 100}}})
    assert s.retention.days("ledger_days", "acme") == 100
