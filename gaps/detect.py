"""Pure gap detection: four kinds of gap, each a typed, frozen result. No I/O.

Inputs are additive :class:`~kpi.counts.KpiCounts` (STYLE pattern 2): a
"rest of scope" is the scope total minus the segment, a baseline is the sum
of its periods. Values and intervals come from :func:`kpi.measures.measure`,
tests from :mod:`kpi.stats`; nothing here re-implements them.

Kinds
    :func:`target_gap`    KPI vs a target; significant when the whole
                          interval lies below the target.
    :func:`segment_gaps`  each value of a dimension vs the rest of its scope;
                          two-sample test, Bonferroni over the segments tested.
    :func:`baseline_gap`  the current window vs the same window over past
                          periods (summed); two-sample test, drops only.
    :func:`data_gap`      volume vs its expected volume from the baseline:
                          ``silent`` (0 against an expected >= the minimum)
                          or ``low`` (Poisson lower tail below alpha).

Conventions: ``gap`` is oriented so that it is negative when the scope is
worse: ``observed - reference`` for the higher-is-better KPIs (CES 1..7 with
7 = easiest included), ``reference - observed`` for the lower-is-better ones
(``kpi.measures.LOWER_IS_BETTER``: abandonment and transfer rates, wait and
handle time), so a wait 30 s longer than its baseline is a gap of -30. Nothing with ``n < min_n`` (either side) is significant.
``severity`` is 0 unless significant; otherwise the shortfall as a fraction
of the metric's range (NPS 200 points, percentages 100, CES 6, a rated aspect
``max - min`` of its configured scale; data gaps: of the expected volume), so
gaps of every kind sort on one scale.

Rated aspects (``kpi.measures.AspectMetric``) are gap metrics too, higher is
better: ``aspect:<name>`` (mean, Welch's t test like CES) and
``aspect_top2:<name>`` (top-2-box %, two-proportion test like CSAT); the
aspect must be configured (``core.aspects``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kpi import stats
from kpi.counts import KpiCounts
from core.aspects import spec as aspect_spec
from kpi.measures import LOWER_IS_BETTER, AspectMetric, KpiValue, Metric, measure
from gaps.compare import oriented, proportion_counts, two_sample_test

__all__ = [
    "DEFAULT_TARGETS",
    "GAP_METRICS",
    "VOLUME_METRICS",
    "BaselineGap",
    "DataGap",
    "DataStatus",
    "Gap",
    "GapKind",
    "Reference",
    "SegmentGap",
    "TargetGap",
    "Thresholds",
    "Window",
    "baseline_gap",
    "compare",
    "gap_scale",
    "oriented",
    "data_gap",
    "poisson_cdf",
    "proportion_counts",
    "segment_gaps",
    "target_gap",
]


class GapKind(str, Enum):
    target = "target"
    segment = "segment"
    baseline = "baseline"
    data = "data"
    gaming = "gaming"  # ``gaps.gaming``: few contacts surveyed, scores above the peers'


class DataStatus(str, Enum):
    ok = "ok"
    low = "low"
    silent = "silent"


#: KPIs gaps are computed on (a two-sample test exists for each), with their range.
GAP_METRICS: dict[Metric, float] = {
    Metric.nps: 200.0,
    Metric.csat: 100.0,
    Metric.ces: 6.0,
    Metric.fcr: 100.0,
    Metric.fcr_operational: 100.0,
    Metric.response_rate: 100.0,
    Metric.conversion_rate: 100.0,
    Metric.abandonment_rate: 100.0,
    Metric.transfer_rate: 100.0,
    # Unbounded scales: the worsening that counts as severity 1 (10 minutes of wait, 30 of handling,
    # 10 positive experiences per negative one).
    Metric.wait_time: 600.0,
    Metric.handle_time: 1800.0,
    Metric.pos_neg_ratio: 10.0,
    Metric.review_rating: 4.0,
    Metric.signal_negative_share: 100.0,
}
#: Targets that apply to every scope that has none of its own (seed 002: leaders deliver 15 positive
#: experiences for 5 negative ones, 3:1).
DEFAULT_TARGETS: dict[Metric, float] = {Metric.pos_neg_ratio: 3.0}
#: Count metrics data gaps are computed on: touchpoints and survey responses.
VOLUME_METRICS: tuple[Metric, ...] = (Metric.volume, Metric.responses)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The knobs of :class:`core.settings.GapSettings` the detectors need."""

    confidence: float = 0.95
    min_n: int = 30
    min_expected_volume: float = 5.0

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @classmethod
    def from_settings(cls, s: Any) -> Thresholds:
        return cls(s.confidence, s.min_n, s.min_expected_volume)


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Reference:
    """What the observed value is compared with.

    ``kind``: ``target`` (a set value: no n, no interval), ``rest`` (the scope
    minus the segment), ``baseline`` (past periods summed) or ``expected``
    (mean baseline volume per period).
    """

    kind: str
    value: float | None
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    periods: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    kind: GapKind
    metric: Metric | AspectMetric
    scope: Mapping[str, str]
    window: Window
    observed: KpiValue
    reference: Reference
    gap: float | None  # observed - reference, KPI units, oriented (module docstring): negative = worse
    p_value: float | None  # two-sided (Poisson: lower tail); None for target gaps
    alpha: float | None  # level p_value is compared with (after Bonferroni)
    significant: bool
    low_sample: bool
    severity: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetGap(Gap):
    kind: GapKind = GapKind.target


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentGap(Gap):
    kind: GapKind = GapKind.segment
    dimension: str
    segment: str
    comparisons: int  # m of the Bonferroni guard


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineGap(Gap):
    kind: GapKind = GapKind.baseline
    comparisons: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DataGap(Gap):
    kind: GapKind = GapKind.data
    status: DataStatus
    comparisons: int = 1


def _gap_metric(metric: Metric | AspectMetric | str) -> Metric | AspectMetric:
    if isinstance(metric, AspectMetric):
        if aspect_spec(metric.name) is None:
            raise ValueError(f"no gap detection for {metric.value!r}: aspect {metric.name!r} is not configured")
        return metric
    metric = Metric(metric)
    if metric not in GAP_METRICS:
        raise ValueError(f"no gap detection for {metric.value!r}; use one of {[m.value for m in GAP_METRICS]}")
    return metric


def gap_scale(metric: Metric | AspectMetric) -> float:
    """The worsening that counts as severity 1: ``GAP_METRICS``; a configured aspect's ``max - min``
    (its mean) or 100 (its top-2-box %)."""
    if isinstance(metric, AspectMetric):
        if metric.kind == "top2":
            return 100.0
        s = aspect_spec(metric.name)
        if s is None:
            raise ValueError(f"aspect {metric.name!r} is not configured")
        return float(s.max - s.min)
    return GAP_METRICS[metric]


def _severity(gap: float | None, scale: float, significant: bool) -> float:
    if not significant or gap is None or scale <= 0:
        return 0.0
    return max(0.0, -gap) / scale


def compare(metric: Metric | AspectMetric | str, a: KpiCounts, b: KpiCounts, confidence: float = 0.95) -> stats.TwoSampleTest | None:
    """Test ``a`` against ``b`` on a gap metric (:func:`gaps.compare.two_sample_test`)."""
    return two_sample_test(_gap_metric(metric), a, b, confidence)



def _reference(kind: str, kv: KpiValue, periods: int | None = None) -> Reference:
    return Reference(kind, kv.value, kv.n, kv.ci_low, kv.ci_high, periods)


# -- target ------------------------------------------------------------------------
def target_gap(
    metric: Metric | AspectMetric | str, counts: KpiCounts, target: float, *, scope: Mapping[str, str], window: Window,
    thresholds: Thresholds = Thresholds(),
) -> TargetGap:
    """Observed KPI vs ``target``: significant when n >= min_n and the interval lies wholly on the worse
    side of the target (below it; above it for a lower-is-better KPI)."""
    metric = _gap_metric(metric)
    kv = measure(metric, counts, min_sample=thresholds.min_n, confidence=thresholds.confidence)
    gap = None if kv.value is None else oriented(metric, kv.value - target)
    if metric in LOWER_IS_BETTER:
        significant = kv.ci_low is not None and not kv.low_sample and kv.ci_low > target
    else:
        significant = kv.ci_high is not None and not kv.low_sample and kv.ci_high < target
    return TargetGap(
        metric=metric, scope=dict(scope), window=window, observed=kv, reference=Reference("target", float(target)),
        gap=gap, p_value=None, alpha=None, significant=significant, low_sample=kv.low_sample,
        severity=_severity(gap, gap_scale(metric), significant),
    )


# -- segment -----------------------------------------------------------------------
def segment_gaps(
    metric: Metric | AspectMetric | str, segments: Mapping[str, KpiCounts], *, dimension: str, scope: Mapping[str, str],
    window: Window, thresholds: Thresholds = Thresholds(), total: KpiCounts | None = None,
) -> list[SegmentGap]:
    """Each segment (value of ``dimension``) vs the rest of its scope.

    ``total`` defaults to the sum of ``segments``; rest = total - segment.
    The unknown value ``""`` counts in the total but is not tested itself.
    The Bonferroni guard divides alpha by m = the number of segments where
    both sides reach ``min_n`` (only those can be flagged). Only a worse
    segment is significant. Segments without answers are left out.
    """
    metric = _gap_metric(metric)
    if total is None:
        total = KpiCounts()
        for c in segments.values():
            total.add(c)
    rows: list[tuple[str, KpiValue, KpiValue, stats.TwoSampleTest | None]] = []
    for value in sorted(segments):
        if value == "":
            continue
        seg = segments[value]
        rest = total.copy()
        rest.subtract(seg)
        kv = measure(metric, seg, min_sample=thresholds.min_n, confidence=thresholds.confidence)
        if kv.n <= 0:
            continue
        rv = measure(metric, rest, min_sample=thresholds.min_n, confidence=thresholds.confidence)
        test = compare(metric, seg, rest, thresholds.confidence) if rv.n > 0 else None
        rows.append((value, kv, rv, test))
    m = max(1, sum(1 for _, kv, rv, _ in rows if not kv.low_sample and not rv.low_sample))
    alpha = thresholds.alpha / m
    out: list[SegmentGap] = []
    for value, kv, rv, test in rows:
        low = kv.low_sample or rv.low_sample
        gap = oriented(metric, kv.value - rv.value) if kv.value is not None and rv.value is not None else None
        significant = test is not None and not low and gap is not None and gap < 0 and test.p_value < alpha
        out.append(SegmentGap(
            metric=metric, scope={**scope, dimension: value}, window=window, observed=kv,
            reference=_reference("rest", rv), gap=gap, p_value=None if test is None else test.p_value,
            alpha=alpha, significant=significant, low_sample=low,
            severity=_severity(gap, gap_scale(metric), significant),
            dimension=dimension, segment=value, comparisons=m,
        ))
    return out


# -- baseline ----------------------------------------------------------------------
def baseline_gap(
    metric: Metric | AspectMetric | str, current: KpiCounts, baseline: Sequence[KpiCounts], *, scope: Mapping[str, str],
    window: Window, thresholds: Thresholds = Thresholds(), comparisons: int = 1,
) -> BaselineGap:
    """The current window vs the sum of ``baseline`` periods; a significant drop only.

    ``comparisons`` (>= 1) divides alpha when several scopes are checked at once.
    """
    metric = _gap_metric(metric)
    comparisons = max(1, comparisons)
    ref = KpiCounts()
    for c in baseline:
        ref.add(c)
    kv = measure(metric, current, min_sample=thresholds.min_n, confidence=thresholds.confidence)
    rv = measure(metric, ref, min_sample=thresholds.min_n, confidence=thresholds.confidence)
    test = compare(metric, current, ref, thresholds.confidence) if kv.n > 0 and rv.n > 0 else None
    low = kv.low_sample or rv.low_sample
    gap = oriented(metric, kv.value - rv.value) if kv.value is not None and rv.value is not None else None
    alpha = thresholds.alpha / comparisons
    significant = test is not None and not low and gap is not None and gap < 0 and test.p_value < alpha
    return BaselineGap(
        metric=metric, scope=dict(scope), window=window, observed=kv,
        reference=_reference("baseline", rv, periods=len(baseline)), gap=gap,
        p_value=None if test is None else test.p_value, alpha=alpha, significant=significant, low_sample=low,
        severity=_severity(gap, gap_scale(metric), significant), comparisons=comparisons,
    )


# -- data --------------------------------------------------------------------------
def poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam), summed in log space (exact enough for any lam)."""
    if lam < 0:
        raise ValueError(f"Poisson mean {lam!r} must be >= 0")
    if k < 0:
        return 0.0
    if lam == 0:
        return 1.0
    log_lam = math.log(lam)
    logs = [i * log_lam - lam - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(x - top) for x in logs))


def data_gap(
    metric: Metric | str, current: KpiCounts, baseline: Sequence[KpiCounts], *, scope: Mapping[str, str],
    window: Window, thresholds: Thresholds = Thresholds(), comparisons: int = 1,
) -> DataGap:
    """Volume (touchpoints or responses) vs its expected volume, the mean over ``baseline`` periods.

    Checked only when expected >= ``min_expected_volume``: then 0 events is
    ``silent``, and a count whose Poisson lower tail P(X <= observed) is
    below alpha / ``comparisons`` is ``low``. Both are significant.
    """
    metric = Metric(metric)
    if metric not in VOLUME_METRICS:
        raise ValueError(f"data gaps count {[m.value for m in VOLUME_METRICS]}, not {metric.value!r}")
    comparisons = max(1, comparisons)
    kv = measure(metric, current)
    observed = kv.n
    history = [measure(metric, c).n for c in baseline]
    expected = sum(history) / len(history) if history else 0.0
    alpha = thresholds.alpha / comparisons
    status = DataStatus.ok
    p: float | None = None
    checked = expected >= thresholds.min_expected_volume
    if checked:
        p = poisson_cdf(observed, expected) if observed < expected else 1.0
        if observed == 0:
            status = DataStatus.silent
        elif p < alpha:
            status = DataStatus.low
    significant = status is not DataStatus.ok
    gap = observed - expected
    return DataGap(
        metric=metric, scope=dict(scope), window=window, observed=kv,
        reference=Reference("expected", expected, int(sum(history)), periods=len(history)), gap=gap,
        p_value=p, alpha=alpha, significant=significant, low_sample=not checked,
        severity=_severity(gap, expected, significant), status=status, comparisons=comparisons,
    )
