"""The answers and invitations waiting for their touchpoint, as the ledger holds them.

An answer or invitation with an interaction id whose touchpoint is not known yet is stored with
``attributed = false`` and waits in its shard's state (``stream_processors.checkpoint``) until the
touchpoint arrives, however far apart in event time the two are. At most ``limit`` wait per shard
(``stream.pending_attribution_max``): beyond it the oldest by (event time, source, id) is *settled*,
its latest ledger row re-versioned with ``attributed = true`` under the dimensions it already counts
under (its own), so no later touchpoint moves it. The ledger's unattributed rows of a shard are thus
exactly what a running worker holds, and a restore reads them all back (:func:`unattributed_records`),
whatever their age.
"""
from __future__ import annotations

import asyncio
from typing import Any

from schemas.records import SHARD, Record
from warehouse.client import Warehouse
from warehouse.queries import ledger_read_columns, row_to_record
from warehouse.tables import LEDGER_COLUMNS, TYPE_OF_TABLE, Table

__all__ = ["WAITING_TABLES", "pending_order", "settle_unattributed", "unattributed_records"]

#: The ledger tables whose rows may wait for a touchpoint (those with an ``attributed`` column).
WAITING_TABLES: tuple[Table, ...] = tuple(t for t in TYPE_OF_TABLE if "attributed" in dict(LEDGER_COLUMNS[t]))

# A version of an event of one shard with an interaction, unattributed (`attributed` changes between
# versions: only the latest tells whether the event still waits).
_WAITING = ("kafka_partition = {shard:UInt16} AND interaction_id != '' AND NOT attributed")
_FINAL_BY_PARTITION = "SETTINGS do_not_merge_across_partitions_select_final = 1"


def pending_order(rec: Record) -> tuple[int, str, str]:
    """The order in which waiting records are settled, oldest first: (event time, source, id)."""
    return rec["time_ms"], rec["source"], rec["id"]


async def unattributed_records(wh: Warehouse, shard: int, limit: int) -> tuple[list[Record], bool]:
    """The newest ``limit`` (by :func:`pending_order`) unattributed answers and invitations of ``shard``,
    oldest first, and whether the ledger holds more (then :func:`settle_unattributed` settles those).

    One query per waiting table, run together, each reading at most ``limit + 1`` rows.
    """
    async def read(table: Table) -> list[Record]:
        cols = ledger_read_columns(table)
        # Not FINAL (it would merge the shard's every row): the events that ever had an unattributed
        # version (a light scan of four columns), the latest version of each, those still unattributed.
        res = await wh.aquery(
            f"SELECT {', '.join(cols)} FROM (SELECT {', '.join(cols)} FROM {table.value} "
            f"WHERE kafka_partition = {{shard:UInt16}} AND event_key IN (SELECT event_key FROM {table.value} "
            f"WHERE {_WAITING}) ORDER BY version DESC LIMIT 1 BY event_key, source, event_id) "
            "WHERE NOT attributed ORDER BY time_ms DESC, source DESC, event_id DESC LIMIT {n:UInt64}",
            {"shard": shard, "n": limit + 1})
        out = []
        for row in res.result_rows:
            rec = row_to_record(TYPE_OF_TABLE[table], cols, row)
            rec[SHARD] = shard
            out.append(rec)
        return out

    found = sorted((r for rs in await asyncio.gather(*(read(t) for t in WAITING_TABLES)) for r in rs),
                   key=pending_order)
    return found[-limit:] if limit else [], len(found) > limit


async def settle_unattributed(wh: Warehouse, shard: int, before: tuple[int, str, str] | None) -> int:
    """Settle every unattributed answer and invitation of ``shard`` ordered before ``before``
    (:func:`pending_order`; ``None``: all of them): a new version of its latest row, ``attributed = true``,
    the next version, everything else unchanged (a later change of the row, stamped with the clock, still
    wins). Returns how many were settled. Idempotent."""
    params: dict[str, Any] = {"shard": shard}
    where = _WAITING
    if before is not None:
        where += " AND (time_ms, source, event_id) < ({t:Int64}, {s:String}, {e:String})"
        params.update(t=before[0], s=before[1], e=before[2])
    settled = 0
    for table in WAITING_TABLES:
        (n,), = (await wh.aquery(f"SELECT count() FROM {table.value} FINAL WHERE {where} {_FINAL_BY_PARTITION}",
                                 params)).result_rows
        if n:
            # The rows in a subquery: REPLACE's aliases would otherwise stand for the columns in WHERE.
            await wh.acommand(
                f"INSERT INTO {table.value} SELECT * REPLACE (true AS attributed, version + 1 AS version) "
                f"FROM (SELECT * FROM {table.value} FINAL WHERE {where} {_FINAL_BY_PARTITION})", params)
            settled += int(n)
    return settled
