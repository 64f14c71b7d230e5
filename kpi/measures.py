"""KPI values computed on read from additive :class:`~kpi.counts.KpiCounts`.

Percentages are on 0..100, NPS on -100..100, means on their answer scale, durations in seconds
(counted in deciseconds), the positive:negative ratio as positives per negative (target 3.0).
No rounding here: the API rounds for display.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kpi import stats
from kpi.counts import KpiCounts

__all__ = ["ASPECT_COUNTERS", "COUNT_METRICS", "LOWER_IS_BETTER", "AspectMetric", "KpiValue", "Metric", "measure", "ratio_interval", "rolling", "sample_size",
           "sample_size_counter"]


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
    # Touchpoint outcomes (kpi.counts): rates over the touchpoints that state the flag, durations in seconds.
    conversion_rate = "conversion_rate"  # converted / touchpoints stating it %, Wilson interval
    abandonment_rate = "abandonment_rate"  # abandoned / touchpoints stating it %, Wilson; lower is better
    transfer_rate = "transfer_rate"  # transferred / touchpoints stating it %, Wilson; lower is better
    wait_time = "wait_time"  # mean wait_s, Student t interval (lower bound >= 0); lower is better
    handle_time = "handle_time"  # mean handle_s of contacts not abandoned, Student t; lower is better
    pos_neg_ratio = "pos_neg_ratio"  # positive / negative experiences (answers and signals); n = both; Wilson, mapped
    # Social and review signals (cx.signal.v1, kpi.counts).
    signal_volume = "signal_volume"  # signals of every kind; no interval
    review_rating = "review_rating"  # mean review rating 1..5, Student t interval
    signal_negative_share = "signal_negative_share"  # negative / reviews and mentions %, Wilson; lower is better
    engagement = "engagement"  # likes + shares + comments; no interval


@dataclass(frozen=True, slots=True)
class AspectMetric:
    """A rated aspect as a metric (``core.aspects``): ``aspect:<name>`` is the mean score (Student t
    interval), ``aspect_top2:<name>`` the share of scores in the top-2 box in % (Wilson interval).
    Higher is better. Its counters are ``KpiCounts.aspects[name]`` (n, sum, sumsq, top2)."""

    kind: str  # "mean" | "top2"
    name: str

    @property
    def value(self) -> str:
        return f"{'aspect' if self.kind == 'mean' else 'aspect_top2'}:{self.name}"

    @classmethod
    def parse(cls, metric: str) -> AspectMetric | None:
        """The aspect metric ``metric`` spells, or None (the name is not checked against the configuration)."""
        for prefix, kind in (("aspect:", "mean"), ("aspect_top2:", "top2")):
            if metric.startswith(prefix):
                return cls(kind, metric[len(prefix):])
        return None


#: The counters of an aspect metric, as ``KpiValue.counts`` names them.
ASPECT_COUNTERS = ("n", "sum", "sumsq", "top2")


def _measure_aspect(metric: AspectMetric, counts: KpiCounts, min_sample: int, confidence: float) -> KpiValue:
    n, total, sumsq, top2 = (counts.aspects or {}).get(metric.name) or (0, 0, 0, 0)
    value: float | None = None
    ci: tuple[float, float] | None = None
    if n > 0:
        if metric.kind == "mean":
            value = total / n
            if n >= 2:
                ci = stats.mean_interval(n, total, sumsq, confidence)
        else:
            value = 100.0 * top2 / n
            if 0 <= top2 <= n:
                ci = _pct(stats.wilson_interval(top2, n, confidence))
    low, high = ci if ci is not None else (None, None)
    return KpiValue(metric, value, int(n), low, high, n < min_sample,  # type: ignore[arg-type]
                    dict(zip(ASPECT_COUNTERS, (n, total, sumsq, top2))))


#: Metrics where a lower value is the better one; every other rate or mean is higher-is-better.
LOWER_IS_BETTER: frozenset[Metric] = frozenset(
    {Metric.abandonment_rate, Metric.transfer_rate, Metric.wait_time, Metric.handle_time,
     Metric.signal_negative_share})


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One KPI reading.

    ``value``, ``ci_low`` and ``ci_high`` are None when the metric is
    undefined (n == 0); the interval is also None for counts, for
    ``csat_mean`` and for the means (``ces``, ``wait_time``, ``handle_time``)
    with n == 1. ``pos_neg_ratio`` without a negative answer has no ``value``
    and no ``ci_high`` but a ``ci_low``. ``counts`` holds only the counters
    behind this metric.
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
    Metric.conversion_rate: ("tp_converted_n", "tp_converted"),
    Metric.abandonment_rate: ("tp_abandoned_n", "tp_abandoned"),
    Metric.transfer_rate: ("tp_transferred_n", "tp_transferred"),
    Metric.wait_time: ("tp_wait_n", "tp_wait_ds", "tp_wait_ds2"),
    Metric.handle_time: ("tp_handle_n", "tp_handle_ds", "tp_handle_ds2"),
    # The exception to "the first one is n": n is positive + negative (the answers and signals that are either).
    Metric.pos_neg_ratio: ("answers_positive", "answers_negative", "sig_positive", "sig_negative"),
    Metric.signal_volume: ("sig_n",),
    Metric.review_rating: ("sig_reviews", "sig_rating_sum", "sig_rating_sumsq"),
    Metric.signal_negative_share: ("sig_polar_n", "sig_negative"),
    Metric.engagement: ("sig_engagement",),
}

#: The count metrics: always defined (0 when empty), no interval, never ``low_sample``.
COUNT_METRICS: frozenset[Metric] = frozenset({Metric.volume, Metric.responses, Metric.signal_volume, Metric.engagement})

#: The (successes, trials) counters of the touchpoint-outcome rates.
_OUTCOME_RATES: dict[Metric, tuple[str, str]] = {
    Metric.conversion_rate: ("tp_converted", "tp_converted_n"),
    Metric.abandonment_rate: ("tp_abandoned", "tp_abandoned_n"),
    Metric.transfer_rate: ("tp_transferred", "tp_transferred_n"),
}
#: The (n, sum, sum of squares) counters of the durations, in deciseconds.
_DURATIONS: dict[Metric, tuple[str, str, str]] = {
    Metric.wait_time: ("tp_wait_n", "tp_wait_ds", "tp_wait_ds2"),
    Metric.handle_time: ("tp_handle_n", "tp_handle_ds", "tp_handle_ds2"),
}


def sample_size_counter(metric: Metric | str) -> str:
    """Name of the counter that is ``n`` of ``metric`` (e.g. ``nps_n``; ``invitations`` for the response rate).

    ``ValueError`` for ``pos_neg_ratio``, whose n is the sum of four counters (:func:`sample_size`)."""
    metric = Metric(metric)
    if metric is Metric.pos_neg_ratio:
        raise ValueError("pos_neg_ratio has no single n counter: "
                         "n = answers_positive + answers_negative + sig_positive + sig_negative")
    return _COUNTERS[metric][0]


def sample_size(metric: Metric | str, counts: KpiCounts) -> Any:
    """``n`` of ``metric`` in ``counts``, as stored (a float in the weighted path's rescaled counts)."""
    metric = Metric(metric)
    if metric is Metric.pos_neg_ratio:
        return counts.answers_positive + counts.answers_negative + counts.sig_positive + counts.sig_negative
    return getattr(counts, _COUNTERS[metric][0])


def ratio_interval(positive: int, negative: int, confidence: float = 0.95) -> tuple[float, float | None]:
    """Interval of positive / negative: the Wilson interval (lo, hi) of the share p = positive / n,
    mapped by p / (1 - p), which is increasing, so the bounds keep their coverage. The upper bound
    is None when there is no negative answer (hi = 1: the ratio is unbounded above)."""
    lo, hi = stats.wilson_interval(positive, positive + negative, confidence)
    return lo / (1.0 - lo), (None if hi >= 1.0 else hi / (1.0 - hi))


def _pct(x: tuple[float, float]) -> tuple[float, float]:
    return 100.0 * x[0], 100.0 * x[1]


def measure(
    metric: Metric | AspectMetric | str,
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
    if isinstance(metric, AspectMetric):
        return _measure_aspect(metric, counts, min_sample, confidence)
    metric = Metric(metric)
    names = _COUNTERS[metric]
    used = {name: getattr(counts, name) for name in names}
    n = sample_size(metric, counts)
    value: float | None = None
    ci: tuple[float | None, float | None] | None = None

    if metric in COUNT_METRICS:
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
        elif metric in _OUTCOME_RATES:
            x = getattr(counts, _OUTCOME_RATES[metric][0])
            value = 100.0 * x / n
            if 0 <= x <= n:
                ci = _pct(stats.wilson_interval(x, n, confidence))
        elif metric in _DURATIONS:
            _, total_ds, sumsq_ds = (getattr(counts, c) for c in _DURATIONS[metric])
            value = total_ds / n / 10.0
            if n >= 2:
                low_ds, high_ds = stats.mean_interval(n, total_ds, sumsq_ds, confidence)
                # A mean of durations is never negative; the t interval's symmetry would say so on skewed data.
                ci = max(0.0, low_ds / 10.0), high_ds / 10.0
        elif metric is Metric.review_rating:
            value = counts.sig_rating_sum / n
            if n >= 2:
                ci = stats.mean_interval(n, counts.sig_rating_sum, counts.sig_rating_sumsq, confidence)
        elif metric is Metric.signal_negative_share:
            x = counts.sig_negative
            value = 100.0 * x / n
            if 0 <= x <= n:
                ci = _pct(stats.wilson_interval(x, n, confidence))
        elif metric is Metric.pos_neg_ratio:
            # Answers and signals together: a review or mention is an experience too (kpi.counts).
            positive = counts.answers_positive + counts.sig_positive
            negative = counts.answers_negative + counts.sig_negative
            # No negative experience: the ratio is unbounded, so no value; the lower bound still says
            # how high it is at least.
            value = positive / negative if negative > 0 else None
            if positive >= 0 and negative >= 0:
                ci = ratio_interval(positive, negative, confidence)
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
