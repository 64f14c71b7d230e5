"""api.exports: rows become API records, CSV and Parquet, page by page."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import typing
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.exports import ExportFormat, export_columns, public_record, stream_export
from core.dimensions import DIMENSIONS
from kpi.panel import FLAG_BITS
from schemas.drilldown import ResponseRecord
from warehouse.record_queries import COLUMNS, row_names
from warehouse.tables import Table


def _response(i: int) -> dict:
    row = {c: "" for c in COLUMNS[Table.survey_responses]}
    row.update(event_key=i, event_id=f"r-{i}", source="/s", time_ms=1_762_156_800_000 + i, survey_id="srv",
               interaction_id="" if i % 3 == 0 else f"i-{i}", customer="ab" * 16, channel="chat",
               nps=i % 11 if i % 2 else None, csat=None, ces=(i % 7) + 1, fcr=bool(i % 2) if i % 5 else None,
               comment='say "hi", then\nleave' if i % 4 == 0 else "", weight=1.5 if i % 3 else None,
               overrides='{"segment":"vip"}' if i % 6 == 0 else "", attributed=i % 3 != 0, segment="vip",
               duration_s=None if i % 4 == 1 else 2.5 * i, flags=i % 16,
               aspects={} if i % 5 == 0 else {"wait_time": i % 11, "cleanliness": 10 - i % 11})
    return row


def _flag_names(bits: int) -> list[str]:
    """Bits 1 repeat, 2 straight-lining, 4 too fast, 8 contradictory (docs/architecture.md), in that order."""
    return [name for bit, name in ((1, "repeat"), (2, "straight_lining"), (4, "too_fast"), (8, "contradictory"))
            if bits & bit]


def _collect(table: Table, pages: list[list[dict]], fmt: ExportFormat) -> list[bytes]:
    names = row_names(table)

    async def gen():
        for p in pages:
            yield [tuple(r[n] for n in names) for r in p]  # blocks of tuples, as the warehouse streams them

    async def run():
        return [chunk async for chunk in stream_export(table, gen(), fmt)]

    return asyncio.run(run())


PAGES = [[_response(i) for i in range(k, k + 7)] for k in range(0, 21, 7)]


def test_public_record_nests_dimensions_and_parses_overrides() -> None:
    rec = public_record(Table.survey_responses, _response(12))
    assert rec.id == "r-12" and rec.time == datetime(2025, 11, 3, 8, 0, 0, 12000, tzinfo=timezone.utc)
    assert rec.dims == {"channel": "chat", "segment": "vip"}  # empty dimensions left out
    assert rec.overrides == {"segment": "vip"} and rec.interaction_id is None and rec.comment == 'say "hi", then\nleave'
    assert rec.nps is None and rec.ces == 6 and rec.fcr is False and rec.weight is None and rec.attributed is False
    assert rec.duration_s == 30.0 and rec.flags == ["too_fast", "contradictory"]  # 12 = 4 + 8
    assert rec.aspects == {"wait_time": 1, "cleanliness": 9}
    bare = public_record(Table.survey_responses, _response(5))
    assert (bare.duration_s, bare.flags, bare.aspects) == (None, ["repeat", "too_fast"], {})
    assert typing.get_args(typing.get_args(ResponseRecord.model_fields["flags"].annotation)[0]) == tuple(FLAG_BITS)


def test_csv_streams_a_header_then_one_chunk_per_page() -> None:
    chunks = _collect(Table.survey_responses, PAGES, ExportFormat.csv)
    assert len(chunks) == 1 + len(PAGES)
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert list(rows[0]) == export_columns(Table.survey_responses)
    assert [r["id"] for r in rows] == [f"r-{i}" for i in range(21)]
    for i, r in enumerate(rows):
        src = _response(i)
        assert r["time"] == datetime.fromtimestamp(src["time_ms"] / 1000, timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        assert r["nps"] == ("" if src["nps"] is None else str(src["nps"]))
        assert r["fcr"] == {None: "", True: "true", False: "false"}[src["fcr"]]
        assert r["comment"] == src["comment"] and r["overrides"] == src["overrides"]
        assert r["weight"] == ("" if src["weight"] is None else "1.5")
        assert r["duration_s"] == ("" if src["duration_s"] is None else str(src["duration_s"]))
        assert json.loads(r["flags"]) == _flag_names(i % 16) and json.loads(r["aspects"]) == src["aspects"]


def test_parquet_streams_one_row_group_per_page_with_types() -> None:
    chunks = _collect(Table.survey_responses, PAGES, ExportFormat.parquet)
    assert len(chunks) == len(PAGES) + 1 and all(chunks)  # every page is flushed as it is written
    f = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert f.metadata.num_row_groups == len(PAGES)
    assert f.schema_arrow.names == export_columns(Table.survey_responses)
    assert str(f.schema_arrow.field("time").type) == "timestamp[ms, tz=UTC]"
    assert str(f.schema_arrow.field("nps").type) == "uint8" and str(f.schema_arrow.field("fcr").type) == "bool"
    rows = f.read(use_threads=False).to_pylist()
    for i, r in enumerate(rows):
        src = _response(i)
        assert r["id"] == f"r-{i}" and r["time"] == datetime.fromtimestamp(src["time_ms"] / 1000, timezone.utc)
        assert (r["nps"], r["ces"], r["fcr"], r["weight"]) == (src["nps"], src["ces"], src["fcr"], src["weight"])
        assert r["interaction_id"] == (src["interaction_id"] or None) and r["comment"] == (src["comment"] or None)
        assert {d: r[d] for d in DIMENSIONS} == {d: src[d] for d in DIMENSIONS}
        assert r["duration_s"] == src["duration_s"] and r["flags"] == _flag_names(i % 16)
        assert dict(r["aspects"]) == src["aspects"]
    assert str(f.schema_arrow.field("flags").type) == "list<element: string>"
    assert f.schema_arrow.field("aspects").type.equals(pa.map_(pa.string(), pa.uint8()))


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_empty_selection_still_gives_a_valid_file(fmt: ExportFormat) -> None:
    body = b"".join(_collect(Table.touchpoints, [], fmt))
    if fmt is ExportFormat.csv:
        assert body.decode().strip().split(",") == export_columns(Table.touchpoints)
    else:
        table = pq.ParquetFile(io.BytesIO(body)).read(use_threads=False)
        assert table.num_rows == 0 and table.schema.names == export_columns(Table.touchpoints)
