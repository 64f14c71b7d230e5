"""Weighted KPIs with Kish's effective sample size (pure; no I/O).

Survey answers may carry an analytical ``weight`` (e.g. a web intercept that
stands for four customers). The stream counters ignore weights (they are rare
and would double the state), so weighted values are computed on read from
the ledger. The state is still additive, so buckets and rolling windows merge
by addition as everywhere else (STYLE pattern 2):

* ``counts``: the ordinary :class:`~kpi.counts.KpiCounts` of the answers
  (``n`` is exactly the ``n`` of the unweighted KPI);
* ``weighted``: every answer's :func:`~kpi.counts.contribution` multiplied by
  its weight (so ``promoters`` is Σw over promoters, ``ces_sum`` is Σw·x,
  ``ces_sumsq`` is Σw·x², ``nps_n`` is Σw over NPS answers);
* ``weighted_sq``: the contribution multiplied by w² (its ``n`` counters give
  Σw², all Kish's effective sample size needs: n_eff = (Σw)² / Σw²).

The point estimate is the weighted one (Σw·x / Σw). Its interval is the
unweighted interval of the same kind (adjusted Wald, Wilson, Student t)
computed as if the sample had ``n_eff`` answers with the weighted shares:
the weighted counters are rescaled by n_eff / Σw and handed to
:func:`kpi.measures.measure`. So equal weights give exactly the unweighted
value and interval, and ``low_sample`` is judged on n_eff (Kish 1965; the
usual design-effect adjustment for weighted survey estimates).

Answers without a weight count with weight 1.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpi.counts import KpiCounts, contribution
from kpi.measures import Metric, measure, sample_size_counter
from kpi.stats import kish_effective_n_from_sums

__all__ = ["WEIGHTED_METRICS", "WeightedCounts", "WeightedValue", "answer_field", "trailing_sums",
           "weighted_measure"]

_RESPONSE = "cx.survey.response.v1"

#: Metrics a weight applies to (survey answers), and the record field holding their answer.
WEIGHTED_METRICS: dict[Metric, str] = {
    Metric.nps: "nps",
    Metric.csat: "csat",
    Metric.csat_mean: "csat",
    Metric.ces: "ces",
    Metric.fcr: "fcr",
}


def answer_field(metric: Metric | str) -> str:
    """The survey-answer field behind a weighted metric; ``ValueError`` for any other metric."""
    try:
        return WEIGHTED_METRICS[Metric(metric)]
    except KeyError:
        raise ValueError(
            f"{Metric(metric).value} has no weighted form; weighted metrics: {[m.value for m in WEIGHTED_METRICS]}"
        ) from None


def _scaled(counts: KpiCounts, factor: float) -> KpiCounts:
    return KpiCounts(*(x * factor for x in counts.as_tuple()))


@dataclass(slots=True)
class WeightedCounts:
    """Additive weighted state of a set of answers (see the module docstring)."""

    counts: KpiCounts = field(default_factory=KpiCounts)
    weighted: KpiCounts = field(default_factory=KpiCounts)
    weighted_sq: KpiCounts = field(default_factory=KpiCounts)

    def add(self, other: WeightedCounts) -> None:
        """Add ``other`` into ``self`` in place."""
        self.counts.add(other.counts)
        self.weighted.add(other.weighted)
        self.weighted_sq.add(other.weighted_sq)

    def add_answers(self, record: Mapping[str, Any], count: int, sum_w: float, sum_w2: float) -> None:
        """Add ``count`` answers equal to ``record`` whose weights sum to ``sum_w`` (squares: ``sum_w2``).

        The warehouse groups answers by value and returns these three sums, so
        a bucket costs one call per distinct answer, not one per answer.
        ``record`` is a survey-response record (``type`` may be omitted).
        """
        one = contribution({"type": _RESPONSE, **record})
        self.counts.add(_scaled(one, count))
        self.weighted.add(_scaled(one, sum_w))
        self.weighted_sq.add(_scaled(one, sum_w2))

    @classmethod
    def from_answers(cls, records: Iterable[Mapping[str, Any]], weights: Iterable[float | None]) -> WeightedCounts:
        """State of individual answers; a ``None`` weight is 1."""
        out = cls()
        for record, w in zip(records, weights, strict=True):
            w = 1.0 if w is None else float(w)
            if not w > 0:
                raise ValueError(f"weights must be > 0, got {w!r}")
            out.add_answers(record, 1, w, w * w)
        return out


def trailing_sums(buckets: Sequence[WeightedCounts], k: int) -> list[WeightedCounts]:
    """Element i is buckets[i] plus its k − 1 predecessors, like :func:`kpi.measures.rolling`.

    Each sum is built afresh instead of adding the new bucket and subtracting
    the old one: weights are floats, and a running subtraction would let a
    weighted success count drift above its total.
    """
    if k < 1:
        raise ValueError(f"window length k={k!r} must be >= 1")
    out: list[WeightedCounts] = []
    for i in range(len(buckets)):
        acc = WeightedCounts()
        for bucket in buckets[max(0, i - k + 1):i + 1]:
            acc.add(bucket)
        out.append(acc)
    return out


@dataclass(frozen=True, slots=True)
class WeightedValue:
    """A weighted KPI reading: ``n`` answers, ``effective_n`` (Kish), the interval on ``effective_n``.

    ``value`` and the interval are None when there is no answer; the interval
    is None for ``csat_mean`` (as unweighted) and for ``ces`` below n_eff 2.
    ``weighted_counts`` holds the weighted counters behind the value.
    """

    metric: Metric
    value: float | None
    n: int
    effective_n: float
    sum_weights: float
    ci_low: float | None
    ci_high: float | None
    low_sample: bool
    weighted_counts: dict[str, float]


def weighted_measure(
    metric: Metric | str, state: WeightedCounts, min_sample: int = 30, confidence: float = 0.95
) -> WeightedValue:
    """The weighted value of ``metric`` with Kish's effective sample size and an interval on it."""
    metric = Metric(metric)
    answer_field(metric)  # only the survey metrics have a weighted form
    n_name = sample_size_counter(metric)
    n = int(getattr(state.counts, n_name))
    sum_w = float(getattr(state.weighted, n_name))
    n_eff = kish_effective_n_from_sums(sum_w, float(getattr(state.weighted_sq, n_name)))
    if n <= 0 or sum_w <= 0:
        return WeightedValue(metric, None, max(n, 0), 0.0, max(sum_w, 0.0), None, None, True, {})
    scaled = _scaled(state.weighted, n_eff / sum_w)
    _clamp_to_n(scaled, n_name, n_eff)
    kv = measure(metric, scaled, min_sample=min_sample, confidence=confidence)
    weighted_counts = {name: float(getattr(state.weighted, name)) for name in kv.counts}
    # (n·w)² / (n·w²) can round to just below n: equal weights must not turn n = min_sample into "low".
    low_sample = n_eff < min_sample * (1 - 1e-12)
    return WeightedValue(metric, kv.value, n, n_eff, sum_w, kv.ci_low, kv.ci_high, low_sample, weighted_counts)


_SUCCESS_COUNTERS = ("promoters", "passives", "detractors", "csat_top2", "fcr_yes")


def _clamp_to_n(scaled: KpiCounts, n_name: str, n_eff: float) -> None:
    """Keep rescaled successes within [0, n] despite float rounding (Wilson rejects successes > n)."""
    setattr(scaled, n_name, n_eff)  # exactly n_eff: Σw·(n_eff/Σw) may round below it (and below 2)
    n = n_eff
    for name in _SUCCESS_COUNTERS:
        setattr(scaled, name, min(max(getattr(scaled, name), 0.0), n))
