"""The commit sequence of business outcomes (``cx.outcome.v1``): a batch becomes ledger rows.

Outcomes change no KPI window: their KPIs are a join with the experience made on read
(``warehouse.outcome_queries``), so storing them once is the whole guarantee. Exactly-once
*effect* on top of at-least-once delivery:

* the ``outcomes`` ledger is ``ReplacingMergeTree`` keyed by (tenant, event key, source, id): a
  replayed or re-sent event writes the same key again, and every read deduplicates by that key,
  so it counts once whether the merge ran or not;
* the agent acks a batch only after :meth:`OutcomeLedger.commit` returned, i.e. after the rows are
  stored (the write retries until it succeeds; a commit that raises stops the worker, and the
  restart replays the batch from the last committed offset).
"""
from __future__ import annotations

from dataclasses import dataclass

from schemas.records import EVENT_KEY, Record
from warehouse.client import Warehouse
from warehouse.erasure_queries import erased_of
from warehouse.tables import event_key
from warehouse.writer import KpiWriter


@dataclass
class OutcomeLedger:
    warehouse: Warehouse

    def __post_init__(self) -> None:
        self.writer = KpiWriter(self.warehouse)

    async def commit(self, records: list[Record]) -> int:
        """Store one batch of outcome records (each with ``_shard`` and ``_offset``); the rows written.

        1. Key each record (``event_key`` of tenant, source, id); keep the first of repeated keys.
        2. Skip events an erasure removed (``erased_events``): a replay must not store them again.
        3. Write the rows, retrying until stored. Only then may the caller ack.
        """
        fresh: dict[tuple[str, str, str], Record] = {}
        for rec in records:  # 1
            ident = (rec["tenant"], rec["source"], rec["id"])
            if ident not in fresh:
                rec[EVENT_KEY] = event_key(*ident)
                fresh[ident] = rec
        erased = await erased_of(self.warehouse, list(fresh))  # 2
        kept = [rec for ident, rec in fresh.items() if ident not in erased]
        for rec in kept:  # 3
            self.writer.add_outcome(rec)
        await self.writer.flush()
        return len(kept)
