"""Multiple-testing corrections."""
from __future__ import annotations

from collections.abc import Sequence


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    With the m p-values sorted ascending, p(1) <= ... <= p(m), the adjusted value of the k-th is
    max over j <= k of min(1, (m - j + 1) * p(j)); rejecting where it is below alpha controls the
    family-wise error rate at alpha under any dependence (Holm 1979).
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out
