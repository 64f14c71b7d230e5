"""Where alerts are kept: the reads and writes of rules, states, history and silences.

Alerts' own store, beside its domain as ``webhooks/store.py`` is; the tables and their DDL are
``warehouse.tables`` (``alert_rules``, ``alert_states``, ``alert_history``, ``silences``; migration
0004). Values are bound (``{name:Type}``); the only identifiers are ``Table`` members and fixed
column lists. Rows that change (rules, states, silences) are versioned and read ``FINAL``; a delete
is a new version with ``deleted = 1``. History is append-only.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from core.aspects import UNCHECKED  # stored rules load even when their aspect left the configuration
from alerts.rules import Rule
from alerts.silences import Silence
from alerts.state import AlertState, Status
from warehouse.client import Warehouse
from warehouse.tables import Table, next_version

__all__ = ["HistoryRow", "StateRow", "append_history", "delete_rules", "list_rules", "list_silences", "read_history",
           "read_states", "upsert_rules", "upsert_silence", "write_states"]


def _where(filters: dict[str, tuple[str, Any]], *fixed: str) -> tuple[str, dict[str, Any]]:
    """The ``AND`` of ``fixed`` and of each filter whose value is not ``None``, and the parameters
    those bind: ``filters`` maps a parameter name to (condition, value)."""
    clauses, params = list(fixed), {}
    for name, (condition, value) in filters.items():
        if value is not None:
            clauses.append(condition)
            params[name] = value
    return " AND ".join(clauses) or "1", params


# -- rules --------------------------------------------------------------------------
_RULE_COLS = ["tenant", "rule_id", "spec", "deleted", "version", "updated_at_ms"]


async def upsert_rules(wh: Warehouse, tenant: str, rules: list[Rule]) -> None:
    now = int(time.time() * 1000)
    rows = [[tenant, r.id, r.spec_json().decode(), 0, next_version(), now] for r in rules]
    await wh.ainsert(Table.alert_rules.value, rows, _RULE_COLS)


async def delete_rules(wh: Warehouse, tenant: str, rule_ids: list[str]) -> None:
    now = int(time.time() * 1000)
    await wh.ainsert(Table.alert_rules.value, [[tenant, i, "", 1, next_version(), now] for i in rule_ids], _RULE_COLS)


async def list_rules(wh: Warehouse, tenant: str | None = None, rule_id: str | None = None
                     ) -> list[tuple[str, Rule, int]]:
    """Live rules as (tenant, rule, updated_at_ms), of one tenant or (``None``) of all, by tenant and id."""
    where, params = _where({"tenant": ("tenant = {tenant:String}", tenant),
                            "rule_id": ("rule_id = {rule_id:String}", rule_id)}, "deleted = 0")
    res = await wh.aquery(
        f"SELECT tenant, spec, updated_at_ms FROM {Table.alert_rules.value} FINAL "
        f"WHERE {where} ORDER BY tenant, rule_id", params)
    return [(t, Rule.model_validate_json(spec, context=UNCHECKED), int(u)) for t, spec, u in res.result_rows]


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
    await wh.ainsert(Table.alert_states.value, [
        [r.tenant, r.fingerprint, r.rule.id, r.state.status.value, _state_json(r.state), r.rule.spec_json().decode(),
         next_version(), now] for r in rows
    ], ["tenant", "fingerprint", "rule_id", "status", "state", "alert", "version", "updated_at_ms"])


async def read_states(wh: Warehouse, tenant: str | None = None, status: Status | None = None
                      ) -> list[StateRow]:
    """Latest state of every alert (fingerprint), with the rule as it was when last evaluated."""
    where, params = _where({"tenant": ("tenant = {tenant:String}", tenant),
                            "status": ("status = {status:String}", status.value if status else None)})
    res = await wh.aquery(
        f"SELECT tenant, fingerprint, alert, state FROM {Table.alert_states.value} FINAL "
        f"WHERE {where} ORDER BY tenant, fingerprint", params)
    return [StateRow(t, fp, Rule.model_validate_json(a, context=UNCHECKED), _state_from_json(s)) for t, fp, a, s in res.result_rows]


_HISTORY_COLS = ["tenant", "fingerprint", "at_ms", "status", "prev_status", "rule_id", "rule_name", "metric", "window",
                 "value", "n", "ci_low", "ci_high", "threshold", "severity", "scope", "labels", "starts_at_ms",
                 "ends_at_ms", "silenced"]


#: Gap rules have no threshold; the column is not nullable (migration 0004), so NaN stands for none.
_NO_THRESHOLD = float("nan")


async def append_history(wh: Warehouse, rows: list[HistoryRow]) -> None:
    await wh.ainsert(Table.alert_history.value, [
        [r.tenant, r.fingerprint, r.at_ms, r.status.value, r.prev_status.value, r.rule.id, r.rule.name,
         r.rule.metric_name, r.rule.window, r.state.value, r.state.n, r.state.ci_low, r.state.ci_high,
         _NO_THRESHOLD if r.rule.threshold is None else r.rule.threshold, r.rule.severity.value,
         orjson.dumps(r.rule.scope).decode(),
         orjson.dumps(r.rule.labels).decode(), r.state.starts_at_ms, r.state.ends_at_ms, int(r.silenced)]
        for r in rows
    ], _HISTORY_COLS)


async def read_history(wh: Warehouse, tenant: str, status: Status | None = None, rule_id: str | None = None,
                       fingerprint: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
    """Transitions, newest first; scope and labels decoded."""
    where, params = _where({"tenant": ("tenant = {tenant:String}", tenant),
                            "status": ("status = {status:String}", status.value if status else None),
                            "rule_id": ("rule_id = {rule_id:String}", rule_id),
                            "fingerprint": ("fingerprint = {fingerprint:String}", fingerprint),
                            "from": ("at_ms >= {from:Int64}", from_ms), "to": ("at_ms < {to:Int64}", to_ms)})
    res = await wh.aquery(
        f"SELECT {', '.join(_HISTORY_COLS)} FROM {Table.alert_history.value} FINAL "
        f"WHERE {where} ORDER BY at_ms DESC, fingerprint LIMIT {{limit:UInt32}}", {**params, "limit": limit})
    out = []
    for row in res.result_rows:
        d = dict(zip(_HISTORY_COLS, row))
        d["scope"], d["labels"] = orjson.loads(d["scope"]), orjson.loads(d["labels"])
        d["silenced"] = bool(d["silenced"])
        if math.isnan(d["threshold"]):
            d["threshold"] = None
        out.append(d)
    return out


# -- silences -----------------------------------------------------------------------
_SILENCE_COLS = ["tenant", "silence_id", "rule_id", "matchers", "starts_at_ms", "ends_at_ms", "comment", "created_by",
                 "version"]


async def upsert_silence(wh: Warehouse, tenant: str, s: Silence) -> None:
    await wh.ainsert(Table.silences.value, [[
        tenant, s.id, s.rule_id, orjson.dumps(s.matchers).decode(), s.starts_at_ms, s.ends_at_ms, s.comment,
        s.created_by, next_version()]], _SILENCE_COLS)


async def list_silences(wh: Warehouse, tenant: str | None = None, active_at_ms: int | None = None,
                        silence_id: str | None = None) -> list[tuple[str, Silence]]:
    """Silences as (tenant, silence); ``active_at_ms`` keeps those active at that instant."""
    where, params = _where({"tenant": ("tenant = {tenant:String}", tenant),
                            "at": ("starts_at_ms <= {at:Int64} AND ends_at_ms > {at:Int64}", active_at_ms),
                            "sid": ("silence_id = {sid:String}", silence_id)})
    res = await wh.aquery(
        f"SELECT {', '.join(_SILENCE_COLS[:-1])} FROM {Table.silences.value} FINAL "
        f"WHERE {where} ORDER BY tenant, starts_at_ms, silence_id", params)
    return [(r[0], Silence(id=r[1], rule_id=r[2], matchers=orjson.loads(r[3]), starts_at_ms=r[4], ends_at_ms=r[5],
                           comment=r[6], created_by=r[7])) for r in res.result_rows]
