"""Closed windows kept in memory under a bound (issue 10, item 2) and the span maths of their loads."""
from __future__ import annotations

from core.windows import DAY_MS, MINUTE_MS, WindowSize, merged_spans
from schemas.records import EventType
from stream_processors.aggregators import ShardState


def test_merged_spans_unites_overlapping_and_touching_spans() -> None:
    assert merged_spans([]) == []
    assert merged_spans([(5, 7), (0, 2), (1, 3), (3, 4), (10, 20), (12, 15)]) == [(0, 4), (5, 7), (10, 20)]


def _state(kept: int) -> ShardState:
    return ShardState(0, [()], [WindowSize.minute], grace_ms=0, closed_cells_kept=kept)


def _record(t: int) -> dict:
    return {"type": EventType.touchpoint.value, "tenant": "acme", "time_ms": t, "dims": {}}


def test_closed_windows_are_kept_most_recently_touched_first_up_to_the_bound() -> None:
    state = _state(kept=2)
    for minute in range(4):  # each minute window holds one cell
        state.apply(_record(minute * MINUTE_MS), {})
    state.apply(_record(0), {})  # minute 0 touched again: now the most recent
    state.apply(_record(DAY_MS), {})  # the watermark closes minutes 0..3
    state.take_dirty()
    assert state.evict_closed() == 2
    assert sorted(k[2] for k in state.windows) == [0, 3 * MINUTE_MS, DAY_MS]
    assert state.closed_windows_held == 2
    assert state.needs_load(("acme", WindowSize.minute, MINUTE_MS))
    assert not state.needs_load(("acme", WindowSize.minute, 0))


def test_a_bound_of_zero_drops_every_closed_window() -> None:
    state = _state(kept=0)
    state.apply(_record(0), {})
    state.apply(_record(DAY_MS), {})
    assert state.evict_closed() == 1
    assert list(state.windows) == [("acme", WindowSize.minute, DAY_MS)]
    assert state.closed_windows_held == 0
