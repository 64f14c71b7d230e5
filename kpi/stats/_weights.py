"""Kish's effective sample size of weighted answers."""
from __future__ import annotations

from collections.abc import Iterable


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

