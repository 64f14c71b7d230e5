"""Read the windows a gap query needs and run the detectors on them.

The one place that turns a request (metric, window, scope, dimension, at)
into gaps: the API calls it now; the stream-side evaluation can call it
later. SQL stays in :mod:`warehouse.queries` and :mod:`warehouse.gap_queries`.

Windows: ``1h`` evaluates the last complete hour before ``at`` against the
same hour of the previous ``baseline_weeks`` weeks; ``1d`` the last complete
UTC day against the previous ``baseline_days`` days. Baseline periods older
than the oldest one holding any data of the scope are not used (a tenant
with two weeks of history has a two-week baseline, not two empty weeks).

Scopes: the filtered scope, and with a ``dimension`` each of its values seen
in the window or the baseline (the unknown value '' is left out). Segment
gaps compare the values with each other, gaming gaps (``gaps.gaming``) each
value's surveyed share and score with its peers' (Holm over the values); baseline and data gaps run per
scope with a Bonferroni guard over the scopes; targets apply to the scope
whose dimensions they name exactly.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gaps.detect import (
    DEFAULT_TARGETS,
    VOLUME_METRICS,
    Gap,
    GapKind,
    Thresholds,
    Window,
    baseline_gap,
    data_gap,
    segment_gaps,
    target_gap,
)
from gaps.gaming import GamingGap, gaming_gaps
from gaps.live import LiveFrame, LiveSpec, live_data_gaps, live_kpi_gaps, read_span
from kpi.counts import KpiCounts
from kpi.measures import AspectMetric, Metric
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize, window_start
from warehouse import gap_queries, queries
from warehouse.client import Warehouse
from warehouse.count_sources import CountSource, choose_source, read_counts
from warehouse.gap_queries import TargetRow

WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class GapQuery:
    metric: Metric | AspectMetric  # an aspect metric: live, 1h and 1d (its counters: ``aspect_windows``)
    window: str  # "1h" | "1d"
    at_ms: int
    kinds: frozenset[GapKind]
    scope: dict[str, str]
    dimension: str | None = None


def evaluation_window(window: str, at_ms: int) -> Window:
    """The last complete tumbling window ending at or before ``at_ms``."""
    size = WindowSize(window).ms
    end = window_start(at_ms, size)
    return Window(end - size, end)


def baseline_period_ms(window: str) -> int:
    return WEEK_MS if window == "1h" else DAY_MS


def applicable_target(targets: Iterable[TargetRow], metric: Metric | AspectMetric, scope: dict[str, str],
                      at_ms: int) -> TargetRow | None:
    """The target of exactly ``scope`` valid at ``at_ms`` (latest ``valid_from`` wins)."""
    best: TargetRow | None = None
    for t in targets:
        if t.metric != metric.value or t.scope != scope or t.valid_from_ms > at_ms:
            continue
        if t.valid_to_ms is not None and at_ms >= t.valid_to_ms:
            continue
        if best is None or t.valid_from_ms > best.valid_from_ms:
            best = t
    return best


def detect_all(
    q: GapQuery, win: Window, current: dict[str, KpiCounts], history: Sequence[dict[str, KpiCounts]],
    targets: Sequence[TargetRow], th: Thresholds,
) -> list[Gap]:
    """Pure part: ``current`` and each ``history`` period map a dimension value ('' without a
    dimension) to its counts; ``history[0]`` is the most recent baseline period."""
    def total(groups: dict[str, KpiCounts]) -> KpiCounts:
        out = KpiCounts()
        for c in groups.values():
            out.add(c)
        return out

    scopes: list[tuple[dict[str, str], KpiCounts, list[KpiCounts]]] = [
        (dict(q.scope), total(current), [total(h) for h in history])]
    if q.dimension:
        values = sorted({v for g in (current, *history) for v in g if v})
        for v in values:
            scopes.append(({**q.scope, q.dimension: v}, current.get(v, KpiCounts()),
                           [h.get(v, KpiCounts()) for h in history]))
    m = len(scopes)
    gaps: list[Gap] = []
    if GapKind.target in q.kinds:
        for scope, counts, _ in scopes:
            t = applicable_target(targets, q.metric, scope, win.start_ms)
            # A metric with a default target (pos_neg_ratio: 3:1) has one in every scope without its own.
            value = t.value if t is not None else DEFAULT_TARGETS.get(q.metric)
            if value is not None:
                gaps.append(target_gap(q.metric, counts, value, scope=scope, window=win, thresholds=th))
    if GapKind.segment in q.kinds and q.dimension:
        gaps.extend(segment_gaps(q.metric, current, dimension=q.dimension, scope=q.scope, window=win,
                                 thresholds=th, total=scopes[0][1]))
    if GapKind.gaming in q.kinds and q.dimension:
        gaps.extend(gaming_gaps(q.metric, current, dimension=q.dimension, scope=q.scope, window=win,
                                thresholds=th, total=scopes[0][1]))
    if GapKind.baseline in q.kinds and history:
        for scope, counts, hist in scopes:
            gaps.append(baseline_gap(q.metric, counts, hist, scope=scope, window=win, thresholds=th,
                                     comparisons=m))
    if GapKind.data in q.kinds and history:
        for vm in VOLUME_METRICS:
            for scope, counts, hist in scopes:
                gaps.append(data_gap(vm, counts, hist, scope=scope, window=win, thresholds=th, comparisons=m))
    gaps.sort(key=lambda g: (-g.severity, not g.significant, g.kind.value, g.metric.value,
                             sorted(g.scope.items())))
    return gaps


async def evaluate(
    wh: Warehouse, tenant: str, q: GapQuery, source: CountSource, baseline_periods: int, th: Thresholds,
) -> tuple[Window, list[Gap]]:
    """Read the window and its baseline (one read, of a stored view or the ledger) and the targets, then detect."""
    win = evaluation_window(q.window, q.at_ms)
    period = baseline_period_ms(q.window)
    first = win.start_ms - baseline_periods * period
    group_by = (q.dimension,) if q.dimension else ()
    rows = await read_counts(wh, tenant, q.window, source, group_by, q.scope, first // 1000, win.end_ms // 1000,
                             step_s=period // 1000, aspects=isinstance(q.metric, AspectMetric))
    by_start: dict[int, dict[str, KpiCounts]] = {}
    for r in rows:
        start = r.window_start * 1000
        if (win.start_ms - start) % period == 0:
            by_start.setdefault(start, {})[r.group[0] if group_by else ""] = r.counts
    history = [by_start.get(win.start_ms - i * period, {}) for i in range(1, baseline_periods + 1)]
    while history and not any(not c.is_zero() for c in history[-1].values()):
        history.pop()  # before the scope's history began
    targets = await gap_queries.list_targets(wh, tenant, q.metric.value) if GapKind.target in q.kinds else []
    return win, detect_all(q, win, by_start.get(win.start_ms, {}), history, targets, th)


async def read_live_frame(wh: Warehouse, tenant: str, views: list[list[str]], scope: dict[str, str],
                          dimensions: tuple[str, ...], spec: LiveSpec, now_ms: int,
                          aspects: bool = False) -> LiveFrame:
    """The live frame at the last minute boundary before ``now_ms``: two reads (minutes, hours); with
    ``aspects`` (a rated aspect's live gaps), their counters too (two more, of ``aspect_windows``)."""
    end = window_start(now_ms, MINUTE_MS)
    view = queries.choose_view(views, set(scope) | set(dimensions))
    (m_from, m_to), (h_from, h_to) = read_span(end, spec)
    minute_rows = await _frame_rows(wh, tenant, "1m", view, dimensions, scope, m_from, m_to, aspects)
    hour_rows = await _frame_rows(wh, tenant, "1h", view, dimensions, scope, h_from, h_to, aspects)
    return frame_from_rows(end, spec, minute_rows, hour_rows)


async def _frame_rows(wh: Warehouse, tenant: str, size: str, view: tuple[str, ...], dimensions: tuple[str, ...],
                      scope: dict[str, str], from_ms: int, to_ms: int, aspects: bool) -> list[queries.WindowRow]:
    """A view's window rows of ``[from_ms, to_ms)``; with ``aspects``, read like every aspect read
    (``count_sources.read_counts``: the aspects' counters attached, empty cells left out)."""
    if aspects:
        return await read_counts(wh, tenant, size, CountSource(view), dimensions, scope, from_ms // 1000,
                                 to_ms // 1000, aspects=True)
    return await queries.read_windows(wh, tenant, size, view, dimensions, scope, from_ms // 1000, to_ms // 1000)


#: Kinds ``window=live`` evaluates (targets and segment comparisons run on the hourly and daily windows).
LIVE_KINDS = frozenset({GapKind.baseline, GapKind.data})


async def evaluate_live(wh: Warehouse, tenant: str, q: GapQuery, views: list[list[str]],
                        spec: LiveSpec) -> tuple[Window, list[Gap]]:
    """Live baseline and data gaps (``gaps.live``) of the scope, or of each value of ``q.dimension``."""
    dims = (q.dimension,) if q.dimension else ()
    frame = await read_live_frame(wh, tenant, views, q.scope, dims, spec, q.at_ms,
                                  aspects=isinstance(q.metric, AspectMetric) and GapKind.baseline in q.kinds)
    gaps: list[Gap] = []
    if GapKind.baseline in q.kinds:
        gaps.extend(live_kpi_gaps(q.metric, frame, spec, q.scope, dims))
    if GapKind.data in q.kinds:
        for vm in VOLUME_METRICS:
            gaps.extend(live_data_gaps(vm, frame, spec, q.scope, dims))
    gaps.sort(key=lambda g: (-g.severity, not g.significant, g.kind.value, g.metric.value,
                             sorted(g.scope.items())))
    return Window(frame.end_ms - spec.longest_ms, frame.end_ms), gaps


async def evaluate_window(wh: Warehouse, tenant: str, q: GapQuery, source: CountSource, views: list[list[str]],
                          gap_settings: Any) -> tuple[Window, list[Gap]]:
    """The gaps of ``q.window``: ``live`` (kinds outside ``LIVE_KINDS`` are not evaluated), ``1h`` or ``1d``.

    ``source`` (a stored view, or the ledger for a crossing no view holds) serves the hourly/daily
    windows; ``views`` (all stored views) the live frame, which needs a view.
    ``gap_settings`` is :class:`core.settings.GapSettings`.
    """
    gs = gap_settings
    if q.window == "live":
        return await evaluate_live(wh, tenant, replace(q, kinds=q.kinds & LIVE_KINDS), views, LiveSpec.from_settings(gs))
    periods = gs.baseline_weeks if q.window == "1h" else gs.baseline_days
    return await evaluate(wh, tenant, q, source, periods, Thresholds.from_settings(gs))


def gaming_period(at_ms: int, days: int) -> Window:
    """The trailing ``days`` × 24 complete hours before ``at_ms`` (what a gaming alert rule tests)."""
    end = window_start(at_ms, HOUR_MS)
    return Window(end - days * DAY_MS, end)


@dataclass(frozen=True, slots=True)
class GamingPeriod:
    """The gaming gaps of one period, and the values of the dimension holding any counts in it
    (a value with counts but too few answers is seen, yet not tested)."""

    window: Window
    gaps: list[GamingGap]
    seen: frozenset[str]


async def evaluate_gaming(wh: Warehouse, tenant: str, views: list[list[str]], metric: Metric,
                          scope: dict[str, str], dimension: str, window: Window, min_n: int,
                          alpha: float) -> GamingPeriod:
    """The gaming test (:func:`gaps.gaming.gaming_gaps`) of each value of ``dimension`` in ``scope`` over
    ``window`` (whole hours), its counts summed from the hourly windows of a stored view or the ledger."""
    source = choose_source(views, (dimension,), tuple(scope))
    rows = await read_counts(wh, tenant, WindowSize.hour.value, source, (dimension,), scope,
                             window.start_ms // 1000, window.end_ms // 1000)
    segments: dict[str, KpiCounts] = {}
    for r in rows:
        if window.start_ms <= r.window_start * 1000 < window.end_ms:
            segments.setdefault(r.group[0], KpiCounts()).add(r.counts)
    gaps = gaming_gaps(metric, segments, dimension=dimension, scope=scope, window=window,
                       thresholds=Thresholds(min_n=min_n), alpha=alpha)
    return GamingPeriod(window, gaps, frozenset(v for v, c in segments.items() if v and not c.is_zero()))


def frame_from_rows(end_ms: int, spec: LiveSpec, minute_rows: Iterable[queries.WindowRow],
                    hour_rows: Iterable[queries.WindowRow]) -> LiveFrame:
    """Arrange window rows (``read_windows`` output, any span) into the frame at ``end_ms``."""
    first = end_ms - spec.longest_ms
    n = spec.longest_ms // MINUTE_MS
    zero = KpiCounts()
    minutes: dict[tuple[str, ...], list[KpiCounts]] = {}
    for r in minute_rows:
        i = (r.window_start * 1000 - first) // MINUTE_MS
        if 0 <= i < n:
            minutes.setdefault(r.group, [zero] * n)[i] = r.counts
    hours: dict[tuple[str, ...], dict[int, KpiCounts]] = {}
    for r in hour_rows:
        hours.setdefault(r.group, {})[r.window_start * 1000] = r.counts
    return LiveFrame(end_ms, minutes, hours)
