"""The reads and writes of the webhooks feature (tables and DDL: ``warehouse.tables``, migrations 0002, 0006).

Values are bound (``{name:Type}``); the only identifiers are ``Table`` members and fixed column lists.

Row types are plain dataclasses so the delivery code does not depend on the
API models. Subscriptions and dead letters are versioned rows
(``ReplacingMergeTree(version)``), read with ``FINAL``; every change writes a
whole new row with a larger version.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from warehouse.client import Warehouse
from warehouse.tables import Table, next_version

T = TypeVar("T")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True)
class SubscriptionRow:
    tenant: str
    id: str
    url: str
    event_types: tuple[str, ...]
    filters: dict[str, str]
    secret: str
    description: str = ""
    enabled: bool = True
    disabled_reason: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    deleted: bool = False
    format: str = "cloudevents"  # schemas.webhooks.BodyFormat (column added by migration 0006)

    def changed(self, **changes) -> "SubscriptionRow":
        return replace(self, updated_at=datetime.now(timezone.utc), **changes)


_SUB_COLUMNS = ("tenant", "id", "url", "event_types", "filters", "secret", "description", "enabled",
                "disabled_reason", "created_at", "updated_at", "deleted", "format")


@dataclass(frozen=True)
class AttemptRow:
    tenant: str
    subscription_id: str
    delivery_id: str
    event_id: str
    event_type: str
    attempt: int
    status: str
    http_status: int | None
    error: str
    attempted_at: float  # unix seconds
    duration_ms: int
    next_attempt_at: float | None = None


_ATTEMPT_COLUMNS = tuple(AttemptRow.__dataclass_fields__)


@dataclass(frozen=True)
class DeadLetterRow:
    tenant: str
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    http_status: int | None
    error: str
    dead_at: float  # unix seconds
    state: str = "dead"


_DL_COLUMNS = tuple(DeadLetterRow.__dataclass_fields__)


def _latest(table: Table, columns: tuple[str, ...]) -> str:
    """``SELECT`` of the latest version of ``table``'s rows (``FINAL``); the caller adds ``WHERE``."""
    return f"SELECT {', '.join(columns)} FROM {table.value} FINAL "


async def _first(wh: Warehouse, sql: str, params: dict[str, Any], decode: Callable[[tuple], T]) -> T | None:
    """The first row ``sql`` returns, decoded; ``None`` when it returns none."""
    rows = (await wh.aquery(sql, params)).result_rows
    return decode(rows[0]) if rows else None


# -- subscriptions -------------------------------------------------------------
async def put_subscription(wh: Warehouse, sub: SubscriptionRow) -> None:
    row = [getattr(sub, c) for c in _SUB_COLUMNS]
    row[3] = list(sub.event_types)
    row[11] = int(sub.deleted)
    await wh.ainsert(Table.webhook_subscriptions.value, [[*row, next_version()]], [*_SUB_COLUMNS, "version"])


def _sub(row: tuple) -> SubscriptionRow:
    d = dict(zip(_SUB_COLUMNS, row))
    d["event_types"] = tuple(d["event_types"])
    d["filters"] = dict(d["filters"])
    d["enabled"] = bool(d["enabled"])
    d["deleted"] = bool(d["deleted"])
    for k in ("created_at", "updated_at"):
        if d[k].tzinfo is None:
            d[k] = d[k].replace(tzinfo=timezone.utc)
    return SubscriptionRow(**d)


async def get_subscription(wh: Warehouse, tenant: str, sub_id: str) -> SubscriptionRow | None:
    return await _first(wh, _latest(Table.webhook_subscriptions, _SUB_COLUMNS)
                        + "WHERE tenant = {tenant:String} AND id = {id:String} AND deleted = 0",
                        {"tenant": tenant, "id": sub_id}, _sub)


async def list_subscriptions(wh: Warehouse, tenant: str, enabled_only: bool = False) -> list[SubscriptionRow]:
    res = await wh.aquery(
        _latest(Table.webhook_subscriptions, _SUB_COLUMNS)
        + "WHERE tenant = {tenant:String} AND deleted = 0 AND (enabled OR NOT {enabled_only:Bool}) "
        "ORDER BY created_at, id",
        {"tenant": tenant, "enabled_only": enabled_only},
    )
    return [_sub(r) for r in res.result_rows]


# -- the attempt log -----------------------------------------------------------
async def record_attempts(wh: Warehouse, attempts: list[AttemptRow]) -> None:
    rows = []
    for a in attempts:
        d = asdict(a)
        d["attempted_at"] = utc(a.attempted_at)
        d["next_attempt_at"] = utc(a.next_attempt_at) if a.next_attempt_at is not None else None
        rows.append([d[c] for c in _ATTEMPT_COLUMNS])
    await wh.ainsert(Table.webhook_deliveries.value, rows, _ATTEMPT_COLUMNS)


async def list_attempts(wh: Warehouse, tenant: str, subscription_id: str, *, delivery_id: str | None = None,
                        status: str | None = None, limit: int = 100, offset: int = 0) -> list[AttemptRow]:
    res = await wh.aquery(
        f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM {Table.webhook_deliveries.value} "
        "WHERE tenant = {tenant:String} AND subscription_id = {sub:String} "
        "AND ({delivery:Nullable(String)} IS NULL OR delivery_id = {delivery:Nullable(String)}) "
        "AND ({status:Nullable(String)} IS NULL OR status = {status:Nullable(String)}) "
        "ORDER BY attempted_at DESC, delivery_id, attempt DESC LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {"tenant": tenant, "sub": subscription_id, "delivery": delivery_id, "status": status,
         "limit": limit, "offset": offset},
    )
    out = []
    for r in res.result_rows:
        d = dict(zip(_ATTEMPT_COLUMNS, r))
        d["attempted_at"] = _ts(d["attempted_at"])
        d["next_attempt_at"] = _ts(d["next_attempt_at"]) if d["next_attempt_at"] is not None else None
        out.append(AttemptRow(**d))
    return out


def _ts(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


# -- dead letters --------------------------------------------------------------
async def put_dead_letter(wh: Warehouse, dl: DeadLetterRow) -> None:
    d = asdict(dl)
    d["dead_at"] = utc(dl.dead_at)
    d["body"] = dl.body.decode("utf-8", errors="replace")
    await wh.ainsert(Table.webhook_dead_letters.value, [[*(d[c] for c in _DL_COLUMNS), next_version()]],
                     [*_DL_COLUMNS, "version"])


def _dl(row: tuple) -> DeadLetterRow:
    d = dict(zip(_DL_COLUMNS, row))
    d["dead_at"] = _ts(d["dead_at"])
    d["body"] = d["body"].encode()
    return DeadLetterRow(**d)


async def get_dead_letter(wh: Warehouse, tenant: str, delivery_id: str) -> DeadLetterRow | None:
    return await _first(wh, _latest(Table.webhook_dead_letters, _DL_COLUMNS)
                        + "WHERE tenant = {tenant:String} AND delivery_id = {id:String}",
                        {"tenant": tenant, "id": delivery_id}, _dl)


async def list_dead_letters(wh: Warehouse, tenant: str, subscription_id: str | None = None,
                            state: str | None = None, limit: int = 100) -> list[DeadLetterRow]:
    res = await wh.aquery(
        _latest(Table.webhook_dead_letters, _DL_COLUMNS)
        + "WHERE tenant = {tenant:String} "
        "AND ({sub:Nullable(String)} IS NULL OR subscription_id = {sub:Nullable(String)}) "
        "AND ({state:Nullable(String)} IS NULL OR state = {state:Nullable(String)}) "
        "ORDER BY dead_at DESC LIMIT {limit:UInt32}",
        {"tenant": tenant, "sub": subscription_id, "state": state, "limit": limit},
    )
    return [_dl(r) for r in res.result_rows]


async def set_dead_letter_state(wh: Warehouse, tenant: str, delivery_id: str, state: str) -> DeadLetterRow | None:
    dl = await get_dead_letter(wh, tenant, delivery_id)
    if dl is None:
        return None
    dl = replace(dl, state=state)
    await put_dead_letter(wh, dl)
    return dl


