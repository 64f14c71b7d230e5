"""KPI values computed on read from additive :class:`~kpi.counts.KpiCounts`.

Percentages are on 0..100, NPS on -100..100, means on their answer scale.
No rounding here: the API rounds for display.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kpi import stats
from kpi.counts import KpiCounts

__all__ = ["KpiValue", "Metric", "measure", "rolling", "sample_size_counter"]


class Metric(str, Enum):
    nps = "nps"  # -100..100, adjusted-Wald interval
    csat = "csat"  # top-2-box %, Wilson interval
    csat_mean = "csat_mean"  # mean of 1..5; no interval (no csat sum of squares is kept)
    ces = "ces"  # mean of 1..7, Student t interval
    fcr = "fcr"  # survey first-contact resolution %, Wilson interval
    fcr_operational = "fcr_operational"  # touchpoints resolved at first contact / first contact %, Wilson
    response_rate = "response_rate"  # invitations answered / invitations %, Wilson interval
    volume = "volume"  # touchpoint count; no interval
    responses = "responses"  # survey response count; no interval


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One KPI reading.

    ``value``, ``ci_low`` and ``ci_high`` are None when the metric is
    undefined (n == 0); the interval is also None for counts, for
    ``csat_mean`` and for ``ces`` with n == 1. ``counts`` holds only the
    counters behind this metric.
    """

    metric: Metric
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    low_sample: bool
    counts: dict[str, Any] = field(default_factory=dict)


# Counters behind each metric, in FIELDS order. The first one is n. The response rate is
# invitations_answered / invitations; it also lists ``responses`` (all answers, invited or not), so its
# counts change with every invitation and answer (the board's live stream relies on that).
_COUNTERS: dict[Metric, tuple[str, ...]] = {
    Metric.nps: ("nps_n", "promoters", "passives", "detractors"),
    Metric.csat: ("csat_n", "csat_top2"),
    Metric.csat_mean: ("csat_n", "csat_sum"),
    Metric.ces: ("ces_n", "ces_sum", "ces_sumsq"),
    Metric.fcr: ("fcr_n", "fcr_yes"),
    Metric.fcr_operational: ("tp_first_contact", "tp_first_contact_resolved"),
    Metric.response_rate: ("invitations", "responses", "invitations_answered"),
    Metric.volume: ("touchpoints",),
    Metric.responses: ("responses",),
}


def sample_size_counter(metric: Metric | str) -> str:
    """Name of the counter that is ``n`` of ``metric`` (e.g. ``nps_n``; ``invitations`` for the response rate)."""
    return _COUNTERS[Metric(metric)][0]


def _pct(x: tuple[float, float]) -> tuple[float, float]:
    return 100.0 * x[0], 100.0 * x[1]


def measure(
    metric: Metric | str,
    counts: KpiCounts,
    min_sample: int = 30,
    confidence: float = 0.95,
) -> KpiValue:
    """Compute ``metric`` from ``counts``.

    For rate and mean metrics ``value`` and the interval are None when
    n == 0, and ``low_sample`` is n < ``min_sample``. The count metrics
    (``volume``, ``responses``) are always defined (0 when empty), have no
    interval and are never ``low_sample``.
    """
    metric = Metric(metric)
    names = _COUNTERS[metric]
    used = {name: getattr(counts, name) for name in names}
    n = used[names[0]]
    value: float | None = None
    ci: tuple[float, float] | None = None

    if metric is Metric.volume or metric is Metric.responses:
        return KpiValue(metric, float(n), int(n), None, None, False, used)

    if n > 0:
        if metric is Metric.nps:
            p, pa, d = counts.promoters, counts.passives, counts.detractors
            value = 100.0 * (p - d) / n
            ci = stats.nps_interval(p, pa, d, confidence)
        elif metric is Metric.csat:
            value = 100.0 * counts.csat_top2 / n
            ci = _pct(stats.wilson_interval(counts.csat_top2, n, confidence))
        elif metric is Metric.csat_mean:
            value = counts.csat_sum / n
        elif metric is Metric.ces:
            value = counts.ces_sum / n
            if n >= 2:
                ci = stats.mean_interval(n, counts.ces_sum, counts.ces_sumsq, confidence)
        elif metric is Metric.fcr:
            value = 100.0 * counts.fcr_yes / n
            ci = _pct(stats.wilson_interval(counts.fcr_yes, n, confidence))
        elif metric is Metric.fcr_operational:
            x = counts.tp_first_contact_resolved
            value = 100.0 * x / n
            ci = _pct(stats.wilson_interval(x, n, confidence))
        elif metric is Metric.response_rate:
            # Answers without an invitation (IVR, in-app) are not in the numerator: it counts the
            # invitations that were answered, so it is a proportion of n. The guard only protects the
            # interval from counters that are not ledger-consistent (e.g. hand-written rows).
            x = counts.invitations_answered
            value = 100.0 * x / n
            if 0 <= x <= n:
                ci = _pct(stats.wilson_interval(x, n, confidence))
    low, high = ci if ci is not None else (None, None)
    return KpiValue(metric, value, int(n), low, high, n < min_sample, used)


def rolling(buckets: Sequence[KpiCounts], k: int) -> list[KpiCounts]:
    """Trailing sums: element i is buckets[i] plus its k − 1 predecessors (fewer at the start).

    E.g. k = 24 over hourly tumbling buckets gives rolling 24 h. Returns new
    objects; the inputs are not modified. Buckets must be contiguous (fill
    gaps with empty ``KpiCounts()``).
    """
    if k < 1:
        raise ValueError(f"window length k={k!r} must be >= 1")
    out: list[KpiCounts] = []
    acc = KpiCounts()
    for i, bucket in enumerate(buckets):
        acc.add(bucket)
        if i >= k:
            acc.subtract(buckets[i - k])
        out.append(acc.copy())
    return out
