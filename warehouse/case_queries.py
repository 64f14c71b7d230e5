"""The reads and writes of the closed loop (``cases`` does no I/O, so its store lives here).

The tables and their DDL are ``warehouse.tables`` (migration 0005). Values are bound
(``{name:Type}``); the only identifiers are ``Table`` members and fixed column lists. Three tables:

* ``cases`` — the facts a case is opened with (immutable; ``ReplacingMergeTree(version)`` on
  (tenant, case_id), so re-writing a replayed opening is harmless);
* ``case_events`` — append-only transitions (``acknowledged``, ``closed``, ``escalated``); the
  current state is folded on read (the first event of each kind wins), so an API acknowledgement
  and the escalation timer never overwrite each other;
* ``case_links`` — every response that opened or was suppressed into a case, keyed by the
  response key: the idempotency ledger of the ``case-opener`` agent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from cases.state import Case, CaseState
from warehouse.client import Warehouse
from warehouse.tables import Table, next_version

__all__ = ["DurationStats", "CaseStats", "EventKind", "append_event", "case_stats", "get_case",
           "insert_case", "insert_cases", "insert_links", "known_responses", "known_responses_of", "link_response",
           "LinkRow", "list_cases", "open_cases_of_customer", "open_cases_of_customers", "opened_link", "overdue_cases"]


class EventKind(str, Enum):
    acknowledged = "acknowledged"
    closed = "closed"
    escalated = "escalated"


# -- writes -------------------------------------------------------------------------
_CASE_COLS = ["tenant", "case_id", "response_key", "response_id", "response_source", "customer", "scope", "scope_key",
              "owner", "severity", "reasons", "opened_at_ms", "due_at_ms", "responded_at_ms", "interaction_id",
              "survey_id", "nps", "csat", "ces", "fcr", "comment"]


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One response linked to a case: ``opened`` it, or ``absorbed`` into it (suppression)."""

    tenant: str
    response_key: str
    case_id: str
    customer: str
    kind: str
    at_ms: int
    responded_at_ms: int


_LINK_COLS = ["tenant", "response_key", "case_id", "customer", "kind", "at_ms", "responded_at_ms"]


def _case_row(case: Case) -> list[Any]:
    fcr = None if case.fcr is None else int(case.fcr)
    return [case.tenant, case.id, case.response_key, case.response_id, case.response_source, case.customer,
            orjson.dumps(case.scope).decode(), case.scope_key, case.owner, case.severity, list(case.reasons),
            case.opened_at_ms, case.due_at_ms, case.responded_at_ms, case.interaction_id, case.survey_id, case.nps,
            case.csat, case.ces, fcr, case.comment, next_version()]


def opened_link(case: Case) -> LinkRow:
    return LinkRow(case.tenant, case.response_key, case.id, case.customer, "opened", case.opened_at_ms,
                   case.responded_at_ms)


async def insert_cases(wh: Warehouse, cases: list[Case]) -> None:
    """Store new cases in one insert. Replaying it is harmless (``ReplacingMergeTree`` on the case id)."""
    if cases:
        await wh.ainsert(Table.cases.value, [_case_row(c) for c in cases], [*_CASE_COLS, "version"])


async def insert_links(wh: Warehouse, links: list[LinkRow]) -> None:
    """Store response links in one insert (``ReplacingMergeTree`` on the response key: replays are harmless)."""
    if links:
        await wh.ainsert(Table.case_links.value, [[getattr(ln, c) for c in _LINK_COLS] for ln in links], _LINK_COLS)


async def insert_case(wh: Warehouse, case: Case) -> None:
    """Store a new case, then link its response (the order makes a crash in between harmless:
    ``known_responses`` also looks at case ids)."""
    await insert_cases(wh, [case])
    await insert_links(wh, [opened_link(case)])


async def link_response(wh: Warehouse, tenant: str, response_key: str, case_id: str, customer: str, kind: str,
                        at_ms: int, responded_at_ms: int) -> None:
    await insert_links(wh, [LinkRow(tenant, response_key, case_id, customer, kind, at_ms, responded_at_ms)])


async def append_event(wh: Warehouse, tenant: str, case_id: str, kind: EventKind | str, at_ms: int, actor: str = "",
                       note: str = "") -> None:
    await wh.ainsert(Table.case_events.value, [[tenant, case_id, EventKind(kind).value, at_ms, actor, note]],
                     ["tenant", "case_id", "kind", "at_ms", "actor", "note"])


# -- reads --------------------------------------------------------------------------
_FOLDED = f"""SELECT {{c_cols}}, e.acked_at_ms, e.acked_by, e.closed_at_ms, e.closed_by, e.resolution,
    e.escalated_at_ms, l.absorbed,
    multiIf(e.closed_at_ms IS NOT NULL, 'closed', e.acked_at_ms IS NOT NULL, 'acknowledged', 'open') AS state
FROM (SELECT {', '.join(_CASE_COLS)} FROM {Table.cases.value} FINAL WHERE {{case_where}}) AS c
LEFT JOIN (
    SELECT tenant, case_id,
        minIfOrNull(at_ms, kind = 'acknowledged') AS acked_at_ms,
        argMinIf(actor, at_ms, kind = 'acknowledged') AS acked_by,
        minIfOrNull(at_ms, kind = 'closed') AS closed_at_ms,
        argMinIf(actor, at_ms, kind = 'closed') AS closed_by,
        argMinIf(note, at_ms, kind = 'closed') AS resolution,
        minIfOrNull(at_ms, kind = 'escalated') AS escalated_at_ms
    FROM {Table.case_events.value} WHERE {{linked}} GROUP BY tenant, case_id
) AS e ON c.tenant = e.tenant AND c.case_id = e.case_id
LEFT JOIN (
    SELECT tenant, case_id, countIf(kind = 'absorbed') AS absorbed
    FROM {Table.case_links.value} FINAL WHERE {{linked}} GROUP BY tenant, case_id
) AS l ON c.tenant = l.tenant AND c.case_id = l.case_id"""

_OUT_COLS = [*_CASE_COLS, "acked_at_ms", "acked_by", "closed_at_ms", "closed_by", "resolution", "escalated_at_ms",
             "absorbed", "state"]


def _folded(case_where: list[str]) -> str:
    """Cases matching ``case_where`` (conditions on ``cases`` columns) with their state folded from events."""
    where = " AND ".join(case_where) or "1"
    linked = f"(tenant, case_id) IN (SELECT tenant, case_id FROM {Table.cases.value} WHERE {where})"
    c_cols = ", ".join(f"c.{col} AS {col}" for col in _CASE_COLS)
    return _FOLDED.replace("{case_where}", where).replace("{linked}", linked).replace("{c_cols}", c_cols)


def _case(row: tuple) -> Case:
    d = dict(zip(_OUT_COLS, row))
    return Case(
        tenant=d["tenant"], id=d["case_id"], response_key=d["response_key"], response_id=d["response_id"],
        response_source=d["response_source"], customer=d["customer"], scope=orjson.loads(d["scope"]),
        scope_key=d["scope_key"], owner=d["owner"], severity=d["severity"], reasons=tuple(d["reasons"]),
        opened_at_ms=int(d["opened_at_ms"]), due_at_ms=int(d["due_at_ms"]), responded_at_ms=int(d["responded_at_ms"]),
        interaction_id=d["interaction_id"], survey_id=d["survey_id"], nps=d["nps"], csat=d["csat"], ces=d["ces"],
        fcr=None if d["fcr"] is None else bool(d["fcr"]), comment=d["comment"], state=CaseState(d["state"]),
        acked_at_ms=d["acked_at_ms"], acked_by=d["acked_by"] or "", closed_at_ms=d["closed_at_ms"],
        closed_by=d["closed_by"] or "", resolution=d["resolution"] or "", escalated_at_ms=d["escalated_at_ms"],
        absorbed=int(d["absorbed"] or 0),
    )


async def _select(wh: Warehouse, case_where: list[str], outer_where: list[str], params: dict[str, Any],
                  order: str = "opened_at_ms DESC, case_id", limit: int | None = None) -> list[Case]:
    sql = (f"SELECT {', '.join(_OUT_COLS)} FROM ({_folded(case_where)}) "
           f"WHERE {' AND '.join(outer_where) or '1'} ORDER BY {order}")
    if limit is not None:
        sql += " LIMIT {limit:UInt32}"
        params = {**params, "limit": limit}
    res = await wh.aquery(sql, params)
    return [_case(r) for r in res.result_rows]


async def get_case(wh: Warehouse, tenant: str, case_id: str) -> Case | None:
    found = await _select(wh, ["tenant = {tenant:String}", "case_id = {case_id:String}"], [],
                          {"tenant": tenant, "case_id": case_id})
    return found[0] if found else None


async def list_cases(wh: Warehouse, tenant: str, state: CaseState | None = None, owner: str | None = None,
                     escalated: bool | None = None, limit: int = 100) -> list[Case]:
    """A tenant's cases, newest first."""
    outer, params = [], {"tenant": tenant}
    if state is not None:
        outer.append("state = {state:String}")
        params["state"] = state.value
    if owner is not None:
        outer.append("owner = {owner:String}")
        params["owner"] = owner
    if escalated is not None:
        outer.append("escalated_at_ms IS NOT NULL" if escalated else "escalated_at_ms IS NULL")
    return await _select(wh, ["tenant = {tenant:String}"], outer, params, limit=limit)


async def _rows_of_pairs(wh: Warehouse, pairs: list[tuple[str, str]], others: str, sql: str
                         ) -> tuple[set[tuple[str, str]], list[tuple]]:
    """The distinct (tenant, x) pairs, and the rows ``sql`` returns for them (no query when there are
    none). The pairs are bound as two arrays, ``tenants`` and ``others``: cheap to bind (as
    ``queries.stored_events`` does), but a row matching both need not be one of the pairs, so the
    caller confirms each row against the pairs returned."""
    wanted = set(pairs)
    if not wanted:
        return wanted, []
    res = await wh.aquery(sql, {"tenants": sorted({t for t, _ in wanted}), others: sorted({x for _, x in wanted})})
    return wanted, res.result_rows


async def open_cases_of_customer(wh: Warehouse, tenant: str, customer: str) -> list[Case]:
    """Not-closed cases of one customer (suppression candidates), oldest first."""
    return (await open_cases_of_customers(wh, [(tenant, customer)])).get((tenant, customer), [])


async def open_cases_of_customers(wh: Warehouse, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[Case]]:
    """Not-closed cases of many (tenant, customer) pairs in one query: the suppression candidates of a
    batch, oldest first per pair. The hot path of the ``case-opener`` agent, so it reads ``cases`` alone
    minus the closed ones and does not fold the other transitions: the cases come back as ``open``
    even when acknowledged or escalated (suppression only asks "not closed"; ``get_case`` gives the
    full state)."""
    wanted, rows = await _rows_of_pairs(
        wh, pairs, "customers",
        f"SELECT {', '.join(_CASE_COLS)} FROM {Table.cases.value} FINAL "
        "WHERE tenant IN {tenants:Array(String)} AND customer IN {customers:Array(String)} "
        f"AND (tenant, case_id) NOT IN (SELECT tenant, case_id FROM {Table.case_events.value} "
        "WHERE tenant IN {tenants:Array(String)} AND kind = 'closed') ORDER BY opened_at_ms, case_id")
    out: dict[tuple[str, str], list[Case]] = {}
    for row in rows:
        case = _case((*row, None, "", None, "", "", None, 0, CaseState.open.value))
        if (case.tenant, case.customer) in wanted:
            out.setdefault((case.tenant, case.customer), []).append(case)
    return out


async def known_responses(wh: Warehouse, tenant: str, response_keys: list[str]) -> dict[str, str]:
    """Response key -> case id, for the responses already linked to a case (or that opened one)."""
    found = await known_responses_of(wh, [(tenant, k) for k in response_keys])
    return {k: c for (_, k), c in found.items()}


async def known_responses_of(wh: Warehouse, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(tenant, response key) -> case id for the responses already linked to a case or that opened one,
    over any number of tenants in one query. Cases count too, so a crash between storing a case and
    its link never lets a replay open it again."""
    wanted, rows = await _rows_of_pairs(
        wh, keys, "keys",
        f"SELECT tenant, response_key, case_id FROM {Table.case_links.value} FINAL "
        "WHERE tenant IN {tenants:Array(String)} AND response_key IN {keys:Array(String)} "
        f"UNION ALL SELECT tenant, case_id, case_id FROM {Table.cases.value} FINAL "
        "WHERE tenant IN {tenants:Array(String)} AND case_id IN {keys:Array(String)}")
    return {(t, k): c for t, k, c in rows if (t, k) in wanted}


async def overdue_cases(wh: Warehouse, now_ms: int, limit: int = 10_000) -> list[Case]:
    """Every tenant's not-closed, not-yet-escalated cases past their SLA, oldest due first."""
    return await _select(wh, [],
                         ["state != 'closed'", "escalated_at_ms IS NULL", "due_at_ms <= {now:Int64}"],
                         {"now": now_ms}, order="due_at_ms, tenant, case_id", limit=limit)


# -- stats --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DurationStats:
    n: int
    mean_s: float | None
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class CaseStats:
    opened: int
    open: int
    acknowledged: int
    closed: int
    escalated: int
    breached: int
    breached_open: int
    time_to_acknowledge: DurationStats
    time_to_close: DurationStats


def _durations(n: int, mean: float | None, qs: list[float]) -> DurationStats:
    if not n:
        return DurationStats(0, None, None, None)
    return DurationStats(int(n), float(mean) / 1000, float(qs[0]) / 1000, float(qs[1]) / 1000)


async def case_stats(wh: Warehouse, tenant: str, from_ms: int, to_ms: int, now_ms: int | None = None) -> CaseStats:
    """KPIs of the cases opened in [from_ms, to_ms): counts, SLA breaches (closed late, or still not
    closed past the due time at ``now_ms``) and time-to-acknowledge / time-to-close (seconds)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    sql = f"""SELECT count(), countIf(state = 'open'), countIf(state = 'acknowledged'), countIf(state = 'closed'),
    countIf(escalated_at_ms IS NOT NULL),
    countIf(coalesce(closed_at_ms, {{now:Int64}}) > due_at_ms),
    countIf(closed_at_ms IS NULL AND {{now:Int64}} > due_at_ms),
    count(acked_at_ms - opened_at_ms), avg(acked_at_ms - opened_at_ms),
    quantilesExact(0.5, 0.9)(acked_at_ms - opened_at_ms),
    count(closed_at_ms - opened_at_ms), avg(closed_at_ms - opened_at_ms),
    quantilesExact(0.5, 0.9)(closed_at_ms - opened_at_ms)
FROM ({_folded(["tenant = {tenant:String}", "opened_at_ms >= {from:Int64}", "opened_at_ms < {to:Int64}"])})"""
    res = await wh.aquery(sql, {"tenant": tenant, "from": from_ms, "to": to_ms, "now": now_ms})
    r = res.result_rows[0]
    return CaseStats(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]),
                     _durations(r[7], r[8], r[9]), _durations(r[10], r[11], r[12]))
