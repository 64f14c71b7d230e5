"""Batched, idempotent writes of KPI windows and ledger rows.

``KpiWriter.add_*`` buffers, ``flush()`` writes: window cells first (``kpi_windows``, then the
rated aspects of those cells in ``aspect_windows``), then the ledger (a crash between the two leaves the ledger without the batch, so the
replay applies it again onto windows rebuilt from the ledger; see
``stream_processors.checkpoint``). Rows travel as JSONCompactEachRow built with orjson:
on chDB and over HTTP this is the cheapest path from Python dicts.

A failed write is retried with exponential backoff until it succeeds: the
caller must not let Kafka offsets move past data that is not stored, so there
is no "give up and drop" path. While it waits, the Faust stream stops pulling
records: that is the backpressure.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import orjson

from core import metrics
from kpi.counts import KpiCounts
from core.dimensions import DIMENSIONS, custom_dimensions
from schemas.records import ATTRIBUTED, EVENT_KEY, OFFSET, SHARD, Record, effective_dims
from warehouse.client import Warehouse
from core.errors import WarehouseError
from warehouse.tables import (
    ASPECT_WINDOW_INSERT_COLUMNS, LEDGER_COLUMNS, OUTCOME_INSERT_COLUMNS, TABLE_OF_TYPE, WINDOW_INSERT_COLUMNS, Table,
    ledger_insert_columns,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class WindowUpdate:
    """Full (not delta) counters of one window cell, owned by one shard."""

    tenant: str
    size: str
    view: str
    window_start_s: int
    dims: dict[str, str]
    shard: int
    counts: KpiCounts


@dataclass
class FlushStats:
    ledger_rows: int = 0
    window_rows: int = 0
    seconds: float = 0.0
    retries: int = 0


@dataclass
class KpiWriter:
    warehouse: Warehouse
    max_backoff_s: float = 30.0
    _ledger: dict[Table, list[Record]] = field(default_factory=dict)
    _windows: list[WindowUpdate] = field(default_factory=list)
    _outcomes: list[Record] = field(default_factory=list)

    def add_ledger(self, record: Record) -> None:
        self._ledger.setdefault(TABLE_OF_TYPE[record["type"]], []).append(record)

    def add_outcome(self, record: Record) -> None:
        """A ``cx.outcome.v1`` record (``EVENT_KEY``, ``SHARD`` and ``OFFSET`` set) for the outcome ledger."""
        self._outcomes.append(record)

    def add_window(self, update: WindowUpdate) -> None:
        self._windows.append(update)

    async def flush(self, version: int | None = None) -> FlushStats:
        """Write everything buffered: windows first, then the ledger. Retries until stored.

        ``version``: the rows' version, the clock by default (``warehouse.view_backfill`` writes
        the lowest one)."""
        stats = FlushStats()
        started = time.perf_counter()
        version = time.time_ns() if version is None else version
        try:
            if self._windows:
                body = b"\n".join(_window_row(u, version) for u in self._windows)
                stats.retries += await self._write(Table.kpi_windows.value, WINDOW_INSERT_COLUMNS, body)
                stats.window_rows = len(self._windows)
                # The cells' aspects, every entry (a retracted one as zero, so its stored row follows),
                # still before the ledger: a crash between the two is a crash before the ledger.
                aspect_rows = [row for u in self._windows if u.counts.aspects for row in _aspect_rows(u, version)]
                if aspect_rows:
                    stats.retries += await self._write(Table.aspect_windows.value, ASPECT_WINDOW_INSERT_COLUMNS,
                                                       b"\n".join(aspect_rows))
            for table, records in self._ledger.items():
                encode = _ledger_encoder(table, version)
                body = b"\n".join(map(encode, records))
                stats.retries += await self._write(table.value, ledger_insert_columns(table), body)
                stats.ledger_rows += len(records)
            if self._outcomes:
                body = b"\n".join(_outcome_row(r, version) for r in self._outcomes)
                stats.retries += await self._write(Table.outcomes.value, OUTCOME_INSERT_COLUMNS, body)
                stats.ledger_rows += len(self._outcomes)
        finally:
            self._ledger = {}
            self._windows = []
            self._outcomes = []
        stats.seconds = time.perf_counter() - started
        return stats

    async def _write(self, table: str, columns: tuple[str, ...], body: bytes) -> int:
        delay, attempt = 0.2, 0
        while True:
            try:
                await self.warehouse.araw_insert(table, columns, body, fmt="JSONCompactEachRow")
                return attempt
            except WarehouseError as exc:
                attempt += 1
                metrics.SINK_RETRIES.inc()  # now, not after the flush: a stuck sink must show while stuck
                wait = getattr(exc, "retry_after", None) or delay
                log.warning("insert into %s failed (attempt %d), retrying in %.1fs: %s", table, attempt, wait, exc)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_backoff_s)


def _cell_key(u: WindowUpdate) -> tuple[list, str, dict[str, str]]:
    dims = u.dims
    extra = {d: dims[d] for d in custom_dimensions() if d in dims}
    key = "\x1f".join(f"{d}={v}" for d, v in extra.items())
    return [dims.get(d, "") for d in DIMENSIONS], key, extra


def _aspect_rows(u: WindowUpdate, version: int) -> list[bytes]:
    """JSONCompactEachRow lines in ``ASPECT_WINDOW_INSERT_COLUMNS`` order, one per aspect of the cell."""
    values, key, extra = _cell_key(u)
    head = [u.tenant, u.size, u.view, u.window_start_s, *values, key, extra, u.shard]
    return [orjson.dumps([*head, name, *c, version]) for name, c in sorted(u.counts.aspects.items())]


def _window_row(u: WindowUpdate, version: int) -> bytes:
    """One JSONCompactEachRow line in ``WINDOW_INSERT_COLUMNS`` order.

    Custom dimensions of the view go to ``extra_dims`` and, as canonical text, to ``extra_key``
    (part of the sort key, so cells differing only in them stay distinct rows)."""
    dims = u.dims
    extra = {d: dims[d] for d in custom_dimensions() if d in dims}
    key = "\x1f".join(f"{d}={v}" for d, v in extra.items())
    return orjson.dumps([u.tenant, u.size, u.view, u.window_start_s, *[dims.get(d, "") for d in DIMENSIONS],
                         key, extra, u.shard, *u.counts.as_tuple(), version])


_NO_EXTRA: dict[str, str] = {}


def _ledger_encoder(table: Table, version: int):
    """One JSONCompactEachRow line per record, in ``ledger_insert_columns(table)`` order.

    The dimension columns hold ``schemas.records.effective_dims`` (attributed, once attribution ran).
    """
    specific = [name for name, _ in LEDGER_COLUMNS[table]]
    getters = []
    for name in specific:
        if name == "overrides":
            getters.append(lambda r: orjson.dumps(r["dims"]).decode() if r.get("dims") else "")
        elif name == "attributed":
            getters.append(lambda r: bool(r.get(ATTRIBUTED)))
        elif name == "flags":
            getters.append(lambda r: r.get("flags") or 0)
        elif name == "aspects":
            getters.append(lambda r: r.get("aspects") or _NO_EXTRA)
        elif name in ("comment", "survey_id", "via", "kind", "sentiment", "platform", "brand", "text"):
            getters.append(lambda r, n=name: r.get(n) or "")
        else:
            getters.append(lambda r, n=name: r.get(n))

    custom = custom_dimensions()  # usually none: then no per-record work for them

    def encode(r: Record) -> bytes:
        dims = effective_dims(r)
        attributes = r.get("attributes")
        extra = {d: dims[d] for d in custom if d in dims} if custom else _NO_EXTRA
        return orjson.dumps([
            r["tenant"], r[EVENT_KEY], r["source"], r["id"], r["time_ms"], r.get("subject") or "",
            r.get("interaction_id") or "", r.get("customer") or "",
            *[dims.get(d, "") for d in DIMENSIONS], extra,
            *[get(r) for get in getters],
            orjson.dumps(attributes).decode() if attributes else "",
            r[SHARD], r[OFFSET], version,
        ])

    return encode


def _outcome_row(r: Record, version: int) -> bytes:
    """One JSONCompactEachRow line in ``OUTCOME_INSERT_COLUMNS`` order; ``amount`` stays decimal text."""
    dims = r.get("dims") or _NO_EXTRA
    custom = custom_dimensions()
    extra = {d: dims[d] for d in custom if d in dims} if custom else _NO_EXTRA
    attributes = r.get("attributes")
    return orjson.dumps([
        r["tenant"], r[EVENT_KEY], r["source"], r["id"], r["time_ms"], r.get("subject") or "",
        r.get("customer") or "", r.get("account") or "", *[dims.get(d, "") for d in DIMENSIONS], extra,
        r["kind"], r["amount"], r["currency"], r.get("product") or "",
        orjson.dumps(attributes).decode() if attributes else "", r[SHARD], r[OFFSET], version,
    ])
