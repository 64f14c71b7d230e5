"""core.windows: pure window maths and the API window specs."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.windows import (
    API_WINDOWS,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    RollingSpec,
    WindowSize,
    closed_before,
    window_start,
    window_starts,
)

# Around +-300 years of epoch milliseconds, negatives included.
times = st.integers(min_value=-10**13, max_value=10**13)
sizes = st.sampled_from([s.ms for s in WindowSize]) | st.integers(min_value=1, max_value=10**9)


def test_size_ms() -> None:
    assert WindowSize.minute.ms == 60_000 == MINUTE_MS
    assert WindowSize.hour.ms == 3_600_000 == HOUR_MS
    assert WindowSize.day.ms == 86_400_000 == DAY_MS
    assert [s.value for s in WindowSize] == ["1m", "1h", "1d"]


@given(times, sizes)
def test_window_start_contains_time(t: int, size: int) -> None:
    start = window_start(t, size)
    assert start <= t < start + size


@given(times, sizes)
def test_window_start_is_aligned_to_epoch(t: int, size: int) -> None:
    assert window_start(t, size) % size == 0


@given(times, sizes)
def test_window_start_is_idempotent(t: int, size: int) -> None:
    start = window_start(t, size)
    assert window_start(start, size) == start
    assert window_start(start + size - 1, size) == start
    assert window_start(start + size, size) == start + size


@given(times, times, sizes)
def test_window_start_is_monotonic(a: int, b: int, size: int) -> None:
    lo, hi = sorted((a, b))
    assert window_start(lo, size) <= window_start(hi, size)


@given(times)
def test_coarser_windows_contain_finer_ones(t: int) -> None:
    m, h, d = (window_start(t, s.ms) for s in WindowSize)
    assert d <= h <= m <= t
    assert window_start(m, HOUR_MS) == h and window_start(h, DAY_MS) == d


@pytest.mark.parametrize(("t", "size", "expected"), [
    (0, MINUTE_MS, 0),
    (59_999, MINUTE_MS, 0),
    (60_000, MINUTE_MS, 60_000),
    (-1, MINUTE_MS, -60_000),  # floor, not truncation toward zero
    (-60_000, MINUTE_MS, -60_000),
    (-60_001, MINUTE_MS, -120_000),
    (-1, DAY_MS, -DAY_MS),
    (1_762_041_600_000 + 5 * HOUR_MS + 1, HOUR_MS, 1_762_041_600_000 + 5 * HOUR_MS),
    (1_762_041_600_000 + 5 * HOUR_MS + 1, DAY_MS, 1_762_041_600_000),
])
def test_window_start_examples(t: int, size: int, expected: int) -> None:
    assert window_start(t, size) == expected


@given(times, st.integers(min_value=0, max_value=50 * DAY_MS), st.sampled_from(list(WindowSize)))
def test_window_starts_cover_the_range_exactly(from_ms: int, span: int, size: WindowSize) -> None:
    to_ms = from_ms + span
    starts = window_starts(from_ms, to_ms, size.ms)
    if span == 0:
        assert starts == []
        return
    # Every start is aligned, consecutive, and every window overlaps [from, to).
    assert all(s % size.ms == 0 for s in starts)
    assert all(b - a == size.ms for a, b in zip(starts, starts[1:]))
    assert all(s < to_ms and s + size.ms > from_ms for s in starts)
    # Nothing overlapping is missing: the first contains from, the last contains to - 1.
    assert starts[0] == window_start(from_ms, size.ms)
    assert starts[-1] == window_start(to_ms - 1, size.ms)
    assert len(starts) == (starts[-1] - starts[0]) // size.ms + 1


@given(times, times, sizes)
def test_window_starts_every_point_is_covered(from_ms: int, t: int, size: int) -> None:
    size = min(size, 10**7)
    to_ms = from_ms + abs(t - from_ms) % (20 * size) + 1
    starts = window_starts(from_ms, to_ms, size)
    for point in (from_ms, to_ms - 1, (from_ms + to_ms) // 2):
        assert window_start(point, size) in starts


@given(times, st.integers(min_value=-DAY_MS, max_value=0), sizes)
def test_window_starts_empty_when_range_empty_or_reversed(from_ms: int, back: int, size: int) -> None:
    assert window_starts(from_ms, from_ms + back, size) == []


def test_window_starts_examples() -> None:
    assert window_starts(0, HOUR_MS, HOUR_MS) == [0]
    assert window_starts(1, HOUR_MS + 1, HOUR_MS) == [0, HOUR_MS]
    assert window_starts(-1, 1, MINUTE_MS) == [-MINUTE_MS, 0]
    assert window_starts(30 * MINUTE_MS, 3 * HOUR_MS, HOUR_MS) == [0, HOUR_MS, 2 * HOUR_MS]


grace = st.integers(min_value=0, max_value=10 * DAY_MS)


@given(times, grace, sizes)
def test_closed_before_is_aligned_and_leaves_the_grace_reachable(wm: int, grace_ms: int, size: int) -> None:
    cutoff = closed_before(wm, grace_ms, size)
    assert cutoff % size == 0
    # Every window starting before the cutoff ends at or before watermark - grace:
    # an event at time >= watermark - grace (still on time) cannot reach it.
    assert cutoff <= wm - grace_ms
    # The window holding watermark - grace is still open (not before the cutoff).
    assert window_start(wm - grace_ms, size) == cutoff
    assert cutoff > wm - grace_ms - size


@given(times, times, grace, sizes)
def test_closed_before_is_monotonic_in_the_watermark(a: int, b: int, grace_ms: int, size: int) -> None:
    lo, hi = sorted((a, b))
    assert closed_before(lo, grace_ms, size) <= closed_before(hi, grace_ms, size)


@given(times, grace, grace, sizes)
def test_closed_before_is_antitonic_in_the_grace(wm: int, g1: int, g2: int, size: int) -> None:
    lo, hi = sorted((g1, g2))
    assert closed_before(wm, hi, size) <= closed_before(wm, lo, size)


def test_closed_before_examples() -> None:
    assert closed_before(HOUR_MS + 10 * MINUTE_MS, 10 * MINUTE_MS, HOUR_MS) == HOUR_MS
    assert closed_before(HOUR_MS + 10 * MINUTE_MS - 1, 10 * MINUTE_MS, HOUR_MS) == 0
    assert closed_before(0, 1, MINUTE_MS) == -MINUTE_MS


def test_api_windows() -> None:
    assert set(API_WINDOWS) == {"1m", "1h", "1d", "24h", "7d", "28d"}
    for name, spec in API_WINDOWS.items():
        assert isinstance(spec, RollingSpec)
        assert spec.name == name
        assert spec.buckets >= 1
    # Tumbling windows are one bucket of their own size.
    for size in WindowSize:
        assert API_WINDOWS[size.value] == RollingSpec(size.value, size, 1)
    # Rolling spans cover exactly their duration.
    spans = {"24h": DAY_MS, "7d": 7 * DAY_MS, "28d": 28 * DAY_MS}
    for name, ms in spans.items():
        spec = API_WINDOWS[name]
        assert spec.base.ms * spec.buckets == ms
    assert API_WINDOWS["24h"].base is WindowSize.hour
    assert API_WINDOWS["7d"].base is WindowSize.day
    assert API_WINDOWS["28d"].base is WindowSize.day


def test_rolling_spec_is_frozen() -> None:
    spec = API_WINDOWS["7d"]
    with pytest.raises(AttributeError):
        spec.buckets = 3  # type: ignore[misc]
