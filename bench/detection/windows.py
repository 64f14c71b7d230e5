"""The windows of every rule family read back from the warehouse once, and the views of them the rules read.

``frame_at`` is what the live gap evaluator would read at a time, ``counts_before`` what a naive
threshold rule would: both from memory, so the replay does not query the warehouse every minute.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.detection.scenario import FAMILIES, START, TENANT, VIEWS, Scenario, epoch_ms
from core.windows import MINUTE_MS, WindowSize, window_start
from gaps.live import LiveFrame, LiveSpec
from kpi.counts import KpiCounts
from warehouse import queries
from warehouse.client import Warehouse


@dataclass
class FamilyWindows:
    """Every 1m and 1h window of one dimension family, by group key."""

    minute0: int
    minutes: dict[tuple[str, ...], list[KpiCounts]]
    hour_rows: list[queries.WindowRow]
    hours: dict[tuple[str, ...], dict[int, KpiCounts]] = field(default_factory=dict)

    def sum_minutes(self, key: tuple[str, ...], start_ms: int, end_ms: int) -> KpiCounts:
        """The minute windows of ``key`` in [start_ms, end_ms) added up; minutes outside the data count as empty."""
        out = KpiCounts()
        series = self.minutes.get(key)
        if series is None:
            return out
        for i in range((start_ms - self.minute0) // MINUTE_MS, (end_ms - self.minute0) // MINUTE_MS):
            if 0 <= i < len(series):
                out.add(series[i])
        return out


async def load_windows(wh: Warehouse, scenario: Scenario) -> dict[tuple[str, ...], FamilyWindows]:
    first = epoch_ms(START)
    last = epoch_ms(scenario.end)
    n = (last - first) // MINUTE_MS
    zero = KpiCounts()
    out: dict[tuple[str, ...], FamilyWindows] = {}
    for dims in FAMILIES:
        view = queries.choose_view(VIEWS, set(dims))
        rows = await queries.read_windows(wh, TENANT, "1m", view, dims, {}, first // 1000, last // 1000)
        minutes: dict[tuple[str, ...], list[KpiCounts]] = {}
        for r in rows:
            minutes.setdefault(r.group, [zero] * n)[(r.window_start * 1000 - first) // MINUTE_MS] = r.counts
        hour_rows = await queries.read_windows(wh, TENANT, "1h", view, dims, {}, first // 1000, last // 1000)
        fw = FamilyWindows(first, minutes, hour_rows)
        for r in hour_rows:
            fw.hours.setdefault(r.group, {})[r.window_start * 1000] = r.counts
        out[dims] = fw
    return out


def frame_at(fw: FamilyWindows, end_ms: int, spec: LiveSpec) -> LiveFrame:
    """The frame the live evaluator would read at ``end_ms``: minutes before it, complete hours before it."""
    n = spec.longest_ms // MINUTE_MS
    i = (end_ms - fw.minute0) // MINUTE_MS
    minutes = {k: v[max(0, i - n):i] if i >= n else [KpiCounts()] * (n - i) + v[:i] for k, v in fw.minutes.items()}
    # Whole hours are passed: the detector reads only hours before the recent window, and earlier days.
    return LiveFrame(end_ms, minutes, fw.hours, first_data_ms=fw.minute0)


def counts_before(fw: FamilyWindows, key: tuple[str, ...], window: str, end_ms: int) -> KpiCounts:
    """Naive rules: the current (partial) bucket of ``window`` up to ``end_ms``, from minute windows."""
    size = WindowSize(window).ms
    return fw.sum_minutes(key, window_start(end_ms - 1, size), end_ms)
