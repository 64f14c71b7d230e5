"""Two-sample tests for gap detection, all returning :class:`TwoSampleTest`.

:func:`nps_diff_test` (adjusted Wald), :func:`proportion_diff_test` (Newcombe
hybrid score interval, pooled z p-value) and :func:`welch_t_test`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from kpi.stats._intervals import (
    _nps_adjusted, nps_score, sample_variance, t_critical, wilson_interval, z_critical,
)
from kpi.stats._normal import norm_sf
from kpi.stats._student_t import t_sf


@dataclass(frozen=True, slots=True)
class TwoSampleTest:
    """Result of comparing group 1 with group 2.

    ``difference`` is estimate1 − estimate2 on the metric's own scale
    (NPS points, proportion 0..1, or mean); ``ci_low``/``ci_high`` bound that
    difference; ``statistic`` is z or t; ``p_value`` is two-sided; ``df`` is
    set for t tests.
    """

    difference: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    df: float | None = None


def nps_diff_test(
    group1: tuple[float, float, float],
    group2: tuple[float, float, float],
    confidence: float = 0.95,
) -> TwoSampleTest:
    """Compare two NPS values given as (promoters, passives, detractors).

    z = (N1 − N2) / sqrt(v1/n1 + v2/n2) with adjusted-Wald N, v and n
    (MeasuringU); two-sided normal p-value. ``difference`` is the raw
    NPS1 − NPS2 in points; the interval (adjusted, clamped to ±200) is in
    points too. Each group needs n >= 1.
    """
    n1 = sum(group1)
    n2 = sum(group2)
    if n1 <= 0 or n2 <= 0:
        raise ValueError("each group needs at least one NPS answer")
    d1, v1, m1 = _nps_adjusted(*group1)
    d2, v2, m2 = _nps_adjusted(*group2)
    se = math.sqrt(v1 / m1 + v2 / m2)  # > 0: adjusted variances are positive
    z = (d1 - d2) / se
    half = z_critical(confidence) * se
    return TwoSampleTest(
        difference=nps_score(*group1) - nps_score(*group2),
        statistic=z,
        p_value=min(1.0, 2.0 * norm_sf(abs(z))),
        ci_low=max(-200.0, 100.0 * (d1 - d2 - half)),
        ci_high=min(200.0, 100.0 * (d1 - d2 + half)),
    )


def proportion_diff_test(
    x1: float, n1: float, x2: float, n2: float, confidence: float = 0.95
) -> TwoSampleTest:
    """p1 − p2 with Newcombe's hybrid score interval (method 10) and a pooled z-test p-value."""
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    p1 = x1 / n1
    p2 = x2 / n2
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:  # both groups all-success or all-failure: no evidence of a difference
        z, p = 0.0, 1.0
    else:
        z = d / se
        p = min(1.0, 2.0 * norm_sf(abs(z)))
    return TwoSampleTest(d, z, p, max(-1.0, low), min(1.0, high))


def welch_t_test(
    group1: tuple[float, float, float],
    group2: tuple[float, float, float],
    confidence: float = 0.95,
) -> TwoSampleTest:
    """Welch's unequal-variance t-test on groups given as (n, sum, sum of squares).

    Matches ``scipy.stats.ttest_ind(a, b, equal_var=False)``. Each group
    needs n >= 2. With zero variance in both groups the test is degenerate:
    t is 0 (equal means) or ±inf, and df = n1 + n2 − 2.
    """
    n1, s1, q1 = group1
    n2, s2, q2 = group2
    a = sample_variance(n1, s1, q1) / n1
    b = sample_variance(n2, s2, q2) / n2
    diff = s1 / n1 - s2 / n2
    se2 = a + b
    if se2 == 0.0:
        df = float(n1 + n2 - 2)
        if diff == 0.0:
            return TwoSampleTest(0.0, 0.0, 1.0, 0.0, 0.0, df)
        return TwoSampleTest(diff, math.copysign(math.inf, diff), 0.0, diff, diff, df)
    df = se2 * se2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    se = math.sqrt(se2)
    t = diff / se
    p = min(1.0, 2.0 * t_sf(abs(t), df))
    half = t_critical(df, confidence) * se
    return TwoSampleTest(diff, t, p, diff - half, diff + half, df)

