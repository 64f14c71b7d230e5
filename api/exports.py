"""Drill-down rows as API records and as streamed CSV / Parquet.

One flat row shape serves both exports: the record's columns in ledger order
(:data:`warehouse.record_queries.COLUMNS`) with ``event_id`` as ``id`` and
``time_ms`` as ``time`` (UTC). Exports are encoded page by page, so memory
stays at one page whatever the selection's size: CSV as text chunks, Parquet
as one row group per page written into a drained in-memory sink.
"""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.dimensions import DIMENSIONS
from schemas.drilldown import ResponseRecord, TouchpointRecord
from warehouse.record_queries import COLUMNS
from warehouse.tables import LEDGER_COLUMNS, Table

__all__ = ["ExportFormat", "MEDIA_TYPES", "export_columns", "export_row", "public_record", "stream_export"]


class ExportFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


MEDIA_TYPES = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.parquet: "application/vnd.apache.parquet"}

_RENAMED = {"event_id": "id", "time_ms": "time"}
_OPTIONAL_TEXT = {"interaction_id", "subject", "customer", "comment", "overrides"}
_ARROW_OF_CH = {
    "String": pa.string(), "LowCardinality(String)": pa.string(), "Bool": pa.bool_(),
    "Nullable(Bool)": pa.bool_(), "Nullable(UInt8)": pa.uint8(), "Nullable(Float64)": pa.float64(),
}


def export_columns(table: Table) -> list[str]:
    return [_RENAMED.get(c, c) for c in COLUMNS[table]]


def _arrow_schema(table: Table) -> pa.Schema:
    specific = dict(LEDGER_COLUMNS[table])
    fields = []
    for column, name in zip(COLUMNS[table], export_columns(table)):
        if column == "time_ms":
            fields.append(pa.field(name, pa.timestamp("ms", tz="UTC"), nullable=False))
        else:
            fields.append(pa.field(name, _ARROW_OF_CH[specific.get(column, "String")]))
    return pa.schema(fields)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def export_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A warehouse row as one flat export row (empty optional text becomes null)."""
    out: dict[str, Any] = {}
    for column in COLUMNS[table]:
        value = row[column]
        if column == "time_ms":
            value = _time(value)
        elif column in _OPTIONAL_TEXT and value == "":
            value = None
        out[_RENAMED.get(column, column)] = value
    return out


def public_record(table: Table, row: dict[str, Any]) -> ResponseRecord | TouchpointRecord:
    """A warehouse row as the API's record model (dimensions nested, overrides parsed)."""
    flat = export_row(table, row)
    dims = {d: flat.pop(d) for d in DIMENSIONS}
    flat["dims"] = {d: v for d, v in dims.items() if v}
    if table is Table.survey_responses:
        flat["overrides"] = orjson.loads(flat["overrides"]) if flat["overrides"] else {}
        return ResponseRecord(**flat)
    return TouchpointRecord(**flat)


# -- CSV ----------------------------------------------------------------------------
def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def _csv_chunk(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


# -- Parquet ------------------------------------------------------------------------
class _Drain(io.RawIOBase):
    """A write-only sink whose bytes are taken out after each row group (nothing accumulates)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self._parts.append(bytes(b))
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


async def stream_export(table: Table, pages: AsyncIterator[list[dict[str, Any]]],
                        fmt: ExportFormat) -> AsyncIterator[bytes]:
    """Encode pages of warehouse rows as they arrive: a CSV header then rows, or Parquet row groups."""
    names = export_columns(table)
    if fmt is ExportFormat.csv:
        yield _csv_chunk([names])
        async for rows in pages:
            yield _csv_chunk([[_csv_cell(v) for v in export_row(table, r).values()] for r in rows])
        return
    schema = _arrow_schema(table)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        async for rows in pages:
            writer.write_table(pa.Table.from_pylist([export_row(table, r) for r in rows], schema=schema))
            chunk = sink.take()
            if chunk:
                yield chunk
    finally:
        writer.close()
    yield sink.take()

