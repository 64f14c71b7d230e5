"""Retention as ClickHouse TTL: the deployment's policy (``core.privacy_settings.RetentionSettings``) on its tables.

A numbered migration is frozen and runs the same DDL on every deployment, so it cannot know how long
*this* deployment keeps data. The policy is therefore applied by the migrate step after the numbered
migrations (``cxpulse migrate``, and at the start of ``up``, ``worker`` and ``api``): one idempotent
``ALTER TABLE … MODIFY TTL`` (or ``MODIFY COLUMN … TTL``) per target, run only when the table does not
already state that TTL, so a restart with the same settings runs nothing (and rewrites no part), and a
changed setting takes effect at the next start. ``warehouse.tables`` describes the schema without
TTL (what the migrations build; ``tests/integration/test_schema.py``), and this module the policy on top.

TTL is per table, not per tenant, so each period is one expression over the row's tenant:
``toDateTime(<time>) + toIntervalDay(multiIf(tenant = 'a', 30, …, <default>))``. Tenant ids are
literals here (DDL takes no bound values), and only ids matching ``core.tenants.TENANT_PATTERN``
reach it (the settings validate them), so no quote can appear in one.

What expires:

* the ledger tables: a row ``ledger_days`` after its event time (row TTL, ``DELETE``);
* ``survey_responses.comment`` ``comment_days`` after the answer's time, and ``cases.comment`` as long
  after the answer it came from (column TTL: the text is reset to ``''`` / ``NULL``, scores stay);
* ``webhook_deliveries``: an attempt ``delivery_log_days`` after it was made, and a dead letter
  (``webhook_dead_letters``, which keeps the body) as long after it died.

ClickHouse applies TTL when it merges parts (``merge_with_ttl_timeout``, 4 h by default), so a row is
removed within hours of its expiry, not at the second; ``OPTIMIZE TABLE … FINAL`` forces it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from core.privacy_settings import RetentionSettings
from core.tenants import TENANT_PATTERN
from warehouse.client import Warehouse
from warehouse.tables import LEDGER_TABLES, Table

__all__ = ["TtlRule", "apply_retention", "stated_ttl", "ttl_rules"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TtlRule:
    table: Table
    #: ``None``: a row TTL (the row is deleted); else the column whose value is cleared
    column: str | None
    #: the TTL expression, spelled as ClickHouse prints it back in ``create_table_query``
    expression: str

    @property
    def statement(self) -> str:
        if self.column is None:
            return f"ALTER TABLE {self.table.value} MODIFY TTL {self.expression}"
        return f"ALTER TABLE {self.table.value} MODIFY COLUMN {self.column} TTL {self.expression}"


def _days(retention: RetentionSettings, period: str) -> str:
    default = retention.days(period)
    arms = []
    for tenant in sorted(retention.tenants):
        if not TENANT_PATTERN.match(tenant):  # validated by the settings; never let a quote into DDL
            raise ValueError(f"{tenant!r} is not a tenant id")
        days = retention.days(period, tenant)
        if days != default:
            arms.append(f"tenant = '{tenant}', {days}")
    return f"multiIf({', '.join(arms)}, {default})" if arms else str(default)


def _expiry(time_sql: str, retention: RetentionSettings, period: str) -> str:
    return f"toDateTime({time_sql}) + toIntervalDay({_days(retention, period)})"


# The case keeps the comment of the answer that opened it: it expires with the answer's
# (responded_at_ms; cases stored without it fall back to when they were opened).
_CASE_ANSWER_TIME = "intDiv(if(responded_at_ms > 0, responded_at_ms, opened_at_ms), 1000)"


def ttl_rules(retention: RetentionSettings) -> list[TtlRule]:
    """Every TTL the policy puts on the warehouse."""
    # The outcome ledger holds customer pseudonyms like the event ledger: it expires with it.
    rules = [TtlRule(t, None, _expiry("time", retention, "ledger_days")) for t in (*LEDGER_TABLES, Table.outcomes)]
    rules.append(TtlRule(Table.survey_responses, "comment", _expiry("time", retention, "comment_days")))
    # A review's or comment's text is free text of a customer, like an answer's comment.
    rules.append(TtlRule(Table.signals, "text", _expiry("time", retention, "comment_days")))
    rules.append(TtlRule(Table.cases, "comment", _expiry(_CASE_ANSWER_TIME, retention, "comment_days")))
    rules.append(TtlRule(Table.webhook_deliveries, None, _expiry("attempted_at", retention, "delivery_log_days")))
    # A dead letter keeps the notification's body (a case's pseudonym and comment): it goes with the log.
    rules.append(TtlRule(Table.webhook_dead_letters, None, _expiry("dead_at", retention, "delivery_log_days")))
    return rules


def _create_query(wh: Warehouse, table: Table) -> str:
    rows = wh.query("SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                    parameters={"db": wh.database, "t": table.value}).result_rows
    return rows[0][0] if rows else ""


def stated_ttl(ddl: str, column: str | None) -> str | None:
    """The TTL expression a ``create_table_query`` states for the table (``column`` None) or a column."""
    if column is None:
        found = re.search(r" TTL (.*?)(?: SETTINGS |$)", ddl.split(") ENGINE = ", 1)[-1])
    else:
        found = re.search(r"`" + re.escape(column) + r"` [^,]*? TTL (.*?)(?:, `|, INDEX |, PROJECTION |\) ENGINE)", ddl)
    return found.group(1) if found else None


def apply_retention(wh: Warehouse, retention: RetentionSettings, dry_run: bool = False) -> list[str]:
    """Run the TTL statements the tables do not state yet; return them (only list them when ``dry_run``)."""
    done: list[str] = []
    for rule in ttl_rules(retention):
        if stated_ttl(_create_query(wh, rule.table), rule.column) == rule.expression:
            continue
        done.append(rule.statement)
        if not dry_run:
            wh.command(rule.statement)
            log.info("retention: %s", rule.statement)
    return done
