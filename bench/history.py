"""History behind the watermark vs live traffic, through the worker's commit path: ``python -m bench.history``.

Issue 10, item 2. The same volume is counted twice in one run, on a fresh embedded
warehouse (chDB) with the default views, sizes and grace:

1. *in order*: ``--days`` of simulated traffic ending now, committed in time order;
2. *behind the watermark*: the same traffic dated ``--behind-days`` earlier (new ids),
   also in time order, so every window it touches is closed and has to come from the
   ledger or from the closed windows the worker keeps (``stream.closed_window_cells``).

The two take turns every few batches (the live turn first), so the load of a neighbour on
a shared machine slows both alike; each phase's rate is its events over its commit time.

Events are validated and sharded as ingest does (``validate_items``, ``partition_bucket``),
then committed in batches of ``stream.batch_records`` with ``Checkpointer.commit``: the
code path of the ``kpi-windows`` agent without Kafka and HTTP, which both phases share,
so the ratio isolates what the worker does with closed windows. Prints both rates, the
ratio (the goal is >= 0.8) and the ledger loads of closed windows per batch.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime, timedelta, timezone

from clients.simulator import ContactCenterSimulator
from core import metrics
from core.settings import Settings
from core.windows import WindowSize
from ingest.pseudonymize import Pseudonymizer
from ingest.validation import validate_items
from schemas.records import OFFSET, SHARD, Record, partition_bucket
from stream_processors.checkpoint import Checkpointer
from warehouse.client import Warehouse
from warehouse.migrate import migrate

TENANT = "bench"


def simulated_records(end: datetime, days: float, events_per_day: int, seed: int, partitions: int) -> list[Record]:
    """``days`` of simulated traffic ending at ``end``, as the records ingest produces, in time order."""
    sim = ContactCenterSimulator(seed=seed, rate_per_hour=events_per_day / 24)
    events = sim.generate(end - timedelta(days=days), end)
    # Answers simulated after ``end`` are in the future for the live phase: ingest rejects them, so do we.
    records, _ = validate_items(events, TENANT, Pseudonymizer(b"bench-history-key-0123456789"))
    records.sort(key=lambda r: r["time_ms"])
    for offset, rec in enumerate(records):
        rec[SHARD] = partition_bucket(TENANT, rec, partitions)
        rec[OFFSET] = offset
    return records


def dated_earlier(records: list[Record], by: timedelta, partitions: int) -> list[Record]:
    """The same traffic ``by`` earlier, as new events (new ids and interactions, so none is a duplicate)."""
    shift = int(by.total_seconds() * 1000)
    out = []
    for rec in records:
        old = {**rec, "id": rec["id"] + "-h", "time_ms": rec["time_ms"] - shift}
        if rec["interaction_id"]:
            old["interaction_id"] = rec["interaction_id"] + "-h"
        old[SHARD] = partition_bucket(TENANT, old, partitions)
        out.append(old)
    return out


class Phase:
    """Events/s of one kind of traffic, and what its commits loaded from the ledger."""

    def __init__(self) -> None:
        self.events = self.batches = 0
        self.seconds = self.windows_loaded = self.reads = 0.0

    async def commit(self, ck: Checkpointer, batch: list[Record]) -> None:
        loads, reads = metrics.LATE_WINDOW_LOADS._value.get(), metrics.CLOSED_WINDOW_READS._value.get()
        started = time.perf_counter()
        await ck.commit(batch)
        self.seconds += time.perf_counter() - started
        self.events += len(batch)
        self.batches += 1
        self.windows_loaded += metrics.LATE_WINDOW_LOADS._value.get() - loads
        self.reads += metrics.CLOSED_WINDOW_READS._value.get() - reads

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def commit_alternating(ck: Checkpointer, live: list[Record], history: list[Record], batch: int,
                             batches_per_turn: int) -> tuple[Phase, Phase]:
    """Commit both in time order, taking turns every ``batches_per_turn`` batches, so a neighbour's load on a
    shared machine slows both alike. History stays ten days behind: the first turn is live."""
    in_order, behind = Phase(), Phase()
    turn = batch * batches_per_turn
    for i in range(0, max(len(live), len(history)), turn):
        for phase, records in ((in_order, live), (behind, history)):
            for j in range(i, min(i + turn, len(records)), batch):
                await phase.commit(ck, records[j:min(j + batch, i + turn)])
    return in_order, behind


async def run(args: argparse.Namespace) -> dict:
    settings = Settings()
    stream = settings.stream
    end = datetime.now(timezone.utc).replace(microsecond=0)
    partitions = settings.kafka.partitions
    live = simulated_records(end, args.days, args.events_per_day, 1, partitions)
    history = dated_earlier(live, timedelta(days=args.behind_days), partitions)
    with tempfile.TemporaryDirectory(prefix="cxpulse-bench-history-") as data:
        wh = Warehouse.open(f"chdb://{data}")
        try:
            migrate(wh)
            ck = Checkpointer(warehouse=wh, views=[tuple(v) for v in stream.views],
                              sizes=[WindowSize(s) for s in stream.window_sizes], grace_ms=stream.grace_s * 1000,
                              closed_cells_kept=stream.closed_window_cells,
                              interaction_cache=stream.interaction_cache)
            in_order, behind = await commit_alternating(ck, live, history, stream.batch_records,
                                                        args.batches_per_turn)
        finally:
            wh.close()
    return {"events": in_order.events, "history_events": behind.events, "in_order_events_per_s": in_order.rate,
            "behind_events_per_s": behind.rate, "ratio": behind.rate / in_order.rate,
            "closed_windows_loaded_per_batch": behind.windows_loaded / behind.batches,
            "closed_window_reads_per_batch": behind.reads / behind.batches}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=3.0, help="days of traffic in each phase")
    parser.add_argument("--events-per-day", type=int, default=8_000)
    parser.add_argument("--batches-per-turn", type=int, default=5, help="batches of one kind before the other's turn")
    parser.add_argument("--behind-days", type=float, default=10.0, help="how much earlier the history is dated")
    args = parser.parse_args(argv)
    r = asyncio.run(run(args))
    print(f"history: in order {r['events']} events at {r['in_order_events_per_s']:,.0f} events/s; "
          f"{r['history_events']} events {args.behind_days:g} days behind the watermark at "
          f"{r['behind_events_per_s']:,.0f} events/s; ratio {r['ratio']:.2f} (goal >= 0.80); "
          f"per batch {r['closed_windows_loaded_per_batch']:.1f} closed windows loaded "
          f"in {r['closed_window_reads_per_batch']:.1f} ledger reads")


if __name__ == "__main__":
    main()
