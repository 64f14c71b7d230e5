"""Batched, columnar, idempotent writes of ledger rows and KPI windows.

``KpiWriter.add_*`` buffers, ``flush()`` writes. A failed write is retried
with exponential backoff until it succeeds: the caller (the stream
processor's commit) must not let Kafka offsets move past data that is not
stored, so there is no "give up and drop" path. While it waits, the Faust
stream stops pulling records: that is the backpressure.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from kpi.counts import FIELDS as COUNTER_FIELDS
from kpi.counts import KpiCounts
from schemas.dimensions import DIMENSIONS
from schemas.records import EventType, Record
from warehouse.client import Warehouse
from warehouse.errors import WarehouseError
from warehouse.tables import LEDGER_COLUMNS, WINDOW_INSERT_COLUMNS, Table, ledger_insert_columns

log = logging.getLogger(__name__)

_TABLE_OF_TYPE = {
    EventType.touchpoint.value: Table.touchpoints,
    EventType.survey_response.value: Table.survey_responses,
    EventType.survey_invitation.value: Table.survey_invitations,
}
_EMPTY: dict[str, str] = {}


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

    def add_ledger(self, record: Record) -> None:
        self._ledger.setdefault(_TABLE_OF_TYPE[record["type"]], []).append(record)

    def add_window(self, update: WindowUpdate) -> None:
        self._windows.append(update)

    @property
    def pending(self) -> int:
        return sum(map(len, self._ledger.values())) + len(self._windows)

    async def flush(self) -> FlushStats:
        """Write everything buffered: ledger tables first, then windows. Retries until stored."""
        stats = FlushStats()
        started = time.perf_counter()
        version = time.time_ns()
        try:
            for table, records in self._ledger.items():
                columns = _ledger_columns(table, records, version)
                stats.retries += await self._write(table.value, columns, ledger_insert_columns(table))
                stats.ledger_rows += len(records)
            if self._windows:
                columns = _window_columns(self._windows, version)
                stats.retries += await self._write(Table.kpi_windows.value, columns, WINDOW_INSERT_COLUMNS)
                stats.window_rows = len(self._windows)
        finally:
            self._ledger = {}
            self._windows = []
        stats.seconds = time.perf_counter() - started
        return stats

    async def _write(self, table: str, columns: list[list[Any]], names) -> int:
        delay, attempt = 0.2, 0
        while True:
            try:
                await self.warehouse.ainsert(table, columns, names, column_oriented=True)
                return attempt
            except WarehouseError as exc:
                attempt += 1
                wait = getattr(exc, "retry_after", None) or delay
                log.warning("insert into %s failed (attempt %d), retrying in %.1fs: %s", table, attempt, wait, exc)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_backoff_s)


def _ledger_columns(table: Table, records: list[Record], version: int) -> list[list[Any]]:
    """Column-oriented rows; the effective dimensions are ``_dims`` when attribution set them."""
    n = len(records)
    cols: list[list[Any]] = [
        [r["tenant"] for r in records],
        [r["source"] for r in records],
        [r["id"] for r in records],
        [r["time_ms"] for r in records],
        [r.get("subject") or "" for r in records],
        [r.get("interaction_id") or "" for r in records],
        [r.get("customer") or "" for r in records],
    ]
    effective = [r.get("_dims", r.get("dims") or _EMPTY) for r in records]
    for d in DIMENSIONS:
        cols.append([e.get(d, "") for e in effective])
    for name, _ in LEDGER_COLUMNS[table]:
        if name == "overrides":
            cols.append([orjson.dumps(r["dims"]).decode() if r.get("dims") else "" for r in records])
        elif name == "attributed":
            cols.append([bool(r.get("_attributed")) for r in records])
        elif name in ("comment", "survey_id", "via"):
            cols.append([r.get(name) or "" for r in records])
        else:
            cols.append([r.get(name) for r in records])
    cols.append([orjson.dumps(r["attributes"]).decode() if r.get("attributes") else "" for r in records])
    cols.append([r["_shard"] for r in records])
    cols.append([r["_offset"] for r in records])
    cols.append([version] * n)
    return cols


def _window_columns(updates: list[WindowUpdate], version: int) -> list[list[Any]]:
    cols: list[list[Any]] = [
        [u.tenant for u in updates],
        [u.size for u in updates],
        [u.view for u in updates],
        [u.window_start_s for u in updates],
    ]
    for d in DIMENSIONS:
        cols.append([u.dims.get(d, "") for u in updates])
    cols.append([u.shard for u in updates])
    for f in COUNTER_FIELDS:
        cols.append([getattr(u.counts, f) for u in updates])
    cols.append([version] * len(updates))
    return cols
