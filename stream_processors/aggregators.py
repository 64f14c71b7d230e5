"""Keyed window state of one shard (one Kafka partition): additive counters per cell.

A *cell* is one (view, dimension values) inside one window
``(tenant, size, window_start)``. Records are added (``sign=+1``) or retracted
(``sign=-1``, when a survey answer moves to its touchpoint's dimensions);
every touched cell is marked dirty and written whole by the next commit.

Windows before ``complete_from[size]`` are *closed*. The most recently touched
of them stay in memory up to ``closed_cells_kept`` cells, so history replayed in
order (or a burst of late events) updates them in place, as it does open windows:
this worker owns the shard and every update goes through it. The others left
memory: the commit loads one from the ledger (``load_window``) before a late
record touches it, so a late event corrects history instead of vanishing.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable

from kpi.counts import KpiCounts, add_record
from core.dimensions import view_name
from core.pipeline_settings import StreamSettings
from schemas.records import EventType, Record, effective_dims
from core.windows import WindowSize, closed_before, window_start

WindowKey = tuple[str, WindowSize, int]  # tenant, size, start ms
CellKey = tuple[str, tuple[str, ...]]  # view name, dimension values
NEVER = -(2**62)

_TOUCHPOINT = EventType.touchpoint.value

# The defaults of the settings, read from them so a state built without the worker (tests, benches)
# behaves as the worker does, and a changed default changes both.
CLOSED_CELLS_KEPT: int = StreamSettings.model_fields["closed_window_cells"].default
INTERACTION_CACHE: int = StreamSettings.model_fields["interaction_cache"].default


@dataclass
class ShardState:
    shard: int
    views: list[tuple[str, ...]]
    sizes: list[WindowSize]
    grace_ms: int
    interaction_cache_size: int = INTERACTION_CACHE
    #: cells of closed windows kept in memory (0: drop every window as soon as it closes). The worker
    #: passes ``stream.closed_window_cells``, whose default this is.
    closed_cells_kept: int = CLOSED_CELLS_KEPT
    watermark_ms: int = NEVER
    windows: dict[WindowKey, dict[CellKey, KpiCounts]] = field(default_factory=dict)
    #: window -> cells changed since the last commit.
    dirty: dict[WindowKey, set[CellKey]] = field(default_factory=dict)
    complete_from: dict[WindowSize, int] = field(default_factory=dict)
    #: (tenant, interaction_id) -> touchpoint dimensions, most recent last.
    interactions: OrderedDict[tuple[str, str], dict[str, str]] = field(default_factory=OrderedDict)
    #: (tenant, interaction_id) -> answers/invitations still waiting for their touchpoint.
    pending: dict[tuple[str, str], list[Record]] = field(default_factory=dict)
    #: (tenant, interaction_id) known to have a stored answer, most recent last. Only positive
    #: knowledge (answers are never removed), so a miss means "ask the ledger", never "unanswered".
    answered: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._view_names = [(view_name(v), v) for v in self.views]
        self._base_ms = min(s.ms for s in self.sizes)
        self._staged: dict[tuple[str, int], dict[CellKey, KpiCounts]] = {}
        self._view_dims = sorted({d for v in self.views for d in v})
        self._cell_cache: dict[tuple[str | None, ...], list[CellKey]] = {}
        #: one shared dict per distinct set of touchpoint dimensions: the interaction cache holds
        #: ``interaction_cache_size`` entries whose dimensions repeat a lot, and a dict of 8 values
        #: each is most of an entry's ~1 KB (cached dicts are never mutated: readers copy them).
        self._shared_dims: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        #: every window in memory, least recently loaded or updated first (the eviction order).
        self._touched: OrderedDict[WindowKey, None] = OrderedDict()
        #: closed windows in memory after the last ``evict_closed``.
        self.closed_windows_held = 0
        for size in self.sizes:
            self.complete_from.setdefault(size, NEVER)

    # -- which windows a record needs ------------------------------------------
    def window_keys(self, record: Record) -> list[WindowKey]:
        t = record["time_ms"]
        return [(record["tenant"], s, window_start(t, s.ms)) for s in self.sizes]

    def needs_load(self, key: WindowKey) -> bool:
        """A window that is not in memory but may have stored history."""
        return key not in self.windows and key[2] < self.complete_from[key[1]]

    def load_window(self, key: WindowKey, records: Iterable[Record]) -> None:
        """Install a window rebuilt from its stored records (must precede any new apply to it)."""
        cells: dict[CellKey, KpiCounts] = {}
        for record in records:
            for cell in self._cells_for(effective_dims(record)):
                counts = cells.get(cell)
                if counts is None:
                    counts = cells[cell] = KpiCounts()
                add_record(counts, record, 1)
        self.windows[key] = cells
        self._touch(key)
        # Rewritten even if unchanged: after a crash the stored rows may lag the ledger.
        self.dirty.setdefault(key, set()).update(cells)

    # -- updates ----------------------------------------------------------------
    def stage(self, record: Record, dims: dict[str, str], sign: int = 1) -> None:
        """Add (or retract) a record into this batch's deltas, at the smallest window size only.

        Larger windows receive the summed deltas once per batch (``apply_staged``), so a
        record costs one counter update per view instead of one per view and size.
        """
        t = record["time_ms"]
        key = (record["tenant"], t - t % self._base_ms)
        cells = self._staged.get(key)
        if cells is None:
            cells = self._staged[key] = {}
        for cell in self._cells_for(dims):
            counts = cells.get(cell)
            if counts is None:
                counts = cells[cell] = KpiCounts()
            add_record(counts, record, sign)
        if sign > 0 and t > self.watermark_ms:
            self.watermark_ms = t

    def _cells_for(self, dims: dict[str, str]) -> list[CellKey]:
        """Cell keys of every view for these dimension values (memoized: values repeat a lot)."""
        signature = tuple(map(dims.get, self._view_dims))
        cells = self._cell_cache.get(signature)
        if cells is None:
            if len(self._cell_cache) > 100_000:
                self._cell_cache.clear()
            cells = self._cell_cache[signature] = [
                (name, tuple([dims.get(d, "") for d in view])) for name, view in self._view_names
            ]
        return cells

    def apply_staged(self) -> None:
        """Fold the staged deltas into every window size; touched cells become dirty."""
        staged, self._staged = self._staged, {}
        for (tenant, base_start), cells in staged.items():
            for size in self.sizes:
                key = (tenant, size, window_start(base_start, size.ms))
                window = self.windows.get(key)
                if window is None:
                    if key[2] < self.complete_from[size]:
                        raise RuntimeError(f"window {key} must be loaded from the ledger before it is updated")
                    window = self.windows[key] = {}
                self._touch(key)
                dirty = self.dirty.get(key)
                if dirty is None:
                    dirty = self.dirty[key] = set()
                for cell, delta in cells.items():
                    counts = window.get(cell)
                    if counts is None:
                        window[cell] = delta.copy()
                    else:
                        counts.add(delta)
                    dirty.add(cell)

    def apply(self, record: Record, dims: dict[str, str], sign: int = 1) -> None:
        """Stage and apply one record at once (restores, tests)."""
        self.stage(record, dims, sign)
        self.apply_staged()

    def take_dirty(self) -> list[tuple[WindowKey, CellKey, KpiCounts]]:
        out = [(wk, ck, self.windows[wk][ck]) for wk, cells in self.dirty.items() for ck in cells]
        self.dirty = {}
        return out

    def mark_all_dirty(self) -> None:
        self.dirty = {wk: set(cells) for wk, cells in self.windows.items()}

    def _touch(self, key: WindowKey) -> None:
        self._touched[key] = None
        self._touched.move_to_end(key)

    def evict_closed(self) -> int:
        """Close windows no on-time event can reach; keep the most recently touched closed ones
        up to ``closed_cells_kept`` cells and drop the rest (they are reloaded on demand)."""
        for size in self.sizes:
            cutoff = closed_before(self.watermark_ms, self.grace_ms, size.ms)
            if cutoff > self.complete_from[size]:
                self.complete_from[size] = cutoff
        closed = [k for k in self._touched if k[2] < self.complete_from[k[1]]]  # least recently touched first
        # An empty window still costs its key: count it as one cell so the bound holds.
        cells = sum(max(1, len(self.windows[k])) for k in closed)
        evicted = 0
        for key in closed:
            if cells <= self.closed_cells_kept:
                break
            cells -= max(1, len(self.windows.pop(key)))
            del self._touched[key]
            evicted += 1
        self.closed_windows_held = len(closed) - evicted
        return evicted

    # -- attribution ------------------------------------------------------------
    def remember_interaction(self, tenant: str, interaction_id: str, dims: dict[str, str]) -> None:
        key = (tenant, interaction_id)
        signature = tuple(sorted(dims.items()))
        shared = self._shared_dims.get(signature)
        if shared is None:
            if len(self._shared_dims) > 100_000:
                self._shared_dims.clear()
            shared = self._shared_dims[signature] = dict(dims)
        self.interactions[key] = shared
        self.interactions.move_to_end(key)
        while len(self.interactions) > self.interaction_cache_size:
            self.interactions.popitem(last=False)

    def interaction_dims(self, tenant: str, interaction_id: str) -> dict[str, str] | None:
        return self.interactions.get((tenant, interaction_id))

    # -- the invitation / answer join -------------------------------------------
    def remember_answered(self, tenant: str, interaction_id: str) -> None:
        key = (tenant, interaction_id)
        self.answered[key] = None
        self.answered.move_to_end(key)
        while len(self.answered) > self.interaction_cache_size:
            self.answered.popitem(last=False)

    def known_answered(self, tenant: str, interaction_id: str) -> bool:
        return (tenant, interaction_id) in self.answered


def is_touchpoint(record: Record) -> bool:
    return record["type"] == _TOUCHPOINT
