"""Student's t distribution over the regularized incomplete beta function.

:func:`t_cdf`, :func:`t_sf` (incomplete beta by Lentz's continued fraction;
Hill's normalizing transformation for very large df) and :func:`t_ppf` (Hill
1970 start, then safeguarded Newton on the log scale). Accuracy is ~1e-12
relative or better for ``df >= 1``; non-integer ``df`` (Welch) is supported.
"""
from __future__ import annotations

import math

from kpi.stats._normal import _SQRT2, _quantile_at_ends, norm_ppf

_LOG_SQRT2PI = 0.5 * math.log(2.0 * math.pi)


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


def _lentz_step(aa: float, c: float, d: float) -> tuple[float, float]:
    """One modified-Lentz update for the partial numerator ``aa``: the new (c, d).

    Values that would be ~0 are nudged to ``_TINY`` so the next division stays finite.
    """
    d = 1.0 + aa * d
    if abs(d) < _TINY:
        d = _TINY
    c = 1.0 + aa / c
    if abs(c) < _TINY:
        c = _TINY
    return c, 1.0 / d


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
        # Each iteration takes the even then the odd term of the fraction.
        c, d = _lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d)
        h *= d * c
        c, d = _lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c, d)
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
    if (end := _quantile_at_ends(p)) is not None:
        return end
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return _t_upper_quantile(1.0 - p, p - 0.5, df)  # both differences are exact
    return -_t_upper_quantile(p, 0.5 - p, df)

