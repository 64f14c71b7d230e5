"""Warehouse.astream on real chDB: blocks in order, errors, early close, and the shared client stays free."""
from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from warehouse.client import Warehouse
from core.errors import WarehouseError


@pytest.fixture
def wh(chdb_dsn: str):
    database = f"st_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse.open(chdb_dsn, database=database)
    yield warehouse
    warehouse.command(f"DROP DATABASE IF EXISTS {database}")


def _stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "warehouse-stream"]


async def _until_no_stream_threads(timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while _stream_threads() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert not _stream_threads()


async def test_streams_every_row_in_bounded_blocks(wh: Warehouse) -> None:
    blocks = [list(b) async for b in wh.astream("SELECT number * {k:UInt64} FROM numbers(25000) ORDER BY number",
                                                {"k": 3}, block_rows=1000)]
    assert len(blocks) >= 25 and max(len(b) for b in blocks) <= 1000
    assert [r[0] for b in blocks for r in b] == [3 * i for i in range(25000)]
    await _until_no_stream_threads()


async def test_errors_are_warehouse_errors(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="no_such_column"):
        async for _ in wh.astream("SELECT no_such_column FROM numbers(3)"):
            pass
    await _until_no_stream_threads()


async def test_early_close_stops_the_read_and_the_shared_client_stays_usable(wh: Warehouse) -> None:
    stream = wh.astream("SELECT number FROM numbers(10000000)", block_rows=1000)
    first = await anext(stream)
    assert [r[0] for r in first] == list(range(len(first)))
    await asyncio.sleep(0.2)  # the producer now waits on the full hand-off queue, holding its own client
    assert (await wh.aquery("SELECT count() FROM numbers(5)")).result_rows == [(5,)]
    await stream.aclose()
    await _until_no_stream_threads()
