"""The reads and writes of API keys as data (tables ``api_keys`` and ``api_key_usage``, migration 0011).

A key row holds the SHA-256 of the token (``core.api_keys``), never the token. Rows are versioned
(``ReplacingMergeTree(version)``, read with ``FINAL``): creating, rotating or revoking writes a whole
new row. Last use is a separate table whose version is the time itself, so batched last-used writes
never replace a revocation and the latest use wins. Every query is scoped by tenant; values are
bound, the only identifiers are ``Table`` members and fixed column lists.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from warehouse.client import Warehouse
from warehouse.tables import Table, next_version

__all__ = ["KeyRow", "get_key", "last_used", "list_keys", "put_key", "record_use"]

_COLUMNS = ("tenant", "key_id", "hash", "name", "scopes", "rate_per_s", "burst", "created_at_ms", "created_by",
            "expires_at_ms", "revoked_at_ms", "rotated_to")


@dataclass(frozen=True)
class KeyRow:
    tenant: str
    key_id: str
    hash: str
    name: str
    scopes: tuple[str, ...]
    rate_per_s: float | None
    burst: int | None
    created_at_ms: int
    created_by: str
    expires_at_ms: int | None = None
    #: from this time on the key is refused (a rotation's grace period sets it in the future)
    revoked_at_ms: int | None = None
    #: the key that replaced this one by rotation
    rotated_to: str = ""

    def changed(self, **changes: Any) -> "KeyRow":
        return replace(self, **changes)


def _row(k: KeyRow) -> list[Any]:
    return [k.tenant, k.key_id, k.hash, k.name, list(k.scopes), k.rate_per_s, k.burst, k.created_at_ms,
            k.created_by, k.expires_at_ms, k.revoked_at_ms, k.rotated_to, next_version()]


def _key(r: tuple) -> KeyRow:
    return KeyRow(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11])


async def put_key(wh: Warehouse, *keys: KeyRow) -> None:
    """Store ``keys`` (new rows, or new versions of existing ones) in one insert."""
    await wh.ainsert(Table.api_keys.value, [_row(k) for k in keys], (*_COLUMNS, "version"))


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {Table.api_keys.value} FINAL WHERE tenant = {{tenant:String}}"


async def get_key(wh: Warehouse, tenant: str, key_id: str) -> KeyRow | None:
    rows = (await wh.aquery(_SELECT + " AND key_id = {key_id:String}", {"tenant": tenant, "key_id": key_id}))
    return _key(rows.result_rows[0]) if rows.result_rows else None


async def list_keys(wh: Warehouse, tenant: str) -> list[KeyRow]:
    """The tenant's keys, revoked ones too, oldest first."""
    rows = await wh.aquery(_SELECT + " ORDER BY created_at_ms, key_id", {"tenant": tenant})
    return [_key(r) for r in rows.result_rows]


async def record_use(wh: Warehouse, uses: dict[tuple[str, str], int]) -> None:
    """``(tenant, key_id) -> last used (ms)``, in one insert (the API's batched flush)."""
    if uses:
        await wh.ainsert(Table.api_key_usage.value, [[t, k, ms] for (t, k), ms in uses.items()],
                         ("tenant", "key_id", "last_used_at_ms"))


async def last_used(wh: Warehouse, tenant: str) -> dict[str, int]:
    """``key_id -> last used (ms)`` of the tenant's keys that were ever used."""
    rows = await wh.aquery(f"SELECT key_id, max(last_used_at_ms) FROM {Table.api_key_usage.value} "
                           "WHERE tenant = {tenant:String} GROUP BY key_id", {"tenant": tenant})
    return {r[0]: r[1] for r in rows.result_rows}
