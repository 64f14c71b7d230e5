"""One-sample estimates: critical values, the NPS score and interval, Wilson and Student t intervals.

Intervals are two-sided at ``confidence`` (0.95 by default). The adjusted-Wald
NPS helpers here are shared with the two-sample NPS test and the exact NPS tail.
"""
from __future__ import annotations

import math
from functools import lru_cache

from kpi.stats._normal import norm_ppf
from kpi.stats._student_t import t_ppf


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

