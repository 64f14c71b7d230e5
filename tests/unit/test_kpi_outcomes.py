"""kpi.counts and kpi.measures: touchpoint outcomes (operational KPIs) and the positive:negative ratio.

Expected values are worked out by hand in the comments, or recomputed here from the raw answers
with scipy (independent of ``kpi.stats``).
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from kpi.counts import MAX_DURATION_S, KpiCounts, add_record, contribution
from kpi.measures import LOWER_IS_BETTER, Metric, measure, ratio_interval, sample_size, sample_size_counter
from schemas.records import EventType

TP = EventType.touchpoint.value
SR = EventType.survey_response.value

OUTCOME_FIELDS = ("tp_converted_n", "tp_converted", "tp_abandoned_n", "tp_abandoned", "tp_transferred_n",
                  "tp_transferred", "tp_wait_n", "tp_wait_ds", "tp_wait_ds2", "tp_handle_n", "tp_handle_ds",
                  "tp_handle_ds2")


def tp(wait_s=None, handle_s=None, converted=None, abandoned=None, transferred=None, **extra) -> dict:
    return {"type": TP, "wait_s": wait_s, "handle_s": handle_s, "converted": converted, "abandoned": abandoned,
            "transferred": transferred, "first_contact": None, "resolved": None, **extra}


def answer(nps=None, csat=None, ces=None, fcr=None) -> dict:
    return {"type": SR, "nps": nps, "csat": csat, "ces": ces, "fcr": fcr}


def outcomes(c: KpiCounts) -> dict[str, int]:
    return {f: getattr(c, f) for f in OUTCOME_FIELDS}


# -- counters: hand-computed ------------------------------------------------------------------
def test_a_touchpoint_with_every_outcome():
    # 12.3 s -> 123 ds (123² = 15129); 250 s -> 2500 ds (2500² = 6250000).
    c = contribution(tp(12.3, 250.0, converted=True, abandoned=False, transferred=True))
    assert c.touchpoints == 1
    assert outcomes(c) == {
        "tp_converted_n": 1, "tp_converted": 1, "tp_abandoned_n": 1, "tp_abandoned": 0,
        "tp_transferred_n": 1, "tp_transferred": 1, "tp_wait_n": 1, "tp_wait_ds": 123, "tp_wait_ds2": 15129,
        "tp_handle_n": 1, "tp_handle_ds": 2500, "tp_handle_ds2": 6250000,
    }
    assert type(c.tp_wait_ds) is int and type(c.tp_handle_ds2) is int


def test_unknown_flags_count_nowhere_and_false_counts_in_n_only():
    assert outcomes(contribution(tp())) == dict.fromkeys(OUTCOME_FIELDS, 0)
    c = contribution(tp(converted=False, abandoned=False, transferred=False))
    assert outcomes(c) == dict.fromkeys(OUTCOME_FIELDS, 0) | {
        "tp_converted_n": 1, "tp_abandoned_n": 1, "tp_transferred_n": 1}


def test_an_abandoned_contact_has_a_wait_but_no_handle_time():
    c = contribution(tp(wait_s=95.0, handle_s=0.0, abandoned=True))
    assert (c.tp_abandoned_n, c.tp_abandoned) == (1, 1)
    assert (c.tp_wait_n, c.tp_wait_ds, c.tp_wait_ds2) == (1, 950, 902500)
    assert (c.tp_handle_n, c.tp_handle_ds, c.tp_handle_ds2) == (0, 0, 0)


@pytest.mark.parametrize(("seconds", "ds"), [
    (0.0, 0), (0.04, 0), (0.05, 1), (0.15, 2), (0.25, 3), (0.26, 3), (1.0, 10), (59.99, 600), (12.34, 123),
    (float(MAX_DURATION_S), MAX_DURATION_S * 10),
])
def test_durations_are_rounded_to_deciseconds_half_up(seconds, ds):
    # Half up: 0.05 * 10 + 0.5 = 1.0 -> 1, 0.25 -> 3, 0.04 -> 0.9 -> 0; 0.15 * 10 = 1.5000000000000002 -> 2.
    c = contribution(tp(wait_s=seconds))
    assert (c.tp_wait_ds, c.tp_wait_ds2) == (ds, ds * ds)


@pytest.mark.parametrize("record", [
    tp(wait_s=-0.1), tp(wait_s=MAX_DURATION_S + 0.1), tp(handle_s=1e300), tp(wait_s=5.0, handle_s=float("inf")),
])
def test_a_duration_out_of_bounds_raises_and_leaves_target_untouched(record):
    target = KpiCounts(touchpoints=2, tp_wait_n=1, tp_wait_ds=7)
    before = target.copy()
    with pytest.raises(ValueError, match="outside 0..2592000 s"):
        add_record(target, record)
    assert target == before


# -- positive / negative experiences ------------------------------------------------------------
@pytest.mark.parametrize(("scores", "kind"), [
    ({"nps": 10}, "positive"), ({"nps": 9}, "positive"), ({"nps": 8}, None), ({"nps": 7}, None),
    ({"nps": 6}, "negative"), ({"nps": 0}, "negative"),
    ({"csat": 5}, "positive"), ({"csat": 4}, "positive"), ({"csat": 3}, None), ({"csat": 2}, "negative"),
    ({"csat": 1}, "negative"),
    ({"ces": 7}, "positive"), ({"ces": 6}, "positive"), ({"ces": 5}, None), ({"ces": 4}, None),
    ({"ces": 3}, "negative"), ({"ces": 1}, "negative"),
    ({"fcr": True}, None), ({"fcr": False}, None),
    ({"nps": 10, "csat": 5, "ces": 7}, "positive"),  # three positive scores: one experience
    ({"nps": 8, "csat": 4}, "positive"),  # a passive and a positive
    ({"nps": 10, "csat": 1}, "negative"),  # mixed: negative wins
    ({"nps": 9, "csat": 5, "ces": 2}, "negative"),
    ({"nps": 7, "csat": 3, "ces": 5, "fcr": True}, None),
])
def test_each_answer_is_one_experience_at_most(scores, kind):
    c = contribution(answer(**scores))
    assert (c.answers_positive, c.answers_negative) == (int(kind == "positive"), int(kind == "negative"))


def test_touchpoints_and_invitations_are_no_experience():
    for record in (tp(converted=True), {"type": EventType.survey_invitation.value, "_answered": True}):
        c = contribution(record)
        assert (c.answers_positive, c.answers_negative) == (0, 0)


# -- property: counters from records == counters merged by add -----------------------------------
_flag = st.sampled_from([True, False, None])
_seconds = st.none() | st.floats(0, MAX_DURATION_S, allow_nan=False) | st.integers(0, 3600).map(lambda i: i / 10)
_records = st.one_of(
    st.builds(tp, _seconds, _seconds, _flag, _flag, _flag),
    st.builds(answer, st.none() | st.integers(0, 10), st.none() | st.integers(1, 5), st.none() | st.integers(1, 7),
              _flag),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_records, max_size=15), max_size=6))
def test_counters_of_all_records_equal_the_merge_of_the_parts(parts):
    direct = KpiCounts()
    for part in parts:
        for r in part:
            add_record(direct, r)
    merged = KpiCounts()
    for part in parts:
        sub = KpiCounts()
        for r in part:
            sub.add(contribution(r))
        merged.add(sub)
    assert merged == direct
    records = [r for part in parts for r in part]
    tps = [r for r in records if r["type"] == TP]
    # Each counter against its definition, recomputed from the raw records.
    assert direct.tp_converted_n == sum(r["converted"] is not None for r in tps)
    assert direct.tp_converted == sum(r["converted"] is True for r in tps)
    assert direct.tp_abandoned == sum(r["abandoned"] is True for r in tps)
    assert direct.tp_transferred_n == sum(r["transferred"] is not None for r in tps)
    waits = [math.floor(r["wait_s"] * 10 + 0.5) for r in tps if r["wait_s"] is not None]
    handles = [math.floor(r["handle_s"] * 10 + 0.5) for r in tps if r["handle_s"] is not None and r["abandoned"] is not True]
    assert (direct.tp_wait_n, direct.tp_wait_ds, direct.tp_wait_ds2) == (
        len(waits), sum(waits), sum(w * w for w in waits))
    assert (direct.tp_handle_n, direct.tp_handle_ds, direct.tp_handle_ds2) == (
        len(handles), sum(handles), sum(h * h for h in handles))
    # Retracting everything comes back to zero.
    for r in records:
        add_record(direct, r, sign=-1)
    assert direct.is_zero()


# -- measures: exact values -----------------------------------------------------------------------
def _wilson(x: int, n: int, z: float = sps.norm.ppf(0.975)) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("metric", "flag"), [
    (Metric.conversion_rate, "converted"), (Metric.abandonment_rate, "abandoned"),
    (Metric.transfer_rate, "transferred"),
])
def test_outcome_rates(metric, flag):
    c = KpiCounts()
    for i in range(40):  # 40 stating the flag, 13 true; 5 more not stating it
        add_record(c, tp(**{flag: i % 3 == 0}))
    for _ in range(5):
        add_record(c, tp())
    v = measure(metric, c)
    assert v.n == 40 and v.value == pytest.approx(100 * 14 / 40)  # i % 3 == 0 for 14 of 0..39
    low, high = _wilson(14, 40)
    assert (v.ci_low, v.ci_high) == (pytest.approx(100 * low), pytest.approx(100 * high))
    assert not v.low_sample and len(v.counts) == 2


@pytest.mark.parametrize(("metric", "field"), [(Metric.wait_time, "wait_s"), (Metric.handle_time, "handle_s")])
def test_duration_means_are_in_seconds_with_a_t_interval(metric, field):
    seconds = [12.5, 30.0, 45.2, 8.0, 61.3, 20.0, 33.3]
    c = KpiCounts()
    for s in seconds:
        add_record(c, tp(**{field: s}))
    add_record(c, tp(wait_s=None, handle_s=None))
    v = measure(metric, c)
    mean = sum(seconds) / len(seconds)
    half = sps.t.ppf(0.975, len(seconds) - 1) * sps.sem(seconds)
    assert v.n == 7 and v.value == pytest.approx(mean, rel=1e-12)
    assert (v.ci_low, v.ci_high) == (pytest.approx(mean - half, rel=1e-12), pytest.approx(mean + half, rel=1e-12))
    assert v.low_sample  # 7 < 30


def test_a_duration_interval_never_goes_below_zero():
    c = KpiCounts()
    for s in (0.0, 0.0, 0.0, 100.0):
        add_record(c, tp(wait_s=s))
    v = measure(Metric.wait_time, c)
    assert v.value == 25.0 and v.ci_low == 0.0
    assert v.ci_high == pytest.approx(25 + sps.t.ppf(0.975, 3) * sps.sem([0, 0, 0, 100]))
    single = measure(Metric.handle_time, contribution(tp(handle_s=4.0)))
    assert (single.value, single.n, single.ci_low, single.ci_high) == (4.0, 1, None, None)


def test_pos_neg_ratio_with_the_wilson_interval_mapped():
    # 15 positive for 5 negative (seed 002's leaders): 3.0.
    c = KpiCounts(answers_positive=15, answers_negative=5, responses=27)
    v = measure(Metric.pos_neg_ratio, c)
    assert (v.value, v.n, v.low_sample) == (3.0, 20, True)
    low, high = _wilson(15, 20)
    assert (v.ci_low, v.ci_high) == (pytest.approx(low / (1 - low)), pytest.approx(high / (1 - high)))
    assert v.ci_low < 3.0 < v.ci_high
    assert v.counts == {"answers_positive": 15, "answers_negative": 5, "sig_positive": 0, "sig_negative": 0}


def test_pos_neg_ratio_without_negatives_or_answers():
    v = measure(Metric.pos_neg_ratio, KpiCounts(answers_positive=40))
    low, _ = _wilson(40, 40)
    assert (v.value, v.n, v.ci_high, v.low_sample) == (None, 40, None, False)
    assert v.ci_low == pytest.approx(low / (1 - low))
    empty = measure(Metric.pos_neg_ratio, KpiCounts(responses=3))
    assert (empty.value, empty.n, empty.ci_low, empty.ci_high) == (None, 0, None, None)
    zero = measure(Metric.pos_neg_ratio, KpiCounts(answers_negative=4))
    assert (zero.value, zero.ci_low) == (0.0, 0.0) and zero.ci_high == pytest.approx(
        _wilson(0, 4)[1] / (1 - _wilson(0, 4)[1]))


def test_sample_sizes_and_directions():
    c = KpiCounts(answers_positive=3, answers_negative=2, tp_wait_n=9)
    assert sample_size(Metric.pos_neg_ratio, c) == 5 and sample_size(Metric.wait_time, c) == 9
    assert sample_size_counter(Metric.transfer_rate) == "tp_transferred_n"
    with pytest.raises(ValueError):
        sample_size_counter(Metric.pos_neg_ratio)
    assert LOWER_IS_BETTER == {Metric.abandonment_rate, Metric.transfer_rate, Metric.wait_time, Metric.handle_time,
                               Metric.signal_negative_share}
    assert ratio_interval(0, 1)[0] == 0.0
