"""kpi.measures: KPI values on read, and rolling windows."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi import FIELDS, KpiCounts, KpiValue, Metric, add_record, measure, rolling, stats
from kpi.measures import COUNT_METRICS

Z95 = 1.959963984540054


def test_nps_example():
    c = KpiCounts(nps_n=100, promoters=50, passives=30, detractors=20, touchpoints=9)
    v = measure(Metric.nps, c)
    assert v.value == 30.0  # 100 * (50 - 20) / 100
    assert (v.ci_low, v.ci_high) == stats.nps_interval(50, 30, 20)
    assert v.n == 100 and not v.low_sample
    assert v.counts == {"nps_n": 100, "promoters": 50, "passives": 30, "detractors": 20}


def test_csat_top2_and_mean():
    # 10 answers: 8 in the top-2 box, answers summing to 38.
    c = KpiCounts(csat_n=10, csat_top2=8, csat_sum=38)
    v = measure("csat", c)
    assert v.value == 80.0
    low, high = stats.wilson_interval(8, 10)
    assert (v.ci_low, v.ci_high) == (100 * low, 100 * high)
    assert v.low_sample  # 10 < 30
    assert v.counts == {"csat_n": 10, "csat_top2": 8}
    m = measure(Metric.csat_mean, c)
    assert m.value == 3.8  # 38 / 10
    assert m.ci_low is None and m.ci_high is None  # no sum of squares is kept for CSAT


def test_ces_mean_with_t_interval():
    # 2,3,3,4,5,7 -> n 6, sum 24, sumsq 112; mean 4, s^2 3.2, half = t(5) * sqrt(3.2/6)
    v = measure(Metric.ces, KpiCounts(ces_n=6, ces_sum=24, ces_sumsq=112))
    half = 2.5705818356363146 * math.sqrt(3.2 / 6)
    assert v.value == 4.0
    assert v.ci_low == pytest.approx(4 - half, rel=1e-12)
    assert v.ci_high == pytest.approx(4 + half, rel=1e-12)
    one = measure(Metric.ces, KpiCounts(ces_n=1, ces_sum=5, ces_sumsq=25))
    assert one.value == 5.0 and one.ci_low is None and one.low_sample


def test_fcr_survey_and_operational():
    c = KpiCounts(fcr_n=40, fcr_yes=30, tp_first_contact=200, tp_first_contact_resolved=150, touchpoints=500)
    v = measure(Metric.fcr, c)
    assert v.value == 75.0 and v.n == 40  # 30 / 40
    op = measure(Metric.fcr_operational, c)
    assert op.value == 75.0 and op.n == 200  # 150 / 200
    assert op.ci_high - op.ci_low < v.ci_high - v.ci_low  # more data, narrower interval
    assert op.counts == {"tp_first_contact": 200, "tp_first_contact_resolved": 150}


def test_response_rate():
    # 50 of 200 invitations answered; 80 answers in all (30 of them uninvited, or second answers).
    v = measure(Metric.response_rate, KpiCounts(invitations=200, responses=80, invitations_answered=50))
    assert v.value == 25.0 and v.n == 200  # 50 / 200
    low, high = stats.wilson_interval(50, 200)
    assert (v.ci_low, v.ci_high) == (100 * low, 100 * high)
    assert v.counts == {"invitations": 200, "responses": 80, "invitations_answered": 50}
    empty = measure(Metric.response_rate, KpiCounts(responses=3))
    assert empty.value is None and empty.ci_low is None and empty.n == 0
    # The board's case: 137 answers, 23 invitations, 9 of them answered -> 39.1 %, not 595.7 %.
    board = measure(Metric.response_rate, KpiCounts(invitations=23, responses=137, invitations_answered=9))
    assert board.value == 100.0 * 9 / 23 and board.n == 23
    low, high = stats.wilson_interval(9, 23)
    assert (board.ci_low, board.ci_high) == (100 * low, 100 * high)
    nobody = measure(Metric.response_rate, KpiCounts(invitations=10, responses=12))  # all uninvited
    assert nobody.value == 0.0 and nobody.ci_low == 0.0 and nobody.ci_high > 0


def test_counts_metrics():
    c = KpiCounts(touchpoints=7, responses=3)
    assert measure(Metric.volume, c) == KpiValue(Metric.volume, 7.0, 7, None, None, False, {"touchpoints": 7})
    assert measure(Metric.responses, c).value == 3.0
    assert measure(Metric.volume, KpiCounts()).value == 0.0  # a count of nothing is 0, not unknown


@pytest.mark.parametrize("metric", [m for m in Metric if m not in COUNT_METRICS])
def test_empty_is_none(metric):
    v = measure(metric, KpiCounts())
    assert v.value is None and v.ci_low is None and v.ci_high is None
    assert v.n == 0 and v.low_sample


def test_low_sample_threshold():
    c = KpiCounts(nps_n=30, promoters=30)
    assert not measure(Metric.nps, c).low_sample
    assert measure(Metric.nps, c, min_sample=31).low_sample
    assert measure(Metric.nps, c, min_sample=0).low_sample is False


def test_confidence_changes_width():
    c = KpiCounts(csat_n=100, csat_top2=60)
    w90 = measure(Metric.csat, c, confidence=0.90)
    w99 = measure(Metric.csat, c, confidence=0.99)
    assert w99.ci_low < w90.ci_low < 60 < w90.ci_high < w99.ci_high


def test_unknown_metric():
    with pytest.raises(ValueError):
        measure("bogus", KpiCounts())


def test_records_to_kpis_end_to_end():
    records = [
        {"type": "cx.touchpoint.v1", "first_contact": True, "resolved": True},
        {"type": "cx.touchpoint.v1", "first_contact": True, "resolved": False},
        {"type": "cx.survey.invitation.v1", "_answered": True},
        {"type": "cx.survey.invitation.v1"},
        {"type": "cx.survey.response.v1", "nps": 10, "csat": 5, "ces": 2, "fcr": True},
        {"type": "cx.survey.response.v1", "nps": 3, "csat": 2, "ces": None, "fcr": None},
    ]
    c = KpiCounts()
    for r in records:
        add_record(c, r)
    assert measure(Metric.nps, c).value == 0.0  # (1 - 1) / 2
    assert measure(Metric.csat, c).value == 50.0  # 1 of 2 in top-2
    assert measure(Metric.csat_mean, c).value == 3.5  # (5 + 2) / 2
    assert measure(Metric.ces, c).value == 2.0
    assert measure(Metric.fcr, c).value == 100.0
    assert measure(Metric.fcr_operational, c).value == 50.0
    assert measure(Metric.response_rate, c).value == 50.0  # 1 of 2 invitations answered (not 2 answers / 2)
    assert measure(Metric.volume, c).value == 2.0


# ---------------------------------------------------------------------------
# Properties of measure
# ---------------------------------------------------------------------------
@st.composite
def consistent_counts(draw) -> KpiCounts:
    p, pa, d = (draw(st.integers(0, 300)) for _ in range(3))
    csat_n = draw(st.integers(0, 300))
    csat_top2 = draw(st.integers(0, csat_n))
    ces = draw(st.lists(st.integers(1, 7), max_size=50))
    fcr_n = draw(st.integers(0, 300))
    fc = draw(st.integers(0, 300))
    inv = draw(st.integers(0, 300))
    return KpiCounts(
        touchpoints=fc + draw(st.integers(0, 50)), tp_first_contact=fc,
        tp_first_contact_resolved=draw(st.integers(0, fc)), invitations=inv,
        responses=draw(st.integers(0, 500)), invitations_answered=draw(st.integers(0, inv)),
        nps_n=p + pa + d, promoters=p, passives=pa, detractors=d,
        csat_n=csat_n, csat_sum=csat_top2 * 5 + (csat_n - csat_top2) * 2, csat_top2=csat_top2,
        ces_n=len(ces), ces_sum=sum(ces), ces_sumsq=sum(x * x for x in ces),
        fcr_n=fcr_n, fcr_yes=draw(st.integers(0, fcr_n)),
    )


@settings(max_examples=200, deadline=None)
@given(consistent_counts(), st.sampled_from(list(Metric)))
def test_measure_properties(c, metric):
    v = measure(metric, c)
    assert v.metric is metric
    if v.value is None:
        assert v.n == 0
        return
    bounds = {Metric.nps: (-100, 100), Metric.ces: (1, 7), Metric.csat_mean: (2, 5)}.get(metric, (0, 100))
    if metric not in (Metric.volume, Metric.responses):
        assert bounds[0] <= v.value <= bounds[1]
    if v.ci_low is not None:
        assert v.ci_low <= v.ci_high
        if metric is not Metric.nps or v.n >= 2:  # adjusted Wald: see test_kpi_stats
            assert v.ci_low <= v.value <= v.ci_high
    assert set(v.counts) <= set(FIELDS)


# ---------------------------------------------------------------------------
# rolling
# ---------------------------------------------------------------------------
def test_rolling_example():
    b = [KpiCounts(touchpoints=t) for t in (1, 2, 3, 4, 5)]
    out = rolling(b, 3)
    # [1], [1+2], [1+2+3], [2+3+4], [3+4+5]
    assert [c.touchpoints for c in out] == [1, 3, 6, 9, 12]
    assert [c.touchpoints for c in b] == [1, 2, 3, 4, 5]  # inputs untouched
    assert [c.touchpoints for c in rolling(b, 10)] == [1, 3, 6, 10, 15]
    assert rolling([], 3) == []
    with pytest.raises(ValueError):
        rolling(b, 0)


_counts = st.builds(KpiCounts, *[st.integers(0, 10**6) for _ in FIELDS])


@settings(max_examples=200, deadline=None)
@given(st.lists(_counts, max_size=40), st.integers(1, 45))
def test_rolling_equals_naive_sums(buckets, k):
    out = rolling(buckets, k)
    assert len(out) == len(buckets)
    for i, got in enumerate(out):
        naive = KpiCounts()
        for b in buckets[max(0, i - k + 1) : i + 1]:
            naive.add(b)
        assert got == naive
    assert all(o is not b for o, b in zip(out, buckets))


@settings(max_examples=100, deadline=None)
@given(st.lists(_counts, max_size=40))
def test_rolling_k1_is_identity(buckets):
    assert rolling(buckets, 1) == buckets
