"""Erasure of one customer's data: the deletes, and the ``erasures`` table that reports them (migration 0012).

An erasure has parts: part ``-1`` is what no shard owns — the closed loop (``cases``, their
``case_events`` and ``case_links``) and the customer's opt-out (``panel_opt_outs``) — erased by the API; part ``p >= 0`` is shard ``p`` of the ledger, erased by the worker
that owns the shard after it retracted the events from its windows (``stream_processors.erasure``).
Each part writes one row (``state`` ``deleting`` with its counts before it deletes, then ``done``), so
the erasure is done when every part is; the identities of the events it deletes go to
``erased_events`` first, which the ledger dedup and the case opener treat as already seen. Rows hold counts per table, never the customer. Deletes are
``ALTER TABLE … DELETE`` mutations waited for (``mutations_sync``): the ledger tables have projections,
which ClickHouse's lightweight ``DELETE FROM`` refuses. Values are bound; identifiers are ``Table``
members.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from warehouse.audit_queries import AuditEntry, record_audit
from warehouse.client import Warehouse
from warehouse.tables import LEDGER_TABLES, Table, event_key, next_version

__all__ = ["CASES_PART", "ERASURE_ACTION", "ErasurePart", "audit_if_complete", "delete_customer_events",
           "erase_customer_cases", "erase_customer_opt_outs", "erase_customer_unsharded", "erased_of", "erasure_parts", "is_complete", "record_erased", "record_part",
           "summed"]

CASES_PART = -1
ERASURE_ACTION = "erasure.run"
_COLUMNS = ("tenant", "erasure_id", "part", "shards", "state", "counts", "requested_at_ms", "actor", "at_ms",
            "version")
# Wait for the mutation on every replica: the erasure reports done only when the rows are gone.
_SYNC = " SETTINGS mutations_sync = 2"


@dataclass(frozen=True)
class ErasurePart:
    tenant: str
    erasure_id: str
    part: int
    #: partitions the command went to: the shard parts an erasure needs to be done
    shards: int
    state: str  # "deleting" | "done"
    requested_at_ms: int
    actor: str
    counts: dict[str, int] = field(default_factory=dict)
    at_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)


async def record_part(wh: Warehouse, part: ErasurePart) -> None:
    await wh.ainsert(Table.erasures.value, [[
        part.tenant, part.erasure_id, part.part, part.shards, part.state,
        orjson.dumps(part.counts, option=orjson.OPT_SORT_KEYS).decode(), part.requested_at_ms, part.actor,
        part.at_ms, next_version()]], _COLUMNS)


async def erasure_parts(wh: Warehouse, tenant: str, erasure_id: str) -> list[ErasurePart]:
    """The parts reported so far, by part number (the latest report of each)."""
    res = await wh.aquery(
        f"SELECT {', '.join(_COLUMNS[:-1])} FROM {Table.erasures.value} FINAL "
        "WHERE tenant = {tenant:String} AND erasure_id = {id:String} ORDER BY part",
        {"tenant": tenant, "id": erasure_id})
    return [ErasurePart(tenant=r[0], erasure_id=r[1], part=r[2], shards=r[3], state=r[4], counts=orjson.loads(r[5]),
                        requested_at_ms=r[6], actor=r[7], at_ms=r[8]) for r in res.result_rows]


async def record_erased(wh: Warehouse, erasure_id: str, events: list[tuple[str, int, str, str]]) -> None:
    """Remember the identities ``(tenant, event_key, source, event_id)`` of events about to be deleted."""
    now = time.time_ns() // 1_000_000
    await wh.ainsert(Table.erased_events.value, [[t, k, s, e, erasure_id, now] for t, k, s, e in events],
                     ("tenant", "event_key", "source", "event_id", "erasure_id", "at_ms"))


async def erased_of(wh: Warehouse, events: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Which of ``(tenant, source, event_id)`` were erased (the case opener skips their replays)."""
    if not events:
        return set()
    res = await wh.aquery(
        f"SELECT tenant, source, event_id FROM {Table.erased_events.value} "
        "WHERE tenant IN {tenants:Array(String)} AND event_key IN {keys:Array(UInt64)}",
        {"tenants": sorted({t for t, _, _ in events}), "keys": [event_key(*e) for e in events]})
    wanted = set(events)
    return {k for k in map(tuple, res.result_rows) if k in wanted}


async def customer_outcomes(wh: Warehouse, shard: int, tenant: str, customer: str) -> list[tuple[str, int, str, str]]:
    """Identities ``(tenant, event_key, source, event_id)`` of the customer's outcomes of one shard (each once)."""
    res = await wh.aquery(
        f"SELECT DISTINCT tenant, event_key, source, event_id FROM {Table.outcomes.value} "
        "WHERE tenant = {tenant:String} AND customer = {customer:String} AND kafka_partition = {shard:UInt16} "
        "ORDER BY event_key, source, event_id", {"shard": shard, "tenant": tenant, "customer": customer})
    return [tuple(r) for r in res.result_rows]  # type: ignore[misc]


async def delete_customer_events(wh: Warehouse, shard: int, tenant: str, customer: str) -> None:
    """Delete every version of the customer's events of one shard from the ledger tables and the outcomes."""
    params = {"shard": shard, "tenant": tenant, "customer": customer}
    for table in (*LEDGER_TABLES, Table.outcomes):
        await wh.acommand(
            f"ALTER TABLE {table.value} DELETE WHERE tenant = {{tenant:String}} AND customer = {{customer:String}} "
            "AND kafka_partition = {shard:UInt16}" + _SYNC, params)


async def erase_customer_cases(wh: Warehouse, tenant: str, customer: str) -> dict[str, int]:
    """Delete the customer's cases, their events and every link to them; the rows removed per table
    (one per case, link and transition, as the API lists them)."""
    params: dict[str, Any] = {"tenant": tenant, "customer": customer}
    res = await wh.aquery(f"SELECT case_id FROM {Table.cases.value} FINAL "
                          "WHERE tenant = {tenant:String} AND customer = {customer:String}", params)
    params["ids"] = sorted({r[0] for r in res.result_rows})
    of_cases = "tenant = {tenant:String} AND case_id IN {ids:Array(String)}"
    links = "tenant = {tenant:String} AND (customer = {customer:String} OR case_id IN {ids:Array(String)})"
    counts = {Table.cases.value: len(params["ids"])}
    for table, where in ((Table.case_events, of_cases), (Table.case_links, links)):
        res = await wh.aquery(f"SELECT count() FROM {table.value} FINAL WHERE {where}", params)
        counts[table.value] = int(res.result_rows[0][0])
    for table, where in ((Table.case_events, of_cases), (Table.case_links, links),
                         (Table.cases, "tenant = {tenant:String} AND customer = {customer:String}")):
        if counts[table.value]:
            await wh.acommand(f"ALTER TABLE {table.value} DELETE WHERE {where}" + _SYNC, params)
    return counts


async def erase_customer_opt_outs(wh: Warehouse, tenant: str, customer: str) -> dict[str, int]:
    """Delete every version of the customer's opt-out row; the rows removed as the table reads (0 or 1)."""
    params = {"tenant": tenant, "customer": customer}
    where = "tenant = {tenant:String} AND customer = {customer:String}"
    res = await wh.aquery(f"SELECT count() FROM {Table.panel_opt_outs.value} FINAL WHERE {where}", params)
    n = int(res.result_rows[0][0])
    if n:
        await wh.acommand(f"ALTER TABLE {Table.panel_opt_outs.value} DELETE WHERE {where}" + _SYNC, params)
    return {Table.panel_opt_outs.value: n}


async def erase_customer_unsharded(wh: Warehouse, tenant: str, customer: str) -> dict[str, int]:
    """Part ``-1``: the customer's rows in the tables no shard owns (cases and their links and events,
    the opt-out); the rows removed per table."""
    return {**await erase_customer_cases(wh, tenant, customer), **await erase_customer_opt_outs(wh, tenant, customer)}


def summed(parts: list[ErasurePart]) -> dict[str, int]:
    """Rows removed per table over every part reported."""
    out: dict[str, int] = {}
    for p in parts:
        for table, n in p.counts.items():
            out[table] = out.get(table, 0) + n
    return dict(sorted(out.items()))


def is_complete(parts: list[ErasurePart]) -> bool:
    """The cases part and every shard part reported done."""
    if not parts:
        return False
    done = {p.part for p in parts if p.state == "done"}
    return {CASES_PART, *range(parts[0].shards)} <= done


async def audit_if_complete(wh: Warehouse, tenant: str, erasure_id: str) -> bool:
    """Write the erasure's audit entry if every part is done. Its id is the erasure id and its time the
    request's, so parts finishing together (or a retry) write the same row, which the log keeps once."""
    parts = await erasure_parts(wh, tenant, erasure_id)
    if not is_complete(parts):
        return False
    first = parts[0]
    await record_audit(wh, AuditEntry(tenant=tenant, actor=first.actor, action=ERASURE_ACTION, target=erasure_id,
                                      details=summed(parts), at_ms=first.requested_at_ms, entry_id=erasure_id))
    return True
