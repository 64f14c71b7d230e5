"""Two-sample comparison of a gap metric's counts, and the counters each test reads. Pure, no I/O.

Proportions (CSAT top-2-box, FCR, response rate, the touchpoint outcome rates, the positive share
of ``pos_neg_ratio``) use the two-proportion test, means (CES, wait and handle time) Welch's t
test, NPS its own difference test, all from :mod:`kpi.stats`. A rated aspect (``aspect:<name>``) is a
mean like CES (Welch on its n, sum, sum of squares), ``aspect_top2:<name>`` a proportion (top-2 count of n). :func:`oriented` gives a
difference the sign convention of every gap (negative = worse).
"""
from __future__ import annotations

from kpi import stats
from kpi.counts import KpiCounts
from kpi.measures import LOWER_IS_BETTER, AspectMetric, Metric

__all__ = ["oriented", "proportion_counts", "two_sample_test"]

#: The (successes, trials) counters of each proportion KPI.
_PROPORTION_FIELDS: dict[Metric, tuple[str, str]] = {
    Metric.csat: ("csat_top2", "csat_n"),
    Metric.fcr: ("fcr_yes", "fcr_n"),
    Metric.fcr_operational: ("tp_first_contact_resolved", "tp_first_contact"),
    Metric.response_rate: ("invitations_answered", "invitations"),
    Metric.conversion_rate: ("tp_converted", "tp_converted_n"),
    Metric.abandonment_rate: ("tp_abandoned", "tp_abandoned_n"),
    Metric.transfer_rate: ("tp_transferred", "tp_transferred_n"),
    Metric.signal_negative_share: ("sig_negative", "sig_polar_n"),
}
#: The (n, sum, sum of squares) counters of each mean KPI, and the unit they are counted in.
_MEAN_FIELDS: dict[Metric, tuple[tuple[str, str, str], float]] = {
    Metric.ces: (("ces_n", "ces_sum", "ces_sumsq"), 1.0),
    Metric.wait_time: (("tp_wait_n", "tp_wait_ds", "tp_wait_ds2"), 0.1),  # deciseconds
    Metric.handle_time: (("tp_handle_n", "tp_handle_ds", "tp_handle_ds2"), 0.1),
    Metric.review_rating: (("sig_reviews", "sig_rating_sum", "sig_rating_sumsq"), 1.0),
}


def _aspect_counts(metric: AspectMetric, c: KpiCounts) -> tuple[int, int, int, int]:
    """(n, sum, sum of squares, top-2 count) of the aspect ``metric`` names (zeros when none)."""
    n, total, sumsq, top2 = (c.aspects or {}).get(metric.name) or (0, 0, 0, 0)
    return int(n), int(total), int(sumsq), int(top2)


def proportion_counts(metric: Metric | AspectMetric, c: KpiCounts) -> tuple[int, int]:
    """(successes, trials) of a proportion KPI (CSAT top-2-box, FCR, response rate, the touchpoint
    outcome rates); for ``pos_neg_ratio``, of its positive share (positive, positive + negative)."""
    if isinstance(metric, AspectMetric):
        n, _, _, top2 = _aspect_counts(metric, c)
        return top2, n
    if metric is Metric.pos_neg_ratio:
        positive, negative = c.answers_positive + c.sig_positive, c.answers_negative + c.sig_negative
        return int(positive), int(positive + negative)
    x, n = _PROPORTION_FIELDS[metric]
    return int(getattr(c, x)), int(getattr(c, n))


def oriented(metric: Metric | AspectMetric, difference: float | None) -> float | None:
    """``difference`` (observed - reference) signed so that negative is worse (module docstring)."""
    if difference is None:
        return None
    return -difference if metric in LOWER_IS_BETTER else difference


def two_sample_test(metric: Metric | AspectMetric, a: KpiCounts, b: KpiCounts, confidence: float = 0.95) -> stats.TwoSampleTest | None:
    """Test ``a`` against ``b`` on ``metric`` with the matching :mod:`kpi.stats` test.

    ``difference`` is ``a - b`` in KPI units (percentages for proportions, seconds for
    durations; for ``pos_neg_ratio``, percentage points of the positive share
    positive / (positive + negative), whose test is the ratio's). None when the
    test is undefined (a side without answers; a mean with n < 2; a response
    rate above 100 %).
    """
    if metric is Metric.nps:
        if a.nps_n <= 0 or b.nps_n <= 0:
            return None
        return stats.nps_diff_test((a.promoters, a.passives, a.detractors),
                                   (b.promoters, b.passives, b.detractors), confidence)
    if (isinstance(metric, AspectMetric) and metric.kind == "mean") or metric in _MEAN_FIELDS:
        if isinstance(metric, AspectMetric):
            sa, sb = (_aspect_counts(metric, c)[:3] for c in (a, b))
            unit = 1.0
        else:
            names, unit = _MEAN_FIELDS[metric]
            sa, sb = (tuple(getattr(c, f) for f in names) for c in (a, b))
        if sa[0] < 2 or sb[0] < 2:
            return None
        t = stats.welch_t_test(sa, sb, confidence)
        if unit == 1.0:
            return t
        return stats.TwoSampleTest(unit * t.difference, t.statistic, t.p_value, unit * t.ci_low, unit * t.ci_high)
    (x1, n1), (x2, n2) = proportion_counts(metric, a), proportion_counts(metric, b)
    if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        return None
    t = stats.proportion_diff_test(x1, n1, x2, n2, confidence)
    return stats.TwoSampleTest(100.0 * t.difference, t.statistic, t.p_value, 100.0 * t.ci_low, 100.0 * t.ci_high)
