"""Live gap detection on rolling minute windows: pure, no I/O.

The hourly and daily detectors of :mod:`gaps.detect` answer "how did the
last hour compare?". An ops team needs "is something breaking *now*?" within
minutes, so this module tests the last few minutes of each scope, from the
``1m`` windows, against the scope's own history from the ``1h`` windows.

Answers (NPS, CSAT, CES, FCR, response rate) — :func:`live_kpi_gaps`
    For each scope and each rolling length ``L`` in ``lengths_min`` the
    counts of the last ``L`` minutes are compared with the scope's baseline
    (the complete hours of the previous ``baseline_days`` days before the
    recent window) by :func:`gaps.detect.baseline_gap`. Short lengths catch
    a collapse within minutes, long ones a moderate drop within the hour. A
    scope is reported once, at its most significant length.

Volume (touchpoints, responses) — :func:`live_data_gaps`
    The count of the last ``L`` minutes against the count expected at this
    time of day: the mean over the previous days of the same span, read
    from the hourly windows pro rata. A feed is ``silent`` (0) or ``low``
    when the Poisson lower tail is below alpha *and* the count is under
    ``max_volume_ratio`` (10 %) of expected, and only where at least
    ``min_expected_volume`` (50) events are expected. The baseline does not
    know weekdays yet, so a Saturday at 55 % of a weekday must not read as a
    gap: these defaults were set by ``make evaluate`` for that reason. A
    partial outage (half the usual volume) is not reported.

Statistics, so that nobody chases noise
    Evaluated every minute, a detector tests the same data again and again.
    ``alpha`` is therefore a family-wise level *per evaluation*, split
    (Bonferroni) over every (scope, length) pair that reaches ``min_n``;
    its default, 1e-4, gave no false gap on incident-free days in
    ``make evaluate`` (1,000 answers an hour, 14 rules). Small samples are
    tested exactly (:func:`exact_lower_tail`), which is what makes
    ``min_n = 10`` safe. A gap must also be practically significant: at
    least ``min_effect`` KPI units worse than the baseline.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gaps.detect import (
    GAP_METRICS,
    VOLUME_METRICS,
    BaselineGap,
    DataGap,
    DataStatus,
    Gap,
    Reference,
    Thresholds,
    Window,
    baseline_gap,
    gap_scale,
    poisson_cdf,
    proportion_counts,
)
from kpi import stats
from kpi.counts import KpiCounts
from kpi.measures import LOWER_IS_BETTER, AspectMetric, Metric, measure
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, window_start

__all__ = [
    "ASPECT_MEAN_MIN_EFFECT",
    "ASPECT_TOP2_MIN_EFFECT",
    "DEFAULT_MIN_EFFECT",
    "LiveFrame",
    "LiveSpec",
    "ScopeKey",
    "default_min_effect",
    "exact_lower_tail",
    "expected_volume",
    "live_data_gaps",
    "live_kpi_gaps",
    "read_span",
]

#: Values of the fanned-out dimensions, in the order of the rule's ``dimensions``.
ScopeKey = tuple[str, ...]

#: Smallest drop worth an alert, in KPI units (NPS points, percentage points, CES points).
DEFAULT_MIN_EFFECT: dict[Metric, float] = {
    Metric.nps: 10.0,
    Metric.csat: 8.0,
    Metric.ces: 0.4,
    Metric.fcr: 8.0,
    Metric.fcr_operational: 8.0,
    Metric.response_rate: 5.0,
    Metric.conversion_rate: 5.0,
    Metric.abandonment_rate: 5.0,
    Metric.transfer_rate: 5.0,
    Metric.wait_time: 30.0,  # seconds
    Metric.handle_time: 60.0,
    Metric.pos_neg_ratio: 1.0,  # positive experiences per negative one
    Metric.review_rating: 0.3,  # rating points
    Metric.signal_negative_share: 5.0,
}

#: A rated aspect (``kpi.measures.AspectMetric``): its mean must drop by this share of its scale
#: ``max - min`` (0.4 on 1-5, as CES's 0.4 on 1-7), its top-2 box by these percentage points (as CSAT's).
ASPECT_MEAN_MIN_EFFECT = 0.1
ASPECT_TOP2_MIN_EFFECT = 8.0


def default_min_effect(metric: Metric | AspectMetric) -> float:
    """The smallest drop worth an alert (``DEFAULT_MIN_EFFECT``, or a rated aspect's from its scale)."""
    if isinstance(metric, AspectMetric):
        return ASPECT_TOP2_MIN_EFFECT if metric.kind == "top2" else ASPECT_MEAN_MIN_EFFECT * gap_scale(metric)
    return DEFAULT_MIN_EFFECT.get(metric, 0.0)


#: Live data gaps need this many expected events (see :func:`live_data_gaps`); the
#: hourly ``gaps.min_expected_volume`` may only raise it.
_LIVE_MIN_EXPECTED_VOLUME = 50.0


@dataclass(frozen=True, slots=True)
class LiveSpec:
    """The knobs of one live detector (a gap rule carries them)."""

    lengths_min: tuple[int, ...] = (10, 20, 30, 60)
    baseline_days: int = 7
    alpha: float = 1e-4
    min_n: int = 10
    min_effect: float | None = None  # None: DEFAULT_MIN_EFFECT of the metric
    max_volume_ratio: float = 0.1
    min_expected_volume: float = _LIVE_MIN_EXPECTED_VOLUME
    #: Below this many answers the p-value is the exact tail against the baseline's shares.
    exact_below: int = 100

    @property
    def longest_ms(self) -> int:
        return max(self.lengths_min) * MINUTE_MS

    def effect(self, metric: Metric | AspectMetric) -> float:
        return default_min_effect(metric) if self.min_effect is None else self.min_effect

    @classmethod
    def from_settings(cls, s: Any) -> LiveSpec:
        """``window=live`` of :class:`core.settings.GapSettings`."""
        return cls(lengths_min=tuple(s.live_lengths_min), baseline_days=s.baseline_days, alpha=s.live_alpha,
                   min_n=s.live_min_n, min_expected_volume=max(s.min_expected_volume, _LIVE_MIN_EXPECTED_VOLUME))


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """What the detector sees at ``end_ms`` (a minute boundary), per scope key.

    ``minutes[key]``: the ``1m`` counts of ``[end_ms - longest, end_ms)``,
    oldest first, one per minute (zeros where nothing happened).
    ``hours[key]``: ``1h`` counts by window start (ms) over the span
    :func:`read_span` gives; hours without data may be absent.
    """

    end_ms: int
    minutes: Mapping[ScopeKey, Sequence[KpiCounts]]
    hours: Mapping[ScopeKey, Mapping[int, KpiCounts]]
    first_data_ms: int | None = None  # earliest hour of the tenant's history; None = from ``hours``

    def scope_keys(self) -> list[ScopeKey]:
        """Every key seen, recent or in history; keys holding the unknown value '' are not tested."""
        seen = set(self.minutes) | set(self.hours)
        return sorted(k for k in seen if all(v != "" for v in k))


def read_span(end_ms: int, spec: LiveSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """The ``[from, to)`` spans (ms) of minute and hour windows a frame at ``end_ms`` needs."""
    recent_from = end_ms - spec.longest_ms
    hours_to = window_start(end_ms, HOUR_MS) + HOUR_MS
    hours_from = window_start(recent_from, HOUR_MS) - spec.baseline_days * DAY_MS
    return (recent_from, end_ms), (hours_from, hours_to)


def _sum(buckets: Sequence[KpiCounts]) -> KpiCounts:
    out = KpiCounts()
    for c in buckets:
        out.add(c)
    return out


def _history_days(frame: LiveFrame, spec: LiveSpec, span_ms: int) -> list[int]:
    """Offsets (days) whose shifted recent window lies wholly inside the tenant's history."""
    first = frame.first_data_ms
    if first is None:
        firsts = [h for hours in frame.hours.values() for h, c in hours.items() if not c.is_zero()]
        first = min(firsts) if firsts else None
    if first is None:
        return []
    return [d for d in range(1, spec.baseline_days + 1) if frame.end_ms - span_ms - d * DAY_MS >= first]


def live_kpi_gaps(metric: Metric | AspectMetric | str, frame: LiveFrame, spec: LiveSpec = LiveSpec(),
                  scope: Mapping[str, str] | None = None, dimensions: Sequence[str] = ()) -> list[BaselineGap]:
    """One :class:`BaselineGap` per scope key at its most significant length, worst first.

    ``scope`` (the rule's fixed filter) and ``dimensions`` (the fanned-out
    dimension names, the order of the keys) only label the results. A rated aspect
    (``aspect:<name>``, ``aspect_top2:<name>``) needs its counters in the frame's counts
    (``KpiCounts.aspects``) and must be configured.
    """
    metric = _live_metric(metric)
    scope = dict(scope or {})
    baseline_to = window_start(frame.end_ms - spec.longest_ms, HOUR_MS)
    baseline_from = baseline_to - spec.baseline_days * DAY_MS
    th = Thresholds(confidence=1.0 - spec.alpha, min_n=spec.min_n)
    candidates: list[tuple[ScopeKey, int, KpiCounts, KpiCounts]] = []
    for key in frame.scope_keys():
        minutes = frame.minutes.get(key, ())
        hours = frame.hours.get(key, {})
        reference = _sum([c for h, c in hours.items() if baseline_from <= h < baseline_to])
        for length in spec.lengths_min:
            current = _sum(minutes[-length:])
            candidates.append((key, length, current, reference))
    tested = sum(
        1 for _, _, cur, ref in candidates
        if measure(metric, cur).n >= spec.min_n and measure(metric, ref).n >= spec.min_n
    )
    best: dict[ScopeKey, BaselineGap] = {}
    effect = spec.effect(metric)
    for key, length, current, reference in candidates:
        win = Window(frame.end_ms - length * MINUTE_MS, frame.end_ms)
        g = baseline_gap(metric, current, [reference], scope={**scope, **dict(zip(dimensions, key))}, window=win,
                         thresholds=th, comparisons=max(1, tested))
        worse = g.gap is not None and g.gap <= -effect
        if worse and g.observed.n < spec.exact_below:
            exact = exact_lower_tail(metric, current, reference)
            if exact is not None:
                significant = not g.low_sample and exact < (g.alpha or 0.0)
                g = replace(g, p_value=exact, significant=significant,
                            severity=g.severity if significant else 0.0)
        if g.significant and not worse:
            g = replace(g, significant=False, severity=0.0)
        elif g.significant and g.severity == 0.0:
            g = replace(g, severity=-g.gap / gap_scale(metric))
        prior = best.get(key)
        if prior is None or _stronger(g, prior):
            best[key] = g
    return sorted(best.values(), key=lambda g: (-g.severity, not g.significant, sorted(g.scope.items())))


def _live_metric(metric: Metric | AspectMetric | str) -> Metric | AspectMetric:
    """``metric`` as the live detector judges it: a gap metric, or a configured rated aspect."""
    aspect = metric if isinstance(metric, AspectMetric) else AspectMetric.parse(str(getattr(metric, "value", metric)))
    if aspect is not None:
        gap_scale(aspect)  # ValueError when the aspect is not configured
        return aspect
    metric = Metric(metric)
    if metric not in GAP_METRICS:
        raise ValueError(f"no live gap detection for {metric.value!r}")
    return metric


def exact_lower_tail(metric: Metric | AspectMetric, current: KpiCounts, reference: KpiCounts) -> float | None:
    """One-sided exact p-value of a value this bad given the reference's shares (NPS and the
    proportions, an aspect's top-2 box included; this high for a lower-is-better rate); None for the
    means (CES, wait and handle time, an aspect's mean), or when the reference is too small to be
    taken as known (< 10x)."""
    if metric is Metric.nps:
        n, ref_n = current.nps_n, reference.nps_n
        if n <= 0 or ref_n < 10 * n:
            return None
        return stats.nps_lower_tail(current.promoters, current.passives, current.detractors,
                                    reference.promoters / ref_n, reference.detractors / ref_n)
    if metric in _PROPORTIONS or (isinstance(metric, AspectMetric) and metric.kind == "top2"):
        (x, n), (rx, rn) = proportion_counts(metric, current), proportion_counts(metric, reference)
        if n <= 0 or rn < 10 * n or not (0 <= x <= n and 0 <= rx <= rn):
            return None
        if metric in LOWER_IS_BETTER:  # worse is more: the upper tail of x is the lower tail of n - x
            return stats.binomial_lower_tail(n - x, n, 1.0 - rx / rn)
        return stats.binomial_lower_tail(x, n, rx / rn)
    return None


#: The gap metrics with an exact tail: proportions (pos_neg_ratio: its positive share).
_PROPORTIONS = frozenset({Metric.csat, Metric.fcr, Metric.fcr_operational, Metric.response_rate,
                          Metric.conversion_rate, Metric.abandonment_rate, Metric.transfer_rate,
                          Metric.pos_neg_ratio, Metric.signal_negative_share})


def _stronger(a: Gap, b: Gap) -> bool:
    """Whether ``a`` beats ``b`` as the reported length of a scope: significant first, then smaller p."""
    if a.significant != b.significant:
        return a.significant
    pa = 2.0 if a.p_value is None else a.p_value
    pb = 2.0 if b.p_value is None else b.p_value
    return pa < pb


def expected_volume(metric: Metric, hours: Mapping[int, KpiCounts], start_ms: int, end_ms: int,
                    days: Sequence[int]) -> float:
    """Mean count of ``[start_ms, end_ms)`` shifted back by each of ``days``, pro rata of the hourly counts."""
    if not days:
        return 0.0
    total = 0.0
    for d in days:
        s, e = start_ms - d * DAY_MS, end_ms - d * DAY_MS
        for h in range(window_start(s, HOUR_MS), e, HOUR_MS):
            overlap = min(e, h + HOUR_MS) - max(s, h)
            c = hours.get(h)
            if c is not None and overlap > 0:
                total += measure(metric, c).n * overlap / HOUR_MS
    return total / len(days)


def live_data_gaps(metric: Metric | str, frame: LiveFrame, spec: LiveSpec = LiveSpec(),
                   scope: Mapping[str, str] | None = None, dimensions: Sequence[str] = ()) -> list[DataGap]:
    """One :class:`DataGap` per scope key at its most significant length, worst first."""
    metric = Metric(metric)
    if metric not in VOLUME_METRICS:
        raise ValueError(f"data gaps count {[m.value for m in VOLUME_METRICS]}, not {metric.value!r}")
    scope = dict(scope or {})
    rows: list[tuple[ScopeKey, int, KpiCounts, float, int]] = []
    for length in spec.lengths_min:
        span = length * MINUTE_MS
        days = _history_days(frame, spec, span)
        for key in frame.scope_keys():
            current = _sum(frame.minutes.get(key, ())[-length:])
            expected = expected_volume(metric, frame.hours.get(key, {}), frame.end_ms - span, frame.end_ms, days)
            rows.append((key, length, current, expected, len(days)))
    tested = sum(1 for *_, expected, _ in rows if expected >= spec.min_expected_volume)
    alpha = spec.alpha / max(1, tested)
    best: dict[ScopeKey, DataGap] = {}
    for key, length, current, expected, periods in rows:
        observed = measure(metric, current)
        checked = expected >= spec.min_expected_volume
        p = poisson_cdf(observed.n, expected) if checked and observed.n < expected else (1.0 if checked else None)
        status = DataStatus.ok
        if checked and p is not None and p < alpha and observed.n < spec.max_volume_ratio * expected:
            status = DataStatus.silent if observed.n == 0 else DataStatus.low
        significant = status is not DataStatus.ok
        gap = observed.n - expected
        g = DataGap(
            metric=metric, scope={**scope, **dict(zip(dimensions, key))},
            window=Window(frame.end_ms - length * MINUTE_MS, frame.end_ms), observed=observed,
            reference=Reference("expected", expected, None, periods=periods), gap=gap, p_value=p, alpha=alpha,
            significant=significant, low_sample=not checked,
            severity=(max(0.0, -gap) / expected) if significant and expected > 0 else 0.0,
            status=status, comparisons=max(1, tested),
        )
        prior = best.get(key)
        if prior is None or _stronger(g, prior):
            best[key] = g
    return sorted(best.values(), key=lambda g: (-g.severity, not g.significant, sorted(g.scope.items())))
