"""SQL of gap detection: the reads and writes of ``kpi_targets`` (DDL: ``warehouse.tables``, migration 0003).

Window reads go through :func:`warehouse.queries.read_windows`. Values are
bound (``{name:Type}``) or inserted through the client; identifiers come
only from ``Table`` and the dimension allowlist.

``kpi_targets`` is ``ReplacingMergeTree(version)`` keyed by
(tenant, metric, scope_key, valid_from_ms): putting the same target again
replaces it. ``scope_key`` is the canonical ``dim=value`` list of the scope
(allowlist order, ``\\x1f``-separated); the scope's values are also kept in
one column per dimension ('' = not part of the scope).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.dimensions import DIMENSIONS, validate_view
from warehouse.client import Warehouse
from warehouse.tables import Table

_INSERT_COLUMNS = ("tenant", "metric", "scope_key", *DIMENSIONS, "value", "valid_from_ms", "valid_to_ms", "version")


@dataclass(frozen=True, slots=True)
class TargetRow:
    metric: str
    scope: dict[str, str]
    value: float
    valid_from_ms: int
    valid_to_ms: int | None


def scope_key(scope: dict[str, str]) -> str:
    dims = validate_view(list(scope))
    return "\x1f".join(f"{d}={scope[d]}" for d in dims)


async def put_target(wh: Warehouse, tenant: str, target: TargetRow) -> None:
    """Insert or replace the target of (metric, scope, valid_from)."""
    validate_view(list(target.scope))
    row: list[Any] = [tenant, target.metric, scope_key(target.scope),
                      *(target.scope.get(d, "") for d in DIMENSIONS),
                      float(target.value), target.valid_from_ms, target.valid_to_ms, time.time_ns()]
    await wh.ainsert(Table.kpi_targets.value, [row], _INSERT_COLUMNS)


async def list_targets(wh: Warehouse, tenant: str, metric: str | None = None) -> list[TargetRow]:
    """The tenant's targets (latest version of each), optionally of one metric."""
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": tenant}
    if metric is not None:
        where.append("metric = {metric:String}")
        params["metric"] = metric
    cols = ["metric", *DIMENSIONS, "value", "valid_from_ms", "valid_to_ms", "scope_key"]
    res = await wh.aquery(
        f"SELECT {', '.join(cols)} FROM {Table.kpi_targets.value} FINAL WHERE {' AND '.join(where)} "
        "ORDER BY metric, scope_key, valid_from_ms",
        params,
    )
    n = len(DIMENSIONS)
    return [
        TargetRow(r[0], {**{d: v for d, v in zip(DIMENSIONS, r[1:1 + n]) if v}, **_custom_scope(r[-1])},
                  float(r[1 + n]), int(r[2 + n]), None if r[3 + n] is None else int(r[3 + n]))
        for r in res.result_rows
    ]


def _custom_scope(key: str) -> dict[str, str]:
    """The custom dimensions of a scope, from its ``scope_key`` (they have no column of their own)."""
    out = {}
    for part in key.split("\x1f") if key else ():
        name, _, value = part.partition("=")
        if name not in DIMENSIONS:
            out[name] = value
    return out


async def delete_target(wh: Warehouse, tenant: str, metric: str, scope: dict[str, str], valid_from_ms: int) -> bool:
    """Delete the target of (metric, scope, valid_from); False when there is none.

    A lightweight ``DELETE`` masks every version of the key at once (the table
    has no tombstone column); putting the same key again later is unaffected.
    """
    params: dict[str, Any] = {"tenant": tenant, "metric": metric, "scope_key": scope_key(scope),
                              "valid_from_ms": valid_from_ms}
    where = ("tenant = {tenant:String} AND metric = {metric:String} AND scope_key = {scope_key:String} "
             "AND valid_from_ms = {valid_from_ms:Int64}")
    found = await wh.aquery(f"SELECT count() FROM {Table.kpi_targets.value} WHERE {where}", params)
    if not found.result_rows[0][0]:
        return False
    await wh.acommand(f"DELETE FROM {Table.kpi_targets.value} WHERE {where}", params)
    return True
