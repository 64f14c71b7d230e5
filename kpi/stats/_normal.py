"""The normal distribution: :func:`norm_cdf`, :func:`norm_sf` and :func:`norm_ppf`.

The quantile is Acklam's rational approximation refined by one Halley step on
``math.erfc`` (~1e-15 relative).
"""
from __future__ import annotations

import math

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


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


def _quantile_at_ends(p: float) -> float | None:
    """Reject a ``p`` outside [0, 1]; the quantile of any continuous distribution on the whole line at
    ``p`` = 0 or 1 (-inf, inf), None for 0 < p < 1."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p!r} is outside [0, 1]")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    return None


def norm_ppf(p: float) -> float:
    """Inverse of :func:`norm_cdf`. ``norm_ppf(0) = -inf``, ``norm_ppf(1) = inf``."""
    if (end := _quantile_at_ends(p)) is not None:
        return end
    if p > 0.5:
        return -_norm_ppf_lower(1.0 - p)  # 1 - p is exact here
    return _norm_ppf_lower(p)

