"""kpi.weighted: weighted NPS / CSAT / CES / FCR with Kish's effective sample size.

Reference values come from numpy/scipy computed on the raw answers and
weights, not from kpi.* code.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from kpi import KpiCounts, contribution, measure
from kpi.weighted import WeightedCounts, answer_field, trailing_sums, weighted_measure

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
weights_st = st.floats(min_value=0.05, max_value=20, allow_nan=False, allow_infinity=False)


def _answers(metric: str):
    if metric == "fcr":
        return st.booleans()
    lo, hi = SCALES[metric]
    return st.integers(lo, hi)


def _sample(metric: str, min_size: int = 1):
    return st.lists(st.tuples(_answers(metric), weights_st), min_size=min_size, max_size=60)


def _state(metric: str, pairs) -> WeightedCounts:
    field = answer_field(metric)
    return WeightedCounts.from_answers([{field: x} for x, _ in pairs], [w for _, w in pairs])


def _reference(metric: str, pairs, confidence: float = 0.95) -> tuple[float, float, float | None, float | None]:
    """(value, n_eff, ci_low, ci_high) from numpy/scipy on the raw answers."""
    x = np.array([float(a) for a, _ in pairs])
    w = np.array([w for _, w in pairs])
    n_eff = w.sum() ** 2 / (w ** 2).sum()
    z = sps.norm.ppf(0.5 + confidence / 2)
    if metric == "nps":
        score = np.where(x >= 9, 1.0, np.where(x <= 6, -1.0, 0.0))
        p_p = np.average(score == 1.0, weights=w)
        p_d = np.average(score == -1.0, weights=w)
        value = 100 * np.average(score, weights=w)
        a_p = (p_p * n_eff + 0.75) / (n_eff + 3)
        a_d = (p_d * n_eff + 0.75) / (n_eff + 3)
        half = z * math.sqrt((a_p + a_d - (a_p - a_d) ** 2) / (n_eff + 3))
        return value, n_eff, max(-100, 100 * (a_p - a_d - half)), min(100, 100 * (a_p - a_d + half))
    if metric in ("csat", "fcr"):
        p = np.average(x >= 4 if metric == "csat" else x == 1.0, weights=w)
        centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
        half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff ** 2)) / (1 + z * z / n_eff)
        low = 0.0 if p == 0 else max(0.0, min(p, centre - half))
        high = 1.0 if p == 1 else min(1.0, max(p, centre + half))
        return 100 * p, n_eff, 100 * low, 100 * high
    mean = np.average(x, weights=w)
    if n_eff < 2:
        return mean, n_eff, None, None
    var = np.average((x - mean) ** 2, weights=w) * n_eff / (n_eff - 1)
    half = sps.t.ppf(0.5 + confidence / 2, n_eff - 1) * math.sqrt(var / n_eff)
    return mean, n_eff, mean - half, mean + half


def _close(a: float | None, b: float | None, tol: float = 1e-7) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "fcr"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_matches_numpy_reference(metric: str, data) -> None:
    pairs = data.draw(_sample(metric))
    got = weighted_measure(metric, _state(metric, pairs))
    value, n_eff, low, high = _reference(metric, pairs)
    assert got.n == len(pairs)
    assert got.effective_n == pytest.approx(n_eff, rel=1e-12)
    assert got.sum_weights == pytest.approx(sum(w for _, w in pairs), rel=1e-12)
    assert _close(got.value, value, 1e-9)
    # CES keeps sums, not centred squares: a zero variance may come out as ~1e-16, i.e. a half-width of
    # t·1e-8 (t = 12.7 at n_eff 2) where numpy's centred variance gives exactly 0.
    tol = 1e-5 if metric == "ces" else 1e-7
    assert _close(got.ci_low, low, tol) and _close(got.ci_high, high, tol), (got, low, high)
    assert got.low_sample == (n_eff < 30)


@pytest.mark.parametrize("metric", ["nps", "csat", "csat_mean", "ces", "fcr"])
@settings(max_examples=100, deadline=None)
@given(data=st.data(), w=weights_st)
def test_equal_weights_give_the_unweighted_kpi(metric: str, data, w: float) -> None:
    field = answer_field(metric)
    answers = data.draw(st.lists(_answers(field), min_size=1, max_size=80))
    counts = KpiCounts()
    for a in answers:
        counts.add(contribution({"type": "cx.survey.response.v1", field: a}))
    plain = measure(metric, counts)
    got = weighted_measure(metric, _state(metric, [(a, w) for a in answers]))
    assert got.n == plain.n == len(answers)
    assert got.effective_n == pytest.approx(len(answers), rel=1e-12)
    assert got.low_sample == plain.low_sample
    assert _close(got.value, plain.value, 1e-9)
    tol = 1e-5 if metric == "ces" else 1e-9  # float sums of squares (see test_matches_numpy_reference)
    assert _close(got.ci_low, plain.ci_low, tol) and _close(got.ci_high, plain.ci_high, tol), (got, plain)


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "fcr"])
@settings(max_examples=80, deadline=None)
@given(data=st.data(), factor=st.floats(min_value=0.01, max_value=100))
def test_scaling_all_weights_changes_nothing_but_their_sum(metric: str, data, factor: float) -> None:
    pairs = data.draw(_sample(metric))
    a = weighted_measure(metric, _state(metric, pairs))
    b = weighted_measure(metric, _state(metric, [(x, w * factor) for x, w in pairs]))
    assert b.effective_n == pytest.approx(a.effective_n, rel=1e-9)
    tol = 1e-5 if metric == "ces" else 1e-8
    assert _close(a.value, b.value, 1e-9)
    assert _close(a.ci_low, b.ci_low, tol) and _close(a.ci_high, b.ci_high, tol)


@pytest.mark.parametrize("metric", ["nps", "ces", "fcr"])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_state_is_additive(metric: str, data) -> None:
    pairs = data.draw(_sample(metric, min_size=2))
    cut = data.draw(st.integers(1, len(pairs) - 1))
    left, right = _state(metric, pairs[:cut]), _state(metric, pairs[cut:])
    left.add(right)
    whole = weighted_measure(metric, _state(metric, pairs))
    merged = weighted_measure(metric, left)
    assert merged.n == whole.n
    assert merged.effective_n == pytest.approx(whole.effective_n, rel=1e-9)
    assert _close(merged.value, whole.value, 1e-9)


def test_grouped_answers_equal_single_answers() -> None:
    # Three promoters with weights 1, 2, 3 given as one group: Σw = 6, Σw² = 14.
    grouped = WeightedCounts()
    grouped.add_answers({"nps": 9}, 3, 6.0, 14.0)
    grouped.add_answers({"nps": 2}, 1, 2.0, 4.0)
    single = _state("nps", [(9, 1.0), (9, 2.0), (9, 3.0), (2, 2.0)])
    assert grouped == single
    v = weighted_measure("nps", grouped)
    assert v.value == pytest.approx(100 * (6 - 2) / 8)
    assert v.effective_n == pytest.approx(64 / 18)
    assert v.weighted_counts == {"nps_n": 8.0, "promoters": 6.0, "passives": 0.0, "detractors": 2.0}


def test_empty_and_unweighted_metrics() -> None:
    empty = weighted_measure("csat", WeightedCounts())
    assert (empty.value, empty.n, empty.effective_n, empty.ci_low, empty.low_sample) == (None, 0, 0.0, None, True)
    only_nps = _state("nps", [(10, 1.0)])
    assert weighted_measure("ces", only_nps).value is None  # no CES answer among them
    for metric in ("volume", "responses", "response_rate", "fcr_operational"):
        with pytest.raises(ValueError, match="no weighted form"):
            weighted_measure(metric, only_nps)
    with pytest.raises(ValueError):
        WeightedCounts.from_answers([{"nps": 3}], [0.0])
    assert WeightedCounts.from_answers([{"nps": 3}], [None]) == _state("nps", [(3, 1.0)])


@settings(max_examples=50, deadline=None)
@given(ws=st.lists(weights_st, min_size=1, max_size=30), k=st.integers(1, 6))
def test_trailing_sums_are_fresh_sums(ws: list[float], k: int) -> None:
    buckets = [_state("fcr", [(i % 2 == 0, w)]) for i, w in enumerate(ws)]
    sums = trailing_sums(buckets, k)
    assert len(sums) == len(buckets)
    for i, s in enumerate(sums):
        part = ws[max(0, i - k + 1):i + 1]
        assert s.counts.fcr_n == len(part)
        assert s.weighted.fcr_n == pytest.approx(sum(part), rel=1e-12)
        assert s.weighted.fcr_yes <= s.weighted.fcr_n
    with pytest.raises(ValueError):
        trailing_sums(buckets, 0)
