"""One clickhouse-connect client for chDB (in-process) and ClickHouse servers (HTTP).

chDB: ``chdb:///path`` DSN; one process owns one data path, so each process
opens it once, through ``Warehouse``. The client is synchronous; async code
calls the ``a*`` methods, which run in a small thread pool so the event loop
(Faust, uvicorn) keeps serving.
"""
from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import clickhouse_connect

from core.errors import WarehouseError, WarehouseUnavailable

_open_chdb_paths: dict[tuple[str, str], "Warehouse"] = {}
_open_lock = threading.Lock()


class Warehouse:
    """Thin facade over a clickhouse-connect client, bound to one database."""

    def __init__(self, dsn: str, database: str = "cxpulse") -> None:
        self.dsn = dsn
        self.database = database
        self.embedded = dsn.startswith("chdb://")
        try:
            bootstrap = clickhouse_connect.get_client(dsn=dsn, **self._client_kwargs())
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
            self._client = clickhouse_connect.get_client(
                dsn=dsn, database=database, **self._client_kwargs()
            )
        except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
            raise WarehouseUnavailable(f"cannot open warehouse {_redact(dsn)}: {exc}") from exc
        # HTTP sessions reject concurrent queries; chDB serializes internally anyway.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="warehouse")

    def _client_kwargs(self) -> dict[str, Any]:
        return {} if self.embedded else {"autogenerate_session_id": False}

    @classmethod
    def open(cls, dsn: str, database: str = "cxpulse") -> "Warehouse":
        """Reuse the open client of a chDB path and database: chDB serves one path per process."""
        if not dsn.startswith("chdb://"):
            return cls(dsn, database)
        with _open_lock:
            wh = _open_chdb_paths.get((dsn, database))
            if wh is None:
                wh = _open_chdb_paths[(dsn, database)] = cls(dsn, database)
            return wh

    # -- sync ---------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call(self._client.command, sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None):
        return self._call(self._client.query, sql, parameters=parameters)

    def insert(self, table: str, data: Sequence[Sequence[Any]], column_names: Sequence[str],
               column_oriented: bool = False) -> None:
        if not data or (column_oriented and not data[0]):
            return
        self._call(self._client.insert, table, data, column_names=list(column_names),
                   column_oriented=column_oriented)

    def raw_insert(self, table: str, column_names: Sequence[str], body: bytes, fmt: str = "JSONEachRow") -> None:
        """Insert pre-encoded rows (one statement, one block)."""
        if body:
            self._call(self._client.raw_insert, table, column_names=list(column_names), insert_block=body, fmt=fmt)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping()) if not self.embedded else self.query("SELECT 1").result_rows == [(1,)]
        except Exception:  # noqa: BLE001
            return False

    @staticmethod
    def _call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WarehouseError:
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise WarehouseUnavailable(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - driver errors carry the server message
            raise WarehouseError(str(exc)) from exc

    # -- async --------------------------------------------------------------
    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args, **kwargs)
        )

    async def acommand(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return await self._run(self.command, sql, parameters)

    async def aquery(self, sql: str, parameters: dict[str, Any] | None = None):
        return await self._run(self.query, sql, parameters)

    async def ainsert(self, table: str, data, column_names, column_oriented: bool = False) -> None:
        await self._run(self.insert, table, data, column_names, column_oriented)

    async def araw_insert(self, table: str, column_names: Sequence[str], body: bytes,
                          fmt: str = "JSONEachRow") -> None:
        await self._run(self.raw_insert, table, column_names, body, fmt)

    async def astream(self, sql: str, parameters: dict[str, Any] | None = None,
                      block_rows: int = 8_192) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """Rows of one query, block by block (at most ``block_rows`` each), for reads too big for one answer.

        The query runs on a client of its own (its own chDB handle, or HTTP connection): an open
        stream holds its client, and a long export must not stall the writer and the API on the
        shared one. A two-block hand-off queue is the backpressure: the read waits while the
        consumer (e.g. a slow download) catches up, so memory stays at a few blocks. Closing the
        iterator early stops the query. Errors are raised as for :meth:`query`.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=2)
        stop = threading.Event()

        def put(item: tuple[str, Any]) -> bool:
            try:
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
                return True
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                return False

        def read_all() -> None:
            client = clickhouse_connect.get_client(dsn=self.dsn, database=self.database, **self._client_kwargs())
            try:
                with client.query_row_block_stream(sql, parameters=parameters,
                                                   settings={"max_block_size": block_rows}) as stream:
                    for block in stream:
                        if stop.is_set() or not put(("rows", block)):
                            return
            finally:
                client.close()

        def produce() -> None:
            try:
                self._call(read_all)
                item: tuple[str, Any] = ("end", None)
            except WarehouseError as exc:
                item = ("error", exc)
            if not stop.is_set():
                put(item)

        threading.Thread(target=produce, name="warehouse-stream", daemon=True).start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "rows":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()
            while not queue.empty():  # frees a producer blocked on a full queue; it then sees `stop`
                queue.get_nowait()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
        with _open_lock:
            if _open_chdb_paths.get((self.dsn, self.database)) is self:
                del _open_chdb_paths[(self.dsn, self.database)]


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise WarehouseError(f"invalid database name {name!r}")
    return name


def _redact(dsn: str) -> str:
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return dsn
