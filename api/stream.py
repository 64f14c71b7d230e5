"""The live stream behind ``GET /v1/stream``: poll, diff, and format Server-Sent Events.

No FastAPI here. One :class:`Streamer` per subscriber polls its
:class:`Sources` every ``interval`` seconds and yields SSE frames:

``event: kpi``
    ``{"metric", "window", "group_by", "filters", "data": [KpiPoint...], "count"}`` -
    only the buckets whose counts changed since the last push (all non-empty
    buckets on the first poll), same point shape as ``GET /v1/kpis``.
``event: alert``
    one alert history row (a state change) newer than the last one pushed, same
    shape as an item of ``GET /v1/alerts`` (times as ISO-8601, plus ``at_ms``).
``event: gap``
    a significant gap that is new or changed since the last push (shape of an
    item of ``GET /v1/gaps``), or ``{"cleared": true, "key": ...}`` when a gap
    pushed earlier is no longer significant. Only with ``gaps=true``.
``event: error``
    ``{"detail": ...}`` when a poll fails; the stream goes on.
``: heartbeat``
    an SSE comment after ``heartbeat_s`` (15 s) without any frame, so proxies keep
    the connection open.

The first frame is ``retry: <ms>``. Every event carries ``id:`` = the alert
cursor ``<at_ms>:<fingerprint>:<status>`` of the last alert row pushed (or seen
at connect time), so a client reconnecting with ``Last-Event-ID`` (browsers do it
by themselves) resumes alert events where it left off; KPI and gap state is
resent in full on reconnect.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from gaps.detect import Gap, SegmentGap
from schemas.kpis import KpiPoint

__all__ = ["AlertCursor", "KpiDiff", "GapDiff", "Sources", "Streamer", "alert_matches", "sse_comment", "sse_event"]

HEARTBEAT_S = 15.0
RETRY_MS = 3000


# -- SSE formatting -------------------------------------------------------------------
def sse_event(event: str, data: Any, event_id: str | None = None) -> str:
    """One SSE event; ``data`` is JSON-encoded on a single line (JSON has no raw newlines)."""
    body = data if isinstance(data, str) else orjson.dumps(data).decode()
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {_one_line(event_id)}")
    lines.extend(f"data: {line}" for line in body.split("\n"))
    return "\n".join(lines) + "\n\n"


def sse_comment(text: str) -> str:
    return f": {_one_line(text)}\n\n"


def sse_retry(ms: int) -> str:
    return f"retry: {int(ms)}\n\n"


def _one_line(s: str) -> str:
    return s.replace("\r", " ").replace("\n", " ")


# -- alert cursor ---------------------------------------------------------------------
@dataclass(frozen=True, order=True, slots=True)
class AlertCursor:
    """Position in the alert history: rows are pushed in (at_ms, fingerprint, status) order."""

    at_ms: int = 0
    fingerprint: str = ""
    status: str = ""

    def __str__(self) -> str:
        return f"{self.at_ms}:{self.fingerprint}:{self.status}"

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor | None:
        """The cursor of a ``Last-Event-ID``; ``None`` if absent or malformed."""
        if not text:
            return None
        parts = text.strip().split(":")
        if len(parts) != 3:
            return None
        try:
            at = int(parts[0])
        except ValueError:
            return None
        return cls(at, parts[1], parts[2]) if at >= 0 else None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> AlertCursor:
        return cls(int(row["at_ms"]), str(row["fingerprint"]), str(row["status"]))


def alert_matches(scope: Mapping[str, str], filters: Mapping[str, str]) -> bool:
    """An alert belongs to a subscription unless its scope names a filtered dimension with another value
    (a tenant-wide alert reaches every board of the tenant)."""
    return all(scope.get(dim, value) == value for dim, value in filters.items())


def new_alert_rows(rows: Iterable[Mapping[str, Any]], after: AlertCursor, filters: Mapping[str, str]
                   ) -> tuple[list[Mapping[str, Any]], AlertCursor]:
    """Rows past ``after``, oldest first, and the cursor past all of them (matching or not)."""
    fresh = sorted((r for r in rows if AlertCursor.of(r) > after), key=AlertCursor.of)
    cursor = AlertCursor.of(fresh[-1]) if fresh else after
    return [r for r in fresh if alert_matches(r.get("scope") or {}, filters)], cursor


def alert_public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A history row as ``GET /v1/alerts`` shows it (ms fields also as ISO-8601)."""
    out = {k: v for k, v in row.items() if k not in ("tenant", "starts_at_ms", "ends_at_ms")}
    out["at"] = _iso(row["at_ms"])
    out["starts_at"] = _iso(row.get("starts_at_ms"))
    out["ends_at"] = _iso(row.get("ends_at_ms"))
    return out


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# -- diffs ----------------------------------------------------------------------------
@dataclass
class KpiDiff:
    """Counts last pushed per (bucket start, group); a bucket is pushed again only if they change."""

    seen: dict[tuple[datetime, tuple[tuple[str, str], ...]], dict[str, int]] = field(default_factory=dict)

    def update(self, points: Iterable[KpiPoint]) -> list[KpiPoint]:
        changed = []
        for p in points:
            key = (p.window_start, tuple(sorted(p.group.items())))
            if self.seen.get(key) != p.counts:
                self.seen[key] = dict(p.counts)
                changed.append(p)
        return changed


def gap_key(g: Gap) -> str:
    parts = [g.kind.value, g.metric.value, str(g.window.start_ms),
             ",".join(f"{k}={v}" for k, v in sorted(g.scope.items()))]
    if isinstance(g, SegmentGap):
        parts.append(f"{g.dimension}={g.segment}")
    return "|".join(parts)


def _gap_signature(g: Gap) -> tuple:
    return (tuple(sorted(g.observed.counts.items())), g.reference.value, g.reference.n, g.severity,
            getattr(g, "status", None))


@dataclass
class GapDiff:
    """Significant gaps last pushed, by :func:`gap_key`."""

    seen: dict[str, tuple] = field(default_factory=dict)

    def update(self, gaps: Iterable[Gap]) -> tuple[list[Gap], list[str]]:
        """(significant gaps new or changed, keys of pushed gaps no longer significant)."""
        current = {gap_key(g): g for g in gaps if g.significant}
        changed = []
        for key, g in current.items():
            sig = _gap_signature(g)
            if self.seen.get(key) != sig:
                self.seen[key] = sig
                changed.append(g)
        cleared = sorted(k for k in self.seen if k not in current)
        for k in cleared:
            del self.seen[k]
        return changed, cleared


# -- the streamer ---------------------------------------------------------------------
@dataclass
class Sources:
    """What a subscription reads; the router binds these to the warehouse and the caller's tenant."""

    kpis: Callable[[], Awaitable[list[KpiPoint]]]
    #: ``await alerts(from_ms)`` -> history rows with ``at_ms >= from_ms`` (``None``: newest rows), any order.
    alerts: Callable[[int | None], Awaitable[list[Mapping[str, Any]]]]
    gaps: Callable[[], Awaitable[list[Gap]]] | None = None
    render_gap: Callable[[Gap], Any] = lambda g: {"kind": g.kind.value}


@dataclass
class Streamer:
    sources: Sources
    metric: str
    window: str
    group_by: list[str]
    filters: dict[str, str]
    interval: float = 5.0
    heartbeat_s: float = HEARTBEAT_S
    retry_ms: int = RETRY_MS
    cursor: AlertCursor | None = None  # from Last-Event-ID; None: start after the newest row at connect
    kpi_diff: KpiDiff = field(default_factory=KpiDiff)
    gap_diff: GapDiff = field(default_factory=GapDiff)

    async def start(self) -> None:
        if self.cursor is None:
            newest = await self.sources.alerts(None)
            self.cursor = max((AlertCursor.of(r) for r in newest), default=AlertCursor())

    async def poll(self) -> list[str]:
        """One round: the frames to push now (possibly none)."""
        assert self.cursor is not None, "call start() first"
        frames: list[str] = []
        points = self.kpi_diff.update(await self.sources.kpis())
        rows, self.cursor = new_alert_rows(await self.sources.alerts(self.cursor.at_ms), self.cursor, self.filters)
        eid = str(self.cursor)
        if points:
            frames.append(sse_event("kpi", {
                "metric": self.metric, "window": self.window, "group_by": self.group_by, "filters": self.filters,
                "data": [p.model_dump(mode="json") for p in points], "count": len(points)}, eid))
        for r in rows:
            frames.append(sse_event("alert", alert_public(r), str(AlertCursor.of(r))))
        if self.sources.gaps is not None:
            changed, cleared = self.gap_diff.update(await self.sources.gaps())
            for g in changed:
                frames.append(sse_event("gap", {"key": gap_key(g), "cleared": False, **self.sources.render_gap(g)},
                                        eid))
            for key in cleared:
                frames.append(sse_event("gap", {"key": key, "cleared": True}, eid))
        return frames

    async def frames(self, is_disconnected: Callable[[], Awaitable[bool]] | None = None,
                     clock: Callable[[], float] = time.monotonic) -> AsyncIterator[str]:
        """``retry:``, then polls every ``interval`` s and heartbeats, until the client goes away."""
        yield sse_retry(self.retry_ms)
        yield sse_comment("connected")
        await self.start()
        last_sent = clock()
        next_poll = clock()
        while True:
            if is_disconnected is not None and await is_disconnected():
                return
            now = clock()
            if now >= next_poll:
                next_poll = now + self.interval
                try:
                    out = await self.poll()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed poll is reported, the stream goes on
                    out = [sse_event("error", {"detail": str(exc) or type(exc).__name__})]
                for frame in out:
                    yield frame
                if out:
                    last_sent = clock()
            now = clock()
            if now - last_sent >= self.heartbeat_s:
                yield sse_comment("heartbeat")
                last_sent = now
            wait = min(next_poll, last_sent + self.heartbeat_s) - clock()
            await asyncio.sleep(max(0.0, min(wait, 1.0)))
