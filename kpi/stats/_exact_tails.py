"""Exact small-sample tails against a known reference: binomial and NPS.

A live window of a few minutes may hold a dozen answers: there the normal
approximation of a far tail is off by orders of magnitude (all of 10 answers
detractors against 35 % usual: z gives p ~ 1e-9, the exact tail 0.35**10 ~ 3e-5).
Against a reference of many answers its proportions are treated as known.
"""
from __future__ import annotations

import math

from kpi.stats._intervals import _check_counts


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
