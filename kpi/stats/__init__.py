"""Pure statistics for CX KPIs (standard library only; no scipy).

The public names are all here (``from kpi import stats; stats.wilson_interval``);
each lives in one private module:

Distributions (``_normal``, ``_student_t``)
    :func:`norm_cdf`, :func:`norm_sf`, :func:`norm_ppf` (Acklam's rational
    approximation refined by one Halley step on ``math.erfc``),
    :func:`t_cdf`, :func:`t_sf` (regularized incomplete beta by Lentz's
    continued fraction) and :func:`t_ppf` (Hill 1970 start, then safeguarded
    Newton on the log scale). Accuracy is ~1e-12 relative or better for
    ``df >= 1``; non-integer ``df`` (Welch) is supported.

One-sample intervals (``_intervals``; ``confidence`` is two-sided, 0.95 by default)
    :func:`z_critical`, :func:`t_critical`, :func:`nps_score`,
    :func:`nps_interval` (adjusted Wald: +0.75 promoter, +0.75 detractor,
    n + 3; Rocks 2016, MeasuringU), :func:`wilson_interval`,
    :func:`sample_variance`, :func:`mean_interval` (Student t from n, sum,
    sum of squares).

Two-sample tests (``_two_sample``, for gap detection), all returning :class:`TwoSampleTest`
    :func:`nps_diff_test`, :func:`proportion_diff_test` (Newcombe hybrid
    score interval, pooled z p-value), :func:`welch_t_test`.

Weights (``_weights``)
    :func:`kish_effective_n`, :func:`kish_effective_n_from_sums`.

Multiple testing (``_multiple``)
    :func:`holm_adjusted` (Holm's step-down adjusted p-values).

Exact small-sample tails (``_exact_tails``)
    :func:`binomial_lower_tail`, :func:`nps_lower_tail`.

Errors: ``ValueError`` for impossible inputs (n <= 0, successes > n,
confidence outside (0, 1), df <= 0...).
"""
from __future__ import annotations

from kpi.stats._exact_tails import binomial_lower_tail, nps_lower_tail
from kpi.stats._intervals import (
    mean_interval, nps_interval, nps_score, sample_variance, t_critical, wilson_interval, z_critical,
)
from kpi.stats._multiple import holm_adjusted
from kpi.stats._normal import norm_cdf, norm_ppf, norm_sf
from kpi.stats._student_t import t_cdf, t_ppf, t_sf
from kpi.stats._two_sample import TwoSampleTest, nps_diff_test, proportion_diff_test, welch_t_test
from kpi.stats._weights import kish_effective_n, kish_effective_n_from_sums

__all__ = [
    "TwoSampleTest",
    "binomial_lower_tail",
    "holm_adjusted",
    "kish_effective_n",
    "kish_effective_n_from_sums",
    "mean_interval",
    "norm_cdf",
    "norm_ppf",
    "norm_sf",
    "nps_diff_test",
    "nps_interval",
    "nps_lower_tail",
    "nps_score",
    "proportion_diff_test",
    "sample_variance",
    "t_cdf",
    "t_ppf",
    "t_sf",
    "welch_t_test",
    "wilson_interval",
    "z_critical",
    "t_critical",
]
