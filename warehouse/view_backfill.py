"""Add a view while running: its history written from the ledger, without losing or double counting.

The steps (``cxpulse views backfill``, docs/architecture.md "Adding a view"):

1. The view goes into ``stream.pending_views`` and the worker restarts: from then on it keeps the
   view's cells of every window it touches, at full counts (open windows are rebuilt from the
   ledger at restore, closed ones are loaded from the ledger before a late event updates them,
   and every cell of a touched window is rewritten). Reads do not use it yet.
2. :func:`backfill_view` writes every cell of the view for every window the ledger holds, per
   shard (the Kafka partition, as the worker keeps them), computed from the ledger
   (``warehouse.ledger_counts``, the same rows a view holds) at row version :data:`BACKFILL_VERSION`.
3. The view moves to ``stream.views``: reads use it.

Why nothing is lost or counted twice: ``kpi_windows`` is a ``ReplacingMergeTree(version)``
keyed by cell and shard, whose rows are full counts, never deltas. A backfilled row has the lowest
version there is, so any row the worker writes for the same cell and shard (its versions are
nanosecond clocks) replaces it, whenever either is written: the worker's row is right (it was
built from the ledger as it stood plus what the worker applied), and where the worker never
wrote a cell, no event reached its window after step 1, so the ledger's answer is the cell. A
second run writes the same rows again (same key, same version): harmless.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.dimensions import validate_view, view_name
from core.windows import DAY_MS, WindowSize
from warehouse.client import Warehouse
from warehouse.ledger_counts import ledger_aspect_cells, ledger_cells
from warehouse.tables import TABLE_OF_TYPE
from warehouse.writer import KpiWriter, WindowUpdate

__all__ = ["BACKFILL_VERSION", "BackfillProgress", "backfill_view"]

#: Below any version the worker writes (``time.time_ns()``): a worker row always wins.
BACKFILL_VERSION = 1


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    tenant: str
    day_ms: int  # the UTC day just written
    days_done: int
    days_total: int
    rows: int  # window rows written so far


async def _ledger_span(wh: Warehouse) -> dict[str, tuple[int, int]]:
    """tenant -> (first, last) event time the ledger holds."""
    parts = " UNION ALL ".join(f"SELECT tenant, min(time_ms) AS lo, max(time_ms) AS hi FROM {t.value} GROUP BY tenant"
                               for t in TABLE_OF_TYPE.values())
    res = await wh.aquery(f"SELECT tenant, min(lo), max(hi) FROM ({parts}) GROUP BY tenant ORDER BY tenant")
    return {t: (int(lo), int(hi)) for t, lo, hi in res.result_rows}


async def backfill_view(
    wh: Warehouse, view: Sequence[str], sizes: Sequence[WindowSize], tenants: Sequence[str] | None = None,
    progress: Callable[[BackfillProgress], None] | None = None,
) -> int:
    """Write the view's cells of every window in the ledger (step 2 above), a UTC day at a time; returns rows."""
    view = validate_view(list(view))
    name = view_name(view)
    spans = await _ledger_span(wh)
    rows = 0
    for tenant in tenants if tenants is not None else sorted(spans):
        if tenant not in spans:
            continue
        lo, hi = spans[tenant]
        first, last = lo - lo % DAY_MS, hi - hi % DAY_MS
        days = (last - first) // DAY_MS + 1
        for i in range(days):
            day = first + i * DAY_MS
            writer = KpiWriter(wh)
            for size in sizes:  # every size divides a day: the day's windows are whole
                cells = await ledger_cells(wh, tenant, size.ms, view, {}, day // 1000, (day + DAY_MS) // 1000,
                                           by_shard=True)
                rated = await ledger_aspect_cells(wh, tenant, size.ms, view, {}, day // 1000,
                                                  (day + DAY_MS) // 1000, by_shard=True)
                for key, found in rated.items():  # the rated aspects go to aspect_windows with their cell
                    if key in cells:
                        cells[key].aspects = found
                for (start, shard, values), counts in cells.items():
                    writer.add_window(WindowUpdate(tenant=tenant, size=size.value, view=name, window_start_s=start,
                                                   dims=dict(zip(view, values)), shard=shard, counts=counts))
            stats = await writer.flush(version=BACKFILL_VERSION)
            rows += stats.window_rows
            if progress is not None:
                progress(BackfillProgress(tenant, day, i + 1, days, rows))
    return rows
