"""Rated aspects and key drivers: configuration, ingest rejections, counters, measures, driver maths."""
from __future__ import annotations

import math
import random
import statistics

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import aspects as aspect_config
from core.settings import Settings
from ingest.validation import validate_items, validate_raw_message
from kpi import stats
from kpi.counts import KpiCounts, add_record
from kpi.drivers import PairSums, explain_change, fisher_interval, pearson, rank, slope
from kpi.measures import AspectMetric, measure, rolling

SPECS = aspect_config.validate_specs({"wait_time": {"label": "Wait time", "min": 1, "max": 5},
                                      "friendliness": {"min": 0, "max": 10, "top2_min": 9}})


@pytest.fixture
def configured():
    aspect_config.configure(SPECS)
    yield
    aspect_config.configure({})


def _answer(eid: str, answers: dict) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/survey", "type": "cx.survey.response.v1",
            "time": "2026-11-03T10:00:00Z", "data": {"survey_id": "s", "answers": answers}}


# -- configuration -----------------------------------------------------------------------
def test_specs_default_the_top2_box_to_the_two_highest_scores() -> None:
    assert SPECS["wait_time"] == aspect_config.AspectSpec("wait_time", "Wait time", 1, 5, 4)
    assert SPECS["friendliness"].label == "friendliness" and SPECS["friendliness"].top2_min == 9


@pytest.mark.parametrize("raw", [{"Wait": {}}, {"a-b": {}}, {"x": {"min": 5, "max": 5}}, {"x": {"min": -1}},
                                 {"x": {"max": 101}}, {"x": {"min": 1, "max": 5, "top2_min": 1}},
                                 {"x": {"min": 1.0}}, {"x": {"top2_min": 6}}])
def test_bad_aspects_stop_the_settings(raw) -> None:
    with pytest.raises(ValueError):
        Settings(aspects=raw)


def test_settings_give_the_specs() -> None:
    s = Settings(aspects={"wait_time": {"label": "Wait time"}})
    assert aspect_config.validate_specs(s.aspect_inputs()) == {"wait_time": SPECS["wait_time"]}


# -- ingest ------------------------------------------------------------------------------
def test_aspects_are_checked_per_item_at_their_path() -> None:
    items = [
        _answer("ok", {"nps": 9, "aspects": {"wait_time": 2, "friendliness": 10}}),
        _answer("unknown", {"nps": 9, "aspects": {"wait_time": 2, "parking": 3}}),
        _answer("high", {"aspects": {"wait_time": 6}}),
        _answer("low", {"aspects": {"wait_time": 0}}),
        _answer("float", {"aspects": {"wait_time": 2.5}}),
        _answer("text", {"aspects": {"wait_time": "3"}}),
        _answer("bool", {"aspects": {"wait_time": True}}),
        _answer("alone", {"aspects": {"friendliness": 0}}),
        _answer("empty", {"aspects": {}}),
    ]
    records, rejected = validate_items(items, "t1", lambda t, c: c, aspects=SPECS)
    assert [(r.index, r.path) for r in rejected] == [
        (1, "data.answers.aspects.parking"), (2, "data.answers.aspects.wait_time"),
        (3, "data.answers.aspects.wait_time"), (4, "data.answers.aspects.wait_time"),
        (5, "data.answers.aspects.wait_time"), (6, "data.answers.aspects.wait_time"), (8, "data.answers")]
    assert "outside the scale 1..5" in rejected[1].error and "unknown aspect 'parking'" in rejected[0].error
    assert [(r["id"], r.get("aspects")) for r in records] == [
        ("ok", {"wait_time": 2, "friendliness": 10}), ("alone", {"friendliness": 0})]
    _, unconfigured = validate_items(items[:1], "t1", lambda t, c: c)  # none configured: refused
    assert [(r.index, r.path) for r in unconfigured] == [(0, "data.answers.aspects.wait_time")]


def test_the_raw_topic_checks_aspects_too() -> None:
    value = orjson.dumps([{**_answer("r1", {"aspects": {"wait_time": 5}}), "tenant": "t1"},
                          {**_answer("r2", {"aspects": {"wait_time": 9}}), "tenant": "t1"}])
    records, rejected = validate_raw_message(value, None, lambda t, c: c, aspects=SPECS)
    assert [r["aspects"] for r in records] == [{"wait_time": 5}]
    assert [(r.index, r.path) for r in rejected] == [(1, "data.answers.aspects.wait_time")]


# -- counters and measures ----------------------------------------------------------------
def _rec(aspects: dict, **scores) -> dict:
    return {"type": "cx.survey.response.v1", "aspects": aspects, **scores}


def test_counters_add_retract_and_skip_unconfigured_aspects(configured) -> None:
    c = KpiCounts()
    add_record(c, _rec({"wait_time": 4, "parking": 2}, nps=9))
    add_record(c, _rec({"wait_time": 2, "friendliness": 9}))
    assert c.aspects == {"wait_time": [2, 6, 20, 1], "friendliness": [1, 9, 81, 1]}
    add_record(c, _rec({"wait_time": 2, "friendliness": 9}), -1)
    assert c.aspects == {"wait_time": [1, 4, 16, 1], "friendliness": [0, 0, 0, 0]}
    assert not c.is_zero()
    empty = KpiCounts()
    add_record(empty, _rec({"friendliness": 3}))
    add_record(empty, _rec({"friendliness": 3}), -1)
    assert empty.is_zero()  # an aspect retracted to zero is nothing


@given(st.lists(st.dictionaries(st.sampled_from(["wait_time", "friendliness"]), st.integers(1, 5)), max_size=12),
       st.integers(0, 12))
def test_rolling_sums_aspects_like_the_other_counters(rated, k) -> None:
    aspect_config.configure(SPECS)
    try:
        buckets = []
        for a in rated:
            c = KpiCounts()
            add_record(c, _rec(a))
            buckets.append(c)
        for i, got in enumerate(rolling(buckets, max(1, k))):
            want = KpiCounts()
            for a in rated[max(0, i - max(1, k) + 1):i + 1]:
                add_record(want, _rec(a))
            assert {n: v for n, v in (got.aspects or {}).items() if any(v)} == (want.aspects or {})
    finally:
        aspect_config.configure({})


def test_mean_and_top2_box_of_an_aspect(configured) -> None:
    scores = [1, 2, 2, 3, 4, 4, 5, 5, 5, 3, 4]
    c = KpiCounts()
    for s in scores:
        add_record(c, _rec({"wait_time": s}))
    mean = measure(AspectMetric("mean", "wait_time"), c, min_sample=30)
    m, sd = statistics.fmean(scores), statistics.stdev(scores)
    half = stats.t_critical(len(scores) - 1) * sd / math.sqrt(len(scores))
    assert mean.value == pytest.approx(m) and mean.n == 11 and mean.low_sample
    assert (mean.ci_low, mean.ci_high) == (pytest.approx(m - half), pytest.approx(m + half))
    assert mean.counts == {"n": 11, "sum": sum(scores), "sumsq": sum(s * s for s in scores), "top2": 6}
    top2 = measure(AspectMetric("top2", "wait_time"), c)
    lo, hi = stats.wilson_interval(6, 11)
    assert (top2.value, top2.ci_low, top2.ci_high) == (pytest.approx(600 / 11), pytest.approx(100 * lo),
                                                       pytest.approx(100 * hi))
    none = measure(AspectMetric("mean", "friendliness"), c)
    assert (none.value, none.n, none.ci_low) == (None, 0, None)
    assert AspectMetric.parse("aspect_top2:wait_time") == AspectMetric("top2", "wait_time")
    assert AspectMetric("mean", "wait_time").value == "aspect:wait_time" and AspectMetric.parse("nps") is None


# -- driver maths ---------------------------------------------------------------------------
pairs = st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10)), min_size=0, max_size=60)


@given(pairs)
def test_pearson_from_sums_equals_the_textbook_correlation(ps) -> None:
    s = PairSums.of(ps)
    xs, ys = [x for x, _ in ps], [y for _, y in ps]
    if len(ps) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        assert pearson(s) is None
        return
    assert pearson(s) == pytest.approx(statistics.correlation(xs, ys), abs=1e-12)
    assert slope(s) == pytest.approx(statistics.linear_regression(xs, ys).slope, abs=1e-9)


@given(pairs, pairs)
def test_pair_sums_are_additive(a, b) -> None:
    assert PairSums.of(a) + PairSums.of(b) == PairSums.of(a + b)


@given(st.floats(-0.999, 0.999), st.integers(4, 10_000))
def test_fisher_interval_contains_r_and_narrows_with_n(r, n) -> None:
    lo, hi = fisher_interval(r, n)
    assert -1 <= lo <= r <= hi <= 1
    z, half = math.atanh(r), 1.959963984540054 / math.sqrt(n - 3)
    assert (lo, hi) == (pytest.approx(math.tanh(z - half)), pytest.approx(math.tanh(z + half)))
    lo2, hi2 = fisher_interval(r, 4 * n)
    assert hi2 - lo2 <= hi - lo + 1e-12
    assert fisher_interval(r, 3) is None


def test_fisher_interval_covers_the_true_correlation() -> None:
    rng = random.Random(3)
    rho, n, covered, runs = 0.5, 40, 0, 400
    for _ in range(runs):
        ps = []
        for _ in range(n):
            x = rng.gauss(0, 1)
            ps.append((x, rho * x + math.sqrt(1 - rho ** 2) * rng.gauss(0, 1)))
        xs, ys = zip(*ps)
        lo, hi = fisher_interval(statistics.correlation(xs, ys), n)
        covered += lo <= rho <= hi
    assert 0.92 <= covered / runs <= 0.98


def test_rank_orders_by_strength_whatever_the_sign() -> None:
    sums = {"up": PairSums.of([(1, 1), (2, 2), (3, 4), (4, 4)]), "down": PairSums.of([(1, 9), (2, 6), (3, 3), (4, 0)]),
            "flat": PairSums.of([(3, 1), (3, 5)]), "weak": PairSums.of([(1, 5), (2, 3), (3, 6), (4, 4)])}
    ranked = rank(sums, min_sample=3)
    assert [d.aspect for d in ranked] == ["down", "up", "weak", "flat"]
    assert ranked[0].r == pytest.approx(-1.0) and ranked[-1].r is None and ranked[0].mean == 2.5


def test_explain_change_is_the_mean_change_times_the_slope() -> None:
    before = {"wait_time": PairSums.of([(4, 9), (5, 10), (4, 8)]), "staff": PairSums.of([(3, 9), (3, 5)])}
    now = {"wait_time": PairSums.of([(1, 2), (2, 4), (3, 6)]), "staff": PairSums.of([(3, 5), (4, 6)])}
    got = explain_change(before, now)
    assert [a.aspect for a in got] == ["wait_time", "staff"]
    w = got[0]
    assert (w.mean_before, w.mean_now, w.change, w.slope) == (pytest.approx(13 / 3), 2.0, pytest.approx(2 - 13 / 3), 2.0)
    assert w.explained == pytest.approx((2 - 13 / 3) * 2.0)
