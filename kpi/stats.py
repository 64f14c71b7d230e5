"""Pure statistics for CX KPIs (standard library only; no scipy).

Distributions
    :func:`norm_cdf`, :func:`norm_sf`, :func:`norm_ppf` (Acklam's rational
    approximation refined by one Halley step on ``math.erfc``),
    :func:`t_cdf`, :func:`t_sf` (regularized incomplete beta by Lentz's
    continued fraction) and :func:`t_ppf` (Hill 1970 start, then safeguarded
    Newton on the log scale). Accuracy is ~1e-12 relative or better for
    ``df >= 1``; non-integer ``df`` (Welch) is supported.

One-sample intervals (``confidence`` is two-sided, 0.95 by default)
    :func:`nps_interval` (adjusted Wald: +0.75 promoter, +0.75 detractor,
    n + 3; Rocks 2016, MeasuringU), :func:`wilson_interval`,
    :func:`mean_interval` (Student t from n, sum, sum of squares).

Two-sample tests (for gap detection), all returning :class:`TwoSampleTest`
    :func:`nps_diff_test`, :func:`proportion_diff_test` (Newcombe hybrid
    score interval, pooled z p-value), :func:`welch_t_test`.

Weights
    :func:`kish_effective_n`, :func:`kish_effective_n_from_sums`.

Errors: ``ValueError`` for impossible inputs (n <= 0, successes > n,
confidence outside (0, 1), df <= 0...).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "TwoSampleTest",
    "binomial_lower_tail",
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

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT2PI = 0.5 * math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# Normal distribution
# ---------------------------------------------------------------------------
def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_sf(x: float) -> float:
    return 0.5 * math.erfc(x / _SQRT2)


_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)


def _norm_ppf_lower(p: float) -> float:
    """Quantile for 0 < p <= 0.5 (Acklam, then one Halley step)."""
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / (
            (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / (
            ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
        )
    # Halley refinement. The residual cdf(x) - p is formed without
    # cancellation: via erfc in the tail, via erf near the centre (p - 0.5
    # is exact for p >= 0.25).
    e = 0.5 * math.erfc(-x / _SQRT2) - p if p < 0.25 else 0.5 * math.erf(x / _SQRT2) - (p - 0.5)
    u = e * _SQRT2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


def norm_ppf(p: float) -> float:
    """Inverse of :func:`norm_cdf`. ``norm_ppf(0) = -inf``, ``norm_ppf(1) = inf``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p!r} is outside [0, 1]")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:
        return -_norm_ppf_lower(1.0 - p)  # 1 - p is exact here
    return _norm_ppf_lower(p)


# ---------------------------------------------------------------------------
# Regularized incomplete beta and Student t
# ---------------------------------------------------------------------------
def _stirlerr(x: float) -> float:
    """lgamma(x) - ((x - 0.5) log x - x + log sqrt(2 pi)), for x >= 10."""
    r = 1.0 / (x * x)
    return (
        1.0 / 12.0
        - r * (1.0 / 360.0 - r * (1.0 / 1260.0 - r * (1.0 / 1680.0 - r * (1.0 / 1188.0 - r * 691.0 / 360360.0))))
    ) / x


def _lbeta(a: float, b: float) -> float:
    """log B(a, b) without the cancellation of lgamma differences for large arguments (after R's lbeta)."""
    p, q = (a, b) if a <= b else (b, a)
    if p >= 10.0:
        corr = _stirlerr(p) + _stirlerr(q) - _stirlerr(p + q)
        return (
            -0.5 * math.log(q) + _LOG_SQRT2PI + corr
            + (p - 0.5) * math.log(p / (p + q)) + q * math.log1p(-p / (p + q))
        )
    if q >= 10.0:
        corr = _stirlerr(q) - _stirlerr(p + q)
        return (
            math.lgamma(p) + corr + p - p * math.log(p + q)
            + (q - 0.5) * math.log1p(-p / (p + q))
        )
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


_TINY = 1e-300
_FLOAT_MAX = 1.7976931348623157e308
_CF_EPS = 1e-15
_CF_MAXIT = 100_000


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b) (modified Lentz; Numerical Recipes betacf)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _CF_MAXIT + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CF_EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")  # pragma: no cover


def _log(x: float, one_minus_x: float) -> float:
    return math.log(x) if x < 0.5 else math.log1p(-one_minus_x)


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """Regularized incomplete beta I_x(a, b); ``y`` must be 1 - x (passed to avoid cancellation)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = a * _log(x, y) + b * _log(y, x) - _lbeta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def _check_df(df: float) -> None:
    if not df > 0.0:  # also rejects NaN
        raise ValueError(f"degrees of freedom {df!r} must be > 0")


def _t_split(t: float, df: float) -> tuple[float, float]:
    """(df / (df + t^2), t^2 / (df + t^2)) computed without cancellation or overflow."""
    t2 = t * t
    if math.isinf(t2):
        at = abs(t)
        return (df / at) / at, 1.0
    s = df + t2
    return df / s, t2 / s


# Above this df the continued fraction loses digits to cancellation (its
# error grows like 1e-16 * df); Hill's normalizing transformation is then
# accurate to ~1e-13 relative.
_LARGE_DF = 1e5


def _hill_z(t: float, df: float) -> float:
    """Normal deviate equivalent to t >= 0 for large df (Hill 1970, CACM Algorithm 395)."""
    a = df - 0.5
    b = 48.0 * a * a
    y = a * math.log1p(t * t / df)
    return ((((((-0.4 * y - 3.3) * y - 24.0) * y - 85.5) / (0.8 * y * y + 100.0 + b) + y + 3.0) / b + 1.0)
            * math.sqrt(y))


def _t_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0."""
    if math.isinf(t):
        return 0.0
    if df > _LARGE_DF:
        return 0.5 * math.erfc(_hill_z(t, df) / _SQRT2)
    if t > 1e145:
        # x = df / (df + t^2) underflows; leading term of I_x(df/2, 1/2) (relative error ~ x).
        a = 0.5 * df
        log_x = math.log(df) - 2.0 * math.log(t)
        return 0.5 * math.exp(a * log_x - _lbeta(a, 0.5)) / a
    x, y = _t_split(t, df)
    return 0.5 * _betainc(0.5 * df, 0.5, x, y)


def _t_center(t: float, df: float) -> float:
    """P(0 < T < t) for t >= 0."""
    if math.isinf(t):
        return 0.5
    if df > _LARGE_DF:
        return 0.5 * math.erf(_hill_z(t, df) / _SQRT2)
    x, y = _t_split(t, df)
    return 0.5 * _betainc(0.5, 0.5 * df, y, x)


def t_cdf(t: float, df: float) -> float:
    """Student t distribution function P(T <= t)."""
    _check_df(df)
    if math.isnan(t):
        return math.nan
    if t < 0.0:
        return _t_tail(-t, df)
    return 0.5 + _t_center(t, df)


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t); accurate in the far tail (use it for p-values)."""
    return t_cdf(-t, df)


def _t_logpdf(t: float, df: float) -> float:
    return -_lbeta(0.5 * df, 0.5) - 0.5 * math.log(df) - 0.5 * (df + 1.0) * math.log1p(t * t / df)


def _hill_t(two_tail: float, n: float) -> float:
    """Hill (1970, CACM Algorithm 396) approximation of t with P(|T| > t) = two_tail."""
    a = 1.0 / (n - 0.5)
    b = 48.0 / (a * a)
    c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36
    d = ((94.5 / (b + c) - 3.0) / b + 1.0) * math.sqrt(a * math.pi / 2.0) * n
    x = d * two_tail
    y = x ** (2.0 / n)
    if y > 0.05 + a:
        x = norm_ppf(0.5 * two_tail)
        y = x * x
        if n < 5:
            c += 0.3 * (n - 4.5) * (x + 0.6)
        c = (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b + c
        y = (((((0.4 * y + 6.3) * y + 36.0) * y + 94.5) / c - y - 3.0) / b + 1.0) * x
        y = a * y * y
        y = math.expm1(y) if y > 0.002 else 0.5 * y * y + y
    else:
        y = ((1.0 / (((n + 6.0) / (n * y) - 0.089 * d - 0.822) * (n + 2.0) * 3.0) + 0.5 / (n + 4.0)) * y - 1.0) * (
            n + 1.0
        ) / (n + 2.0) + 1.0 / y
    return math.sqrt(n * y)


def _t_upper_quantile(q: float, c: float, df: float) -> float:
    """t > 0 with P(T > t) = q, where c = 0.5 - q is given exactly."""
    if df == 1.0:
        return 1.0 / math.tan(math.pi * q) if q < 0.25 else math.tan(math.pi * c)
    if df == 2.0:
        return 2.0 * c / math.sqrt(2.0 * q * (0.5 + c))
    use_tail = q < 0.25
    target = math.log(q if use_tail else c)

    def resid(u: float) -> tuple[float, float]:
        """(f, df/du) with u = log t; f increases with u."""
        t = math.exp(u)
        if use_tail:
            p = _t_tail(t, df)
            if p <= 0.0:
                return math.inf, 0.0
            return target - math.log(p), math.exp(u + _t_logpdf(t, df)) / p
        p = _t_center(t, df)
        if p <= 0.0:
            return -math.inf, 0.0
        return math.log(p) - target, math.exp(u + _t_logpdf(t, df)) / p

    try:
        t0 = _hill_t(2.0 * q, df)
    except (ValueError, OverflowError, ZeroDivisionError):
        t0 = math.nan
    if not (0.0 < t0 < math.inf):
        t0 = max(abs(norm_ppf(q)), 1e-300)
    u = math.log(t0)
    # Bracket the root in u.
    f, fp = resid(u)
    if f == 0.0:
        return t0
    lo = hi = u
    step = 0.5
    if f < 0.0:
        u_max = math.log(_FLOAT_MAX)
        while True:
            hi = min(lo + step, u_max)
            fh, _ = resid(hi)
            if fh >= 0.0:
                break
            if hi == u_max:  # t beyond the float range
                return math.inf
            lo, step = hi, step * 2.0
    else:
        while True:
            lo = hi - step
            fl, _ = resid(lo)
            if fl <= 0.0:
                break
            hi, step = lo, step * 2.0
    # Safeguarded Newton.
    u = 0.5 * (lo + hi)
    for _ in range(200):
        f, fp = resid(u)
        if f == 0.0:
            break
        if f < 0.0:
            lo = u
        else:
            hi = u
        new = u - f / fp if fp > 0.0 and math.isfinite(f) else math.nan
        if not (lo < new < hi):
            new = 0.5 * (lo + hi)
        if abs(new - u) <= 1e-14 * max(1.0, abs(u)) or hi - lo <= 1e-15 * max(1.0, abs(u)):
            u = new
            break
        u = new
    return math.exp(u)


def t_ppf(p: float, df: float) -> float:
    """Inverse of :func:`t_cdf`; ``df`` may be non-integer."""
    _check_df(df)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p!r} is outside [0, 1]")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return _t_upper_quantile(1.0 - p, p - 0.5, df)  # both differences are exact
    return -_t_upper_quantile(p, 0.5 - p, df)


# ---------------------------------------------------------------------------
# Critical values (cached: the API asks for the same few many times)
# ---------------------------------------------------------------------------
def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence!r} must be in (0, 1)")


@lru_cache(maxsize=64)
def z_critical(confidence: float = 0.95) -> float:
    """Two-sided normal critical value, e.g. 1.959963984540054 for 0.95."""
    _check_confidence(confidence)
    return -norm_ppf(0.5 * (1.0 - confidence))


@lru_cache(maxsize=4096)
def t_critical(df: float, confidence: float = 0.95) -> float:
    """Two-sided Student t critical value."""
    _check_confidence(confidence)
    return -t_ppf(0.5 * (1.0 - confidence), df)


# ---------------------------------------------------------------------------
# One-sample estimates
# ---------------------------------------------------------------------------
def nps_score(promoters: float, passives: float, detractors: float) -> float:
    """Net Promoter Score on the -100..100 scale."""
    n = promoters + passives + detractors
    if n <= 0:
        raise ValueError("NPS needs at least one answer")
    return 100.0 * (promoters - detractors) / n


def _nps_adjusted(promoters: float, passives: float, detractors: float) -> tuple[float, float, float]:
    """(adjusted NPS as a -1..1 fraction, its per-answer variance, adjusted n)."""
    _check_counts(promoters, passives, detractors)
    n_adj = promoters + passives + detractors + 3.0
    p_p = (promoters + 0.75) / n_adj
    p_d = (detractors + 0.75) / n_adj
    diff = p_p - p_d
    return diff, p_p + p_d - diff * diff, n_adj


def _check_counts(*counts: float) -> None:
    for c in counts:
        if c < 0:
            raise ValueError(f"negative count {c!r}")


def nps_interval(
    promoters: float, passives: float, detractors: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Adjusted-Wald interval for NPS on the -100..100 scale, clamped.

    Adds 0.75 promoters and 0.75 detractors (n + 3), then
    centre ± z·sqrt((pP + pD − (pP − pD)²) / (n + 3)) (Rocks 2016).
    For n = 0 this is the (wide) prior interval. The centre is shrunk
    towards 0, so for n = 1 the interval may exclude the raw score.
    """
    diff, var, n_adj = _nps_adjusted(promoters, passives, detractors)
    half = z_critical(confidence) * math.sqrt(var / n_adj)
    return max(-100.0, 100.0 * (diff - half)), min(100.0, 100.0 * (diff + half))


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion, on 0..1. Always contains successes / n."""
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes!r} outside [0, n={n!r}]")
    z = z_critical(confidence)
    z2 = z * z
    p = successes / n
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # Exact ends at the boundaries (the formula gives them up to rounding).
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == n else min(1.0, max(p, centre + half))
    return low, high


def sample_variance(n: float, total: float, sumsq: float) -> float:
    """Unbiased sample variance from (n, sum, sum of squares); needs n >= 2. Never negative."""
    if n < 2:
        raise ValueError("a sample variance needs n >= 2")
    if isinstance(n, int) and isinstance(total, int) and isinstance(sumsq, int):
        num = n * sumsq - total * total  # exact for integer answers
        return max(0, num) / (n * (n - 1))
    mean = total / n
    return max(0.0, (sumsq - total * mean) / (n - 1))


def mean_interval(n: float, total: float, sumsq: float, confidence: float = 0.95) -> tuple[float, float]:
    """Student t interval for a mean: mean ± t(n−1)·s/√n. Needs n >= 2."""
    var = sample_variance(n, total, sumsq)
    mean = total / n
    half = t_critical(n - 1, confidence) * math.sqrt(var / n)
    return mean - half, mean + half


# ---------------------------------------------------------------------------
# Two-sample tests
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------
def kish_effective_n_from_sums(sum_w: float, sum_w2: float) -> float:
    """Kish effective sample size (Σw)² / Σw²; 0 when there is no weight."""
    if sum_w2 < 0:
        raise ValueError("sum of squared weights must be >= 0")
    if sum_w2 == 0:
        return 0.0
    return sum_w * sum_w / sum_w2


def kish_effective_n(weights: Iterable[float]) -> float:
    """Kish effective sample size of the weights (equal weights give their count)."""
    s = s2 = 0.0
    for w in weights:
        if w < 0:
            raise ValueError(f"negative weight {w!r}")
        s += w
        s2 += w * w
    return kish_effective_n_from_sums(s, s2)


# ---------------------------------------------------------------------------
# Exact small-sample tails against a known reference
# ---------------------------------------------------------------------------
# A live window of a few minutes may hold a dozen answers: there the normal
# approximation of a far tail is off by orders of magnitude (all of 10 answers
# detractors against 35 % usual: z gives p ~ 1e-9, the exact tail 0.35**10 ~ 3e-5).
# Against a reference of many answers its proportions are treated as known.
def binomial_lower_tail(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ Binomial(n, p), summed exactly in log space."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"need n >= 0 and 0 <= p <= 1, got n={n!r}, p={p!r}")
    if x < 0:
        return 0.0
    if x >= n or p == 0.0:
        return 1.0
    if p == 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq
            for k in range(x + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def nps_lower_tail(promoters: int, passives: int, detractors: int, p_promoter: float, p_detractor: float) -> float:
    """P(P - D <= promoters - detractors) for n = promoters + passives + detractors answers drawn
    with the reference shares of promoters and detractors: the exact one-sided p-value of an NPS
    this low. O(n^2); meant for small samples."""
    _check_counts(promoters, passives, detractors)
    p_passive = 1.0 - p_promoter - p_detractor
    if min(p_promoter, p_detractor) < 0 or p_passive < -1e-12:
        raise ValueError("reference shares must be >= 0 and sum to <= 1")
    p_passive = max(0.0, p_passive)
    n = int(promoters + passives + detractors)
    # dist[k] = P(P - D = k - i) after i answers; the range grows by one each side per answer.
    dist = [1.0]
    for _ in range(n):
        m = len(dist)
        nxt = [0.0] * (m + 2)
        for k, v in enumerate(dist):
            if v:
                nxt[k] += v * p_detractor
                nxt[k + 1] += v * p_passive
                nxt[k + 2] += v * p_promoter
        dist = nxt
    observed = int(promoters - detractors)
    return min(1.0, math.fsum(dist[: observed + n + 1]))
