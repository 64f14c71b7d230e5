"""Gaming detection, pure: agents (or teams) who survey few of their contacts and score high.

An agent who chooses which customers get a survey (or asks for good scores) shows two deviations
from their peers at once: a surveyed share of contacts below theirs, and a score above theirs.
For each value ``a`` of the dimension (``agent_id``, ``team``, …) with n >= ``min_n`` answers on
both sides, against its peers ``rest`` = scope total − ``a``:

* surveyed share = invitations / touchpoints; z_share from
  :func:`kpi.stats.proportion_diff_test` (pooled two-proportion z), one-sided
  p_share = Φ(z_share) (the agent's share is lower);
* score: the metric's two-sample test (:func:`gaps.compare.two_sample_test`: adjusted-Wald z for
  NPS, pooled z for proportions, Welch t for means), oriented so that positive is better;
  one-sided p_score = P(Z ≥ z) (t for means: the t tail).

Gaming needs both, so the p-value of an agent is the intersection–union test's
p = max(p_share, p_score) (level α without a correction between the two). Across the m agents
tested, Holm's step-down correction (:func:`kpi.stats.holm_adjusted`) controls the family-wise
error rate: an agent is significant iff its Holm-adjusted p < α. ``gap`` is
−(score − peers' score) in KPI units (negative: the agent's score is inflated, the "worse" side
of every gap), ``severity`` that excess over the metric's range.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gaps.compare import oriented, two_sample_test
from gaps.detect import Gap, GapKind, Reference, Thresholds, Window, _gap_metric, gap_scale
from kpi import stats
from kpi.counts import KpiCounts
from kpi.measures import Metric, measure

__all__ = ["GamingGap", "gaming_gaps"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GamingGap(Gap):
    kind: GapKind = GapKind.gaming
    dimension: str
    segment: str
    comparisons: int  # m of Holm's correction
    surveyed_share: float
    peer_surveyed_share: float
    p_share: float
    p_score: float
    p_adjusted: float  # Holm


def _one_sided_better(metric: Metric, test: stats.TwoSampleTest) -> float:
    """P(a statistic at least this far on the better side) under no difference."""
    z = oriented(metric, test.statistic)
    if test.df is not None:
        return stats.t_sf(z, test.df)
    return stats.norm_sf(z)


def gaming_gaps(
    metric: Metric | str, segments: Mapping[str, KpiCounts], *, dimension: str, scope: Mapping[str, str],
    window: Window, thresholds: Thresholds = Thresholds(), total: KpiCounts | None = None,
    alpha: float | None = None,
) -> list[GamingGap]:
    """One gap per value of ``dimension`` that could be tested (module docstring), Holm over them.

    ``alpha``: the family-wise level (default ``thresholds.alpha``, 1 − confidence; an alert rule states its own)."""
    metric = _gap_metric(metric)
    if total is None:
        total = KpiCounts()
        for c in segments.values():
            total.add(c)
    rows = []
    for value in sorted(segments):
        seg = segments[value]
        if value == "" or seg.touchpoints <= 0:
            continue
        rest = total.copy()
        rest.subtract(seg)
        kv = measure(metric, seg, min_sample=thresholds.min_n, confidence=thresholds.confidence)
        rv = measure(metric, rest, min_sample=thresholds.min_n, confidence=thresholds.confidence)
        if (kv.low_sample or rv.low_sample or rest.touchpoints <= 0 or seg.invitations > seg.touchpoints
                or rest.invitations > rest.touchpoints):
            continue
        share = stats.proportion_diff_test(seg.invitations, seg.touchpoints, rest.invitations, rest.touchpoints,
                                           thresholds.confidence)
        score = two_sample_test(metric, seg, rest, thresholds.confidence)
        if score is None:
            continue
        p_share = stats.norm_cdf(share.statistic)
        p_score = _one_sided_better(metric, score)
        rows.append((value, kv, rv, seg, rest, p_share, p_score, max(p_share, p_score)))
    adjusted = stats.holm_adjusted([r[-1] for r in rows])
    alpha = thresholds.alpha if alpha is None else alpha
    out: list[GamingGap] = []
    for (value, kv, rv, seg, rest, p_share, p_score, p), p_adj in zip(rows, adjusted):
        gap = -oriented(metric, kv.value - rv.value)
        significant = p_adj < alpha
        out.append(GamingGap(
            metric=metric, scope={**scope, dimension: value}, window=window, observed=kv,
            reference=Reference("peers", rv.value, rv.n, rv.ci_low, rv.ci_high), gap=gap, p_value=p, alpha=alpha,
            significant=significant, low_sample=False,
            severity=max(0.0, -gap) / gap_scale(metric) if significant else 0.0,
            dimension=dimension, segment=value, comparisons=len(rows),
            surveyed_share=seg.invitations / seg.touchpoints, peer_surveyed_share=rest.invitations / rest.touchpoints,
            p_share=p_share, p_score=p_score, p_adjusted=p_adj,
        ))
    return out
