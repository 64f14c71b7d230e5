"""Every SQL statement of threshold alerts: DDL builders for migration 0004 and the reads/writes.

Values are bound (``{name:Type}``); the only identifiers are the ``AlertTable``
names. Every sort key starts with ``tenant``. Rows that change (rules, states,
silences) live in ``ReplacingMergeTree(version)`` tables and are read ``FINAL``;
a delete is a new version with ``deleted = 1``. History is append-only, keyed so
that re-inserting the same transition is harmless.
"""
from __future__ import annotations

import math

import time
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import orjson

from alerts.rules import Rule
from alerts.silences import Silence
from alerts.state import AlertState, Status
from warehouse.client import Warehouse
from warehouse.tables import next_version

__all__ = ["AlertTable", "HistoryRow", "StateRow", "next_version"]


class AlertTable(str, Enum):
    rules = "alert_rules"
    states = "alert_states"
    history = "alert_history"
    silences = "silences"




# -- DDL ----------------------------------------------------------------------------
def create_alert_rules() -> str:
    return f"""CREATE TABLE IF NOT EXISTS {AlertTable.rules.value} (
    tenant LowCardinality(String),
    rule_id String,
    spec String,
    deleted UInt8,
    version UInt64,
    updated_at_ms Int64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, rule_id)"""


def create_alert_states() -> str:
    return f"""CREATE TABLE IF NOT EXISTS {AlertTable.states.value} (
    tenant LowCardinality(String),
    fingerprint String,
    rule_id String,
    status LowCardinality(String),
    state String,
    alert String,
    version UInt64,
    updated_at_ms Int64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, fingerprint)"""


def create_alert_history() -> str:
    return f"""CREATE TABLE IF NOT EXISTS {AlertTable.history.value} (
    tenant LowCardinality(String),
    fingerprint String,
    at_ms Int64,
    status LowCardinality(String),
    prev_status LowCardinality(String),
    rule_id String,
    rule_name String,
    metric LowCardinality(String),
    window LowCardinality(String),
    value Nullable(Float64),
    n UInt64,
    ci_low Nullable(Float64),
    ci_high Nullable(Float64),
    threshold Float64,
    severity LowCardinality(String),
    scope String,
    labels String,
    starts_at_ms Nullable(Int64),
    ends_at_ms Nullable(Int64),
    silenced UInt8
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Milli(at_ms))
ORDER BY (tenant, fingerprint, at_ms, status)"""


def create_silences() -> str:
    return f"""CREATE TABLE IF NOT EXISTS {AlertTable.silences.value} (
    tenant LowCardinality(String),
    silence_id String,
    rule_id Nullable(String),
    matchers String,
    starts_at_ms Int64,
    ends_at_ms Int64,
    comment String,
    created_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, silence_id)"""


# -- rules --------------------------------------------------------------------------
_RULE_COLS = ["tenant", "rule_id", "spec", "deleted", "version", "updated_at_ms"]


async def upsert_rules(wh: Warehouse, tenant: str, rules: list[Rule]) -> None:
    now = int(time.time() * 1000)
    rows = [[tenant, r.id, r.spec_json().decode(), 0, next_version(), now] for r in rules]
    await wh.ainsert(AlertTable.rules.value, rows, _RULE_COLS)


async def delete_rules(wh: Warehouse, tenant: str, rule_ids: list[str]) -> None:
    now = int(time.time() * 1000)
    await wh.ainsert(AlertTable.rules.value, [[tenant, i, "", 1, next_version(), now] for i in rule_ids], _RULE_COLS)


async def list_rules(wh: Warehouse, tenant: str | None = None, rule_id: str | None = None
                     ) -> list[tuple[str, Rule, int]]:
    """Live rules as (tenant, rule, updated_at_ms), of one tenant or (``None``) of all, by tenant and id."""
    where = ["deleted = 0"]
    params: dict[str, Any] = {}
    if tenant is not None:
        where.append("tenant = {tenant:String}")
        params["tenant"] = tenant
    if rule_id is not None:
        where.append("rule_id = {rule_id:String}")
        params["rule_id"] = rule_id
    res = await wh.aquery(
        f"SELECT tenant, spec, updated_at_ms FROM {AlertTable.rules.value} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY tenant, rule_id", params)
    return [(t, Rule.model_validate_json(spec), int(u)) for t, spec, u in res.result_rows]


# -- states and history -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateRow:
    tenant: str
    fingerprint: str
    rule: Rule
    state: AlertState


@dataclass(frozen=True, slots=True)
class HistoryRow:
    tenant: str
    fingerprint: str
    at_ms: int
    status: Status
    prev_status: Status
    rule: Rule
    state: AlertState
    silenced: bool


def _state_json(state: AlertState) -> str:
    d = asdict(state)
    d["status"] = state.status.value
    return orjson.dumps(d).decode()


def _state_from_json(body: str) -> AlertState:
    d = orjson.loads(body)
    d["status"] = Status(d["status"])
    return AlertState(**d)


async def write_states(wh: Warehouse, rows: list[StateRow]) -> None:
    now = int(time.time() * 1000)
    await wh.ainsert(AlertTable.states.value, [
        [r.tenant, r.fingerprint, r.rule.id, r.state.status.value, _state_json(r.state), r.rule.spec_json().decode(),
         next_version(), now] for r in rows
    ], ["tenant", "fingerprint", "rule_id", "status", "state", "alert", "version", "updated_at_ms"])


async def read_states(wh: Warehouse, tenant: str | None = None, status: Status | None = None
                      ) -> list[StateRow]:
    """Latest state of every alert (fingerprint), with the rule as it was when last evaluated."""
    where, params = ["1"], {}
    if tenant is not None:
        where.append("tenant = {tenant:String}")
        params["tenant"] = tenant
    if status is not None:
        where.append("status = {status:String}")
        params["status"] = status.value
    res = await wh.aquery(
        f"SELECT tenant, fingerprint, alert, state FROM {AlertTable.states.value} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY tenant, fingerprint", params)
    return [StateRow(t, fp, Rule.model_validate_json(a), _state_from_json(s)) for t, fp, a, s in res.result_rows]


_HISTORY_COLS = ["tenant", "fingerprint", "at_ms", "status", "prev_status", "rule_id", "rule_name", "metric", "window",
                 "value", "n", "ci_low", "ci_high", "threshold", "severity", "scope", "labels", "starts_at_ms",
                 "ends_at_ms", "silenced"]


#: Gap rules have no threshold; the column is not nullable (migration 0004), so NaN stands for none.
_NO_THRESHOLD = float("nan")


async def append_history(wh: Warehouse, rows: list[HistoryRow]) -> None:
    await wh.ainsert(AlertTable.history.value, [
        [r.tenant, r.fingerprint, r.at_ms, r.status.value, r.prev_status.value, r.rule.id, r.rule.name,
         r.rule.metric.value, r.rule.window, r.state.value, r.state.n, r.state.ci_low, r.state.ci_high,
         _NO_THRESHOLD if r.rule.threshold is None else r.rule.threshold, r.rule.severity.value,
         orjson.dumps(r.rule.scope).decode(),
         orjson.dumps(r.rule.labels).decode(), r.state.starts_at_ms, r.state.ends_at_ms, int(r.silenced)]
        for r in rows
    ], _HISTORY_COLS)


async def read_history(wh: Warehouse, tenant: str, status: Status | None = None, rule_id: str | None = None,
                       fingerprint: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
    """Transitions, newest first; scope and labels decoded."""
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": tenant, "limit": limit}
    for col, typ, val in (("status", "String", status.value if status else None), ("rule_id", "String", rule_id),
                          ("fingerprint", "String", fingerprint)):
        if val is not None:
            where.append(f"{col} = {{{col}:{typ}}}")
            params[col] = val
    if from_ms is not None:
        where.append("at_ms >= {from:Int64}")
        params["from"] = from_ms
    if to_ms is not None:
        where.append("at_ms < {to:Int64}")
        params["to"] = to_ms
    res = await wh.aquery(
        f"SELECT {', '.join(_HISTORY_COLS)} FROM {AlertTable.history.value} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY at_ms DESC, fingerprint LIMIT {{limit:UInt32}}", params)
    out = []
    for row in res.result_rows:
        d = dict(zip(_HISTORY_COLS, row))
        d["scope"], d["labels"], d["silenced"] = orjson.loads(d["scope"]), orjson.loads(d["labels"]), bool(d["silenced"])
        if math.isnan(d["threshold"]):
            d["threshold"] = None
        out.append(d)
    return out


# -- silences -----------------------------------------------------------------------
_SILENCE_COLS = ["tenant", "silence_id", "rule_id", "matchers", "starts_at_ms", "ends_at_ms", "comment", "created_by",
                 "version"]


async def upsert_silence(wh: Warehouse, tenant: str, s: Silence) -> None:
    await wh.ainsert(AlertTable.silences.value, [[
        tenant, s.id, s.rule_id, orjson.dumps(s.matchers).decode(), s.starts_at_ms, s.ends_at_ms, s.comment,
        s.created_by, next_version()]], _SILENCE_COLS)


async def list_silences(wh: Warehouse, tenant: str | None = None, active_at_ms: int | None = None,
                        silence_id: str | None = None) -> list[tuple[str, Silence]]:
    """Silences as (tenant, silence); ``active_at_ms`` keeps those active at that instant."""
    where, params = ["1"], {}
    if tenant is not None:
        where.append("tenant = {tenant:String}")
        params["tenant"] = tenant
    if active_at_ms is not None:
        where.append("starts_at_ms <= {at:Int64} AND ends_at_ms > {at:Int64}")
        params["at"] = active_at_ms
    if silence_id is not None:
        where.append("silence_id = {sid:String}")
        params["sid"] = silence_id
    res = await wh.aquery(
        f"SELECT {', '.join(_SILENCE_COLS[:-1])} FROM {AlertTable.silences.value} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY tenant, starts_at_ms, silence_id", params)
    return [(r[0], Silence(id=r[1], rule_id=r[2], matchers=orjson.loads(r[3]), starts_at_ms=r[4], ends_at_ms=r[5],
                           comment=r[6], created_by=r[7])) for r in res.result_rows]
