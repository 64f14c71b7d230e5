"""A crossing no view holds, answered from the ledger, beside a view-answered read: ``python -m bench.crossing``.

Issue 12, item 2. Fills a fresh embedded warehouse (chDB) with ``--events`` ledger rows
generated in SQL (touchpoints 40 %, survey answers 40 %, invitations 20 %, over 28 days, five
dimensions; ``--reversioned`` of the answers stored twice, as a re-attributed answer is, so
``FINAL`` has work to do), then times ``--runs`` reads of journey step x segment x site:

* ``ledger 1h/24h``: hourly buckets of the last day (``warehouse.ledger_counts.ledger_windows``);
* ``ledger 1d/28d``: daily buckets of the 28 days;
* ``view 1h/24h``: the same as the first from ``kpi_windows``, after storing the ledger's
  hourly answer as a view's windows (``warehouse.queries.read_windows``).

Prints p50 and p99 (ms) of each. ``ledger_read`` is the call a larger bench can reuse.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from core.dimensions import view_name
from core.windows import DAY_MS, HOUR_MS
from warehouse.client import Warehouse
from warehouse.ledger_counts import ledger_windows
from warehouse.migrate import migrate
from warehouse.queries import WindowRow, read_windows
from warehouse.tables import Table
from warehouse.writer import KpiWriter, WindowUpdate

TENANT = "bench"
CROSSING = ("journey_step", "segment", "site")
END_MS = 1_796_083_200_000  # 2026-12-01T00:00:00Z: fixed, so runs compare
SPAN_MS = 28 * DAY_MS

# value lists per dimension, picked by hashes of the row number
_DIMS = {"channel": 4, "journey_step": 5, "segment": 4, "site": 10, "team": 20}


def _dims_sql(salt: str) -> str:
    return ", ".join(f"concat('{d[:2]}', toString(cityHash64(number, '{salt}{d}') % {k})) AS {d}"
                     for d, k in _DIMS.items())


def fill(wh: Warehouse, events: int, reversioned: float) -> None:
    """Ledger rows in SQL (a Python insert of 1 M rows would dominate the run)."""
    n_tp, n_sr = int(events * 0.4), int(events * 0.4)
    n_inv = events - n_tp - n_sr
    time_sql = f"{END_MS - SPAN_MS} + toInt64(cityHash64(number, 't') % {SPAN_MS})"
    common = ("'bench' AS tenant, cityHash64(number, '{kind}') AS event_key, '/bench' AS source, "
              "concat('{kind}-', toString(number)) AS event_id, " + time_sql + " AS time_ms, '' AS subject, "
              "concat('i', toString(number)) AS interaction_id, '' AS customer")
    tail = "'' AS attributes, toUInt16(number % 4) AS kafka_partition, number AS kafka_offset"
    wh.command(f"INSERT INTO {Table.touchpoints.value} (tenant, event_key, source, event_id, time_ms, subject, "
               f"interaction_id, customer, {', '.join(_DIMS)}, first_contact, resolved, attributes, kafka_partition, "
               f"kafka_offset, version) SELECT {common.format(kind='tp')}, {_dims_sql('tp')}, "
               "cityHash64(number, 'fc') % 3 > 0, cityHash64(number, 'r') % 4 > 0, "
               f"{tail}, 1 FROM numbers({n_tp})")
    answers = (f"SELECT {common.format(kind='sr')}, {_dims_sql('tp')}, toUInt8(cityHash64(number, 'n') % 11), "
               "toUInt8(1 + cityHash64(number, 'c') % 5), toUInt8(1 + cityHash64(number, 'e') % 7), "
               f"cityHash64(number, 'f') % 2 = 0, true, {tail}, {{version}} FROM numbers({{count}})")
    sr_cols = (f"tenant, event_key, source, event_id, time_ms, subject, interaction_id, customer, {', '.join(_DIMS)}, "
               "nps, csat, ces, fcr, attributed, attributes, kafka_partition, kafka_offset, version")
    wh.command(f"INSERT INTO {Table.survey_responses.value} ({sr_cols}) " + answers.format(version=1, count=n_sr))
    # A second version of some answers (same event, same dims here): FINAL must keep one.
    wh.command(f"INSERT INTO {Table.survey_responses.value} ({sr_cols}) "
               + answers.format(version=2, count=int(n_sr * reversioned)))
    wh.command(f"INSERT INTO {Table.survey_invitations.value} (tenant, event_key, source, event_id, time_ms, subject, "
               f"interaction_id, customer, {', '.join(_DIMS)}, via, attributed, attributes, kafka_partition, "
               f"kafka_offset, version) SELECT {common.format(kind='inv')}, {_dims_sql('tp')}, 'email', true, {tail}, 1 "
               f"FROM numbers({n_inv})")


async def ledger_read(wh: Warehouse, size_ms: int, span_ms: int) -> list[WindowRow]:
    """The timed ledger read: ``CROSSING`` in buckets of ``size_ms`` over the last ``span_ms``."""
    return await ledger_windows(wh, TENANT, size_ms, CROSSING, {}, (END_MS - span_ms) // 1000, END_MS // 1000)


async def _store_as_view(wh: Warehouse, rows: list[WindowRow]) -> None:
    writer = KpiWriter(wh)
    for r in rows:
        writer.add_window(WindowUpdate(tenant=TENANT, size="1h", view=view_name(CROSSING), window_start_s=r.window_start,
                                       dims=dict(zip(CROSSING, r.group)), shard=0, counts=r.counts))
    await writer.flush()


async def _timed(label: str, runs: int, read) -> None:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        rows = await read()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{label:<16} p50 {statistics.median(times):7.1f} ms   p99 {p99:7.1f} ms   ({len(rows)} rows, {runs} runs)")


async def main(events: int, runs: int, reversioned: float) -> None:
    with tempfile.TemporaryDirectory(prefix="cxpulse-crossing-") as path:
        wh = Warehouse.open(f"chdb://{path}", "bench")
        migrate(wh)
        t = time.perf_counter()
        fill(wh, events, reversioned)
        print(f"filled {events:,} events (+{int(events * 0.4 * reversioned):,} answer versions) "
              f"in {time.perf_counter() - t:.1f} s")
        await _store_as_view(wh, await ledger_read(wh, HOUR_MS, SPAN_MS))
        view = CROSSING
        await _timed("ledger 1h/24h", runs, lambda: ledger_read(wh, HOUR_MS, DAY_MS))
        await _timed("ledger 1d/28d", runs, lambda: ledger_read(wh, DAY_MS, SPAN_MS))
        await _timed("view 1h/24h", runs, lambda: read_windows(
            wh, TENANT, "1h", view, view, {}, (END_MS - DAY_MS) // 1000, END_MS // 1000))
        wh.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--reversioned", type=float, default=0.05)
    args = ap.parse_args()
    asyncio.run(main(args.events, args.runs, args.reversioned))
