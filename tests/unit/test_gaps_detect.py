"""gaps.detect: exact hand-computed cases, properties (hypothesis) and scipy cross-checks."""
from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gaps.detect import (
    DataStatus,
    GapKind,
    Thresholds,
    Window,
    baseline_gap,
    compare,
    data_gap,
    poisson_cdf,
    segment_gaps,
    target_gap,
)
from gaps.evaluate import GapQuery, applicable_target, detect_all, evaluation_window
from kpi.counts import KpiCounts
from kpi.measures import Metric
from warehouse.gap_queries import TargetRow

W = Window(0, 3_600_000)
TH = Thresholds(confidence=0.95, min_n=30, min_expected_volume=5.0)


def nps_counts(p: int, pa: int, d: int) -> KpiCounts:
    return KpiCounts(nps_n=p + pa + d, promoters=p, passives=pa, detractors=d, responses=p + pa + d)


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _adjusted(p: int, pa: int, d: int) -> tuple[float, float, float]:
    n = p + pa + d + 3
    pp, pd = (p + 0.75) / n, (d + 0.75) / n
    return pp - pd, pp + pd - (pp - pd) ** 2, n


# -- exact examples -----------------------------------------------------------------
def test_segment_gap_nps_40_vs_60_promoters_is_significant_by_hand() -> None:
    segs = {"vip": nps_counts(40, 0, 60), "std": nps_counts(60, 0, 40)}
    gaps = {g.segment: g for g in segment_gaps("nps", segs, dimension="segment", scope={}, window=W, thresholds=TH)}
    vip = gaps["vip"]
    d1, v1, n1 = _adjusted(40, 0, 60)
    d2, v2, n2 = _adjusted(60, 0, 40)
    z = (d1 - d2) / math.sqrt(v1 / n1 + v2 / n2)
    assert vip.kind is GapKind.segment and vip.scope == {"segment": "vip"}
    assert vip.observed.value == -20.0 and vip.observed.n == 100
    assert vip.reference.kind == "rest" and vip.reference.value == 20.0 and vip.reference.n == 100
    assert vip.gap == -40.0
    assert vip.p_value == pytest.approx(2 * _norm_sf(abs(z)), rel=1e-12)
    assert vip.p_value == pytest.approx(0.0042, abs=1e-4)
    assert vip.comparisons == 2 and vip.alpha == pytest.approx(0.025)
    assert vip.significant and vip.severity == pytest.approx(40 / 200)
    # The better segment is not a gap, however significant the difference.
    assert not gaps["std"].significant and gaps["std"].severity == 0.0


def test_segment_gap_csat_40_of_100_vs_60_of_100_by_hand() -> None:
    segs = {"a": KpiCounts(csat_n=100, csat_top2=40), "b": KpiCounts(csat_n=100, csat_top2=60)}
    a = next(g for g in segment_gaps("csat", segs, dimension="team", scope={"channel": "chat"}, window=W,
                                     thresholds=TH) if g.segment == "a")
    z = (0.4 - 0.6) / math.sqrt(0.5 * 0.5 * (2 / 100))
    assert a.scope == {"channel": "chat", "team": "a"}
    assert a.gap == pytest.approx(-20.0)
    assert a.p_value == pytest.approx(2 * _norm_sf(abs(z)), rel=1e-12)  # 0.00468
    assert a.significant


def test_tiny_segments_are_never_significant() -> None:
    segs = {"vip": nps_counts(0, 0, 10), "std": nps_counts(1000, 0, 0)}
    vip = next(g for g in segment_gaps("nps", segs, dimension="segment", scope={}, window=W, thresholds=TH)
               if g.segment == "vip")
    assert vip.p_value < 1e-6  # the test alone would flag it
    assert vip.low_sample and not vip.significant and vip.severity == 0.0


def test_bonferroni_guard_divides_alpha_by_segments_tested() -> None:
    # p ~ 0.03 for one pair: significant alone, not among 3 tested segments.
    segs = {"a": KpiCounts(csat_n=200, csat_top2=100), "b": KpiCounts(csat_n=200, csat_top2=122)}
    alone = {g.segment: g for g in segment_gaps("csat", segs, dimension="segment", scope={}, window=W, thresholds=TH)}
    assert 0.025 < alone["a"].p_value < 0.05 and alone["a"].comparisons == 2
    # Two segments: alpha/2 = 0.025 < p.
    assert not alone["a"].significant
    one = segment_gaps("csat", {"a": segs["a"]}, dimension="segment", scope={}, window=W, thresholds=TH,
                       total=segs["a"] + segs["b"])
    assert one[0].comparisons == 1 and one[0].significant


def test_unknown_segment_counts_in_the_rest_but_is_not_tested() -> None:
    segs = {"": nps_counts(10, 0, 0), "vip": nps_counts(0, 0, 40), "std": nps_counts(40, 0, 0)}
    gaps = segment_gaps("nps", segs, dimension="segment", scope={}, window=W, thresholds=TH)
    assert sorted(g.segment for g in gaps) == ["std", "vip"]
    vip = next(g for g in gaps if g.segment == "vip")
    assert vip.reference.n == 50 and vip.reference.value == 100.0


def test_target_gap_significant_only_when_interval_wholly_below() -> None:
    c = nps_counts(40, 20, 40)  # NPS 0, interval about ±17
    kv_hi = target_gap("nps", c, 10.0, scope={}, window=W, thresholds=TH)
    assert kv_hi.gap == -10.0 and kv_hi.observed.ci_high > 10.0 and not kv_hi.significant
    g = target_gap("nps", c, 30.0, scope={"channel": "chat"}, window=W, thresholds=TH)
    assert g.observed.ci_high < 30.0 and g.significant and g.gap == -30.0
    assert g.reference.kind == "target" and g.reference.value == 30.0 and g.reference.n is None
    assert g.severity == pytest.approx(30 / 200)
    above = target_gap("nps", c, -30.0, scope={}, window=W, thresholds=TH)
    assert above.gap == 30.0 and not above.significant
    small = target_gap("nps", nps_counts(0, 0, 20), 50.0, scope={}, window=W, thresholds=TH)
    assert small.observed.ci_high < 50.0 and small.low_sample and not small.significant
    empty = target_gap("csat", KpiCounts(), 80.0, scope={}, window=W, thresholds=TH)
    assert empty.gap is None and not empty.significant


def test_ces_is_higher_is_better() -> None:
    # mean 3 (hard) vs target 5: a gap of -2.
    c = KpiCounts(ces_n=50, ces_sum=150, ces_sumsq=25 * 4 + 25 * 16)
    g = target_gap("ces", c, 5.0, scope={}, window=W, thresholds=TH)
    assert g.gap == -2.0 and g.significant and g.severity == pytest.approx(2 / 6)


def test_baseline_gap_drop_by_hand() -> None:
    now = KpiCounts(fcr_n=100, fcr_yes=60)
    weeks = [KpiCounts(fcr_n=100, fcr_yes=80)] * 4
    g = baseline_gap("fcr", now, weeks, scope={}, window=W, thresholds=TH)
    pooled = (60 + 320) / 500
    z = (0.6 - 0.8) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 400))
    assert g.reference.value == 80.0 and g.reference.n == 400 and g.reference.periods == 4
    assert g.gap == pytest.approx(-20.0)
    assert g.p_value == pytest.approx(2 * _norm_sf(abs(z)), rel=1e-12)
    assert g.significant
    rise = baseline_gap("fcr", weeks[0], [now] * 4, scope={}, window=W, thresholds=TH)
    assert rise.gap > 0 and not rise.significant
    guarded = baseline_gap("fcr", KpiCounts(fcr_n=100, fcr_yes=70), weeks, scope={}, window=W, thresholds=TH,
                           comparisons=1000)
    assert guarded.p_value < 0.05 and not guarded.significant


def test_data_gap_silent_low_and_ok() -> None:
    base = [KpiCounts(touchpoints=10)] * 4
    silent = data_gap("volume", KpiCounts(), base, scope={"channel": "email"}, window=W, thresholds=TH)
    assert silent.status is DataStatus.silent and silent.significant and silent.severity == 1.0
    assert silent.reference.value == 10.0 and silent.gap == -10.0 and silent.p_value == pytest.approx(math.exp(-10))
    low = data_gap("volume", KpiCounts(touchpoints=3), base, scope={}, window=W, thresholds=TH)
    p3 = sum(math.exp(-10) * 10 ** k / math.factorial(k) for k in range(4))
    assert low.p_value == pytest.approx(p3, rel=1e-12) and low.status is DataStatus.low
    ok = data_gap("volume", KpiCounts(touchpoints=7), base, scope={}, window=W, thresholds=TH)
    assert ok.status is DataStatus.ok and not ok.significant
    quiet = data_gap("responses", KpiCounts(), [KpiCounts(responses=4)] * 4, scope={}, window=W, thresholds=TH)
    assert quiet.status is DataStatus.ok and quiet.low_sample  # expected 4 < 5: not checked
    with pytest.raises(ValueError):
        data_gap("nps", KpiCounts(), base, scope={}, window=W)


# -- properties -----------------------------------------------------------------------
counts3 = st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), counts3, min_size=1))
def test_segment_properties(raw: dict[str, tuple[int, int, int]]) -> None:
    segs = {k: nps_counts(*v) for k, v in raw.items()}
    total = sum((c for c in segs.values()), KpiCounts())
    gaps = segment_gaps("nps", segs, dimension="segment", scope={"channel": "chat"}, window=W, thresholds=TH)
    tested = [g for g in gaps if not g.low_sample]
    for g in gaps:
        assert g.observed.n + g.reference.n == total.nps_n  # rest = total - segment, additively
        assert g.scope == {"channel": "chat", "segment": g.segment}
        if g.significant:
            assert g.observed.n >= TH.min_n and g.reference.n >= TH.min_n
            assert g.gap < 0 and g.p_value < TH.alpha / len(tested)
            assert g.severity == pytest.approx(-g.gap / 200)
        else:
            assert g.severity == 0.0


@settings(max_examples=300, deadline=None)
@given(counts3, st.floats(-100, 100))
def test_target_property(c: tuple[int, int, int], target: float) -> None:
    g = target_gap("nps", nps_counts(*c), target, scope={}, window=W, thresholds=TH)
    n = sum(c)
    if n == 0:
        assert g.gap is None and not g.significant
        return
    assert g.gap == pytest.approx(g.observed.value - target)
    assert g.significant == (n >= TH.min_n and g.observed.ci_high < target)


@settings(max_examples=200, deadline=None)
@given(st.integers(30, 500), st.integers(0, 500), st.integers(1, 5))
def test_same_rate_is_never_a_baseline_gap(n: int, x: int, k: int) -> None:
    assume(x <= n)
    now = KpiCounts(csat_n=n, csat_top2=x)
    g = baseline_gap("csat", now, [now] * k, scope={}, window=W, thresholds=TH)
    assert g.gap == pytest.approx(0.0, abs=1e-9) and not g.significant


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.floats(0.0, 300.0))
def test_poisson_cdf_matches_scipy(k: int, lam: float) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    assert poisson_cdf(k, lam) == pytest.approx(scipy_stats.poisson.cdf(k, lam), rel=1e-9, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.lists(st.integers(0, 200), min_size=1, max_size=6))
def test_data_gap_properties(observed: int, history: list[int]) -> None:
    g = data_gap("volume", KpiCounts(touchpoints=observed), [KpiCounts(touchpoints=h) for h in history],
                 scope={}, window=W, thresholds=TH)
    expected = sum(history) / len(history)
    assert g.reference.value == pytest.approx(expected)
    if g.status is DataStatus.silent:
        assert observed == 0 and expected >= TH.min_expected_volume
    if g.significant:
        assert observed < expected and expected >= TH.min_expected_volume
    else:
        assert g.severity == 0.0


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 200), st.integers(2, 200), st.integers(0, 100), st.integers(0, 100))
def test_compare_uses_the_metric_test(n1: int, n2: int, x1: int, x2: int) -> None:
    assume(x1 <= n1 and x2 <= n2)
    t = compare(Metric.fcr, KpiCounts(fcr_n=n1, fcr_yes=x1), KpiCounts(fcr_n=n2, fcr_yes=x2))
    assert t is not None and t.difference == pytest.approx(100 * (x1 / n1 - x2 / n2))
    assert compare(Metric.ces, KpiCounts(ces_n=1, ces_sum=3, ces_sumsq=9), KpiCounts(ces_n=5, ces_sum=15,
                                                                                       ces_sumsq=45)) is None


# -- evaluate (pure part) ---------------------------------------------------------------
def test_evaluation_window_is_last_complete_one() -> None:
    assert evaluation_window("1h", 7_200_000) == Window(3_600_000, 7_200_000)
    assert evaluation_window("1h", 7_200_001) == Window(3_600_000, 7_200_000)
    assert evaluation_window("1d", 86_400_000 + 5) == Window(0, 86_400_000)


def test_applicable_target_exact_scope_and_latest_valid() -> None:
    ts = [TargetRow("nps", {}, 10, 0, None), TargetRow("nps", {}, 20, 1000, 2000),
          TargetRow("nps", {"channel": "chat"}, 30, 0, None), TargetRow("csat", {}, 80, 0, None)]
    assert applicable_target(ts, Metric.nps, {}, 1500).value == 20
    assert applicable_target(ts, Metric.nps, {}, 2000).value == 10
    assert applicable_target(ts, Metric.nps, {"channel": "chat"}, 5).value == 30
    assert applicable_target(ts, Metric.nps, {"segment": "vip"}, 5) is None


def test_detect_all_sorts_by_severity_and_covers_every_kind() -> None:
    now = {"vip": nps_counts(20, 20, 60), "std": nps_counts(60, 20, 20)}
    hist = [{"vip": nps_counts(60, 20, 20), "std": nps_counts(60, 20, 20), "email": KpiCounts(touchpoints=10)}] * 4
    for h in hist:
        for c in h.values():
            c.touchpoints = c.touchpoints or 50
    for c in now.values():
        c.touchpoints = 50
    kinds = frozenset(GapKind) - {GapKind.gaming}  # gaming needs invitations per touchpoint: tests/unit/test_gaming.py
    q = GapQuery(Metric.nps, "1h", W.end_ms, kinds, {}, "segment")
    gaps = detect_all(q, W, now, hist, [TargetRow("nps", {}, 30, 0, None)], TH)
    sig = [g for g in gaps if g.significant]
    assert {g.kind for g in sig} == kinds
    assert [g.severity for g in gaps] == sorted((g.severity for g in gaps), reverse=True)
    silent = [g for g in sig if g.kind is GapKind.data and g.scope == {"segment": "email"}]
    assert {g.metric for g in silent} == {Metric.volume}
