"""Window specs and pure window maths (no state, no I/O).

Windows are tumbling and aligned to the UTC epoch, in event time. Rolling
windows (24 h, 7 d, 28 d) are not state: they are answered from tumbling
buckets at read time (``kpi.measures.rolling``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, TypeVar

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


class WindowSize(str, Enum):
    minute = "1m"
    hour = "1h"
    day = "1d"

    @property
    def ms(self) -> int:
        return _SIZE_MS[self]


_SIZE_MS = {WindowSize.minute: MINUTE_MS, WindowSize.hour: HOUR_MS, WindowSize.day: DAY_MS}


@dataclass(frozen=True, slots=True)
class RollingSpec:
    """A rolling window answered from ``buckets`` consecutive tumbling ``base`` windows."""

    name: str
    base: WindowSize
    buckets: int


#: Every ``window`` the API accepts: tumbling sizes and rolling spans.
API_WINDOWS: dict[str, RollingSpec] = {
    "1m": RollingSpec("1m", WindowSize.minute, 1),
    "1h": RollingSpec("1h", WindowSize.hour, 1),
    "1d": RollingSpec("1d", WindowSize.day, 1),
    "24h": RollingSpec("24h", WindowSize.hour, 24),
    "7d": RollingSpec("7d", WindowSize.day, 7),
    "28d": RollingSpec("28d", WindowSize.day, 28),
}


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """The buckets of a read: points start at ``first``, ``first + base_ms``, ... before ``end``.

    A point at ``start`` covers event times ``[start - lead, start + base_ms)``: ``lead`` is
    0 for tumbling windows and ``(buckets - 1) * base_ms`` for rolling ones.
    """

    base: WindowSize
    buckets: int
    first: int
    end: int

    @classmethod
    def over(cls, window: str, from_ms: int, to_ms: int) -> BucketPlan:
        """Points of ``window`` (a key of :data:`API_WINDOWS`) starting in [``from_ms``, ``to_ms``)."""
        spec = API_WINDOWS[window]
        return cls(spec.base, spec.buckets, window_start(from_ms, spec.base.ms), to_ms)

    @classmethod
    def current(cls, window: str, now_ms: int) -> BucketPlan:
        """The one point of ``window`` ending with the bucket that holds ``now_ms`` (the current, partial one)."""
        spec = API_WINDOWS[window]
        first = window_start(now_ms, spec.base.ms)
        return cls(spec.base, spec.buckets, first, first + 1)

    @property
    def base_ms(self) -> int:
        return self.base.ms

    @property
    def lead(self) -> int:
        return (self.buckets - 1) * self.base_ms

    @property
    def starts(self) -> range:
        """Tumbling buckets to read: the points' own and the ``lead`` before the first."""
        return range(self.first - self.lead, self.end, self.base_ms)

    def point(self, start: int) -> tuple[int, int]:
        """Event times ``[from, to)`` the point at ``start`` covers."""
        return start - self.lead, start + self.base_ms

    def covered(self) -> tuple[int, int]:
        """Event times ``[from, to)`` the points together cover (what a drill-down selects)."""
        last = self.first + max(0, (self.end - 1 - self.first) // self.base_ms) * self.base_ms
        return self.point(self.first)[0], self.point(last)[1]

    def rolled(self, buckets: Mapping[int, S], empty: Callable[[], S],
               roll: Callable[[Sequence[S], int], list[S]]) -> list[tuple[int, S]]:
        """(start, state) of each point: ``roll`` (trailing sums of ``buckets`` tumbling states, like
        ``kpi.measures.rolling``) over the tumbling ``buckets`` by start ms, ``empty()`` where one is missing."""
        starts = list(self.starts)
        sums = roll([buckets.get(s, empty()) for s in starts], self.buckets)
        return [(start, state) for start, state in zip(starts, sums) if start >= self.first]


def window_start(time_ms: int, size_ms: int) -> int:
    """Start of the tumbling window of ``size_ms`` that contains ``time_ms`` (floor, also for negatives)."""
    return time_ms - time_ms % size_ms


def window_starts(from_ms: int, to_ms: int, size_ms: int) -> list[int]:
    """Starts of every window overlapping ``[from_ms, to_ms)``."""
    first = window_start(from_ms, size_ms)
    return list(range(first, to_ms, size_ms)) if to_ms > from_ms else []


def closed_before(watermark_ms: int, grace_ms: int, size_ms: int) -> int:
    """Windows starting before this instant are closed: no event within the grace can reach them."""
    return window_start(watermark_ms - grace_ms, size_ms)


def merged_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open ``[from, to)`` spans as the fewest disjoint spans, in time order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
