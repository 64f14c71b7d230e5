"""Live gap detection (gaps.live) and gap rules (alerts.gap_rules): exact values, computed independently."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts.gap_rules import observe_gap_rule
from alerts.rules import Rule
from alerts.state import AlertState, Observation, Status, step
from gaps.detect import DataStatus
from gaps.live import LiveFrame, LiveSpec, expected_volume, live_data_gaps, live_kpi_gaps, read_span
from kpi.counts import KpiCounts
from kpi.measures import Metric
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS

END = 10 * DAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS  # a Sunday, 14:30 UTC


def nps(p: int, pa: int, d: int) -> KpiCounts:
    return KpiCounts(responses=p + pa + d, nps_n=p + pa + d, promoters=p, passives=pa, detractors=d)


def tp(n: int) -> KpiCounts:
    return KpiCounts(touchpoints=n)


def _adjusted(p: float, pa: float, d: float) -> tuple[float, float, float]:
    """MeasuringU adjusted-Wald NPS: +0.75 promoters and detractors, n + 3."""
    n = p + pa + d + 3
    pp, pd = (p + 0.75) / n, (d + 0.75) / n
    return pp - pd, pp + pd - (pp - pd) ** 2, n


def _nps_p(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    d1, v1, n1 = _adjusted(*a)
    d2, v2, n2 = _adjusted(*b)
    z = (d1 - d2) / math.sqrt(v1 / n1 + v2 / n2)
    return math.erfc(abs(z) / math.sqrt(2))


def test_read_span_covers_the_longest_length_and_the_baseline_days():
    spec = LiveSpec(lengths_min=(10, 60), baseline_days=3)
    (m0, m1), (h0, h1) = read_span(END, spec)
    assert (m0, m1) == (END - 60 * MINUTE_MS, END)
    assert h1 == 10 * DAY_MS + 15 * HOUR_MS
    assert h0 == 10 * DAY_MS + 13 * HOUR_MS - 3 * DAY_MS


def _multinomial_lower_tail(n: int, s: int, pp: float, pd: float) -> float:
    """P(P - D <= s) by enumerating every (P, D) split of n answers."""
    pa = 1 - pp - pd
    return math.fsum(
        math.comb(n, p) * math.comb(n - p, d) * pp ** p * pd ** d * pa ** (n - p - d)
        for p in range(n + 1) for d in range(n - p + 1) if p - d <= s)


def test_a_collapse_in_one_scope_is_found_at_its_most_significant_length():
    # exact_below=0: large-sample z tests only (the exact small-sample tail is checked below).
    spec = LiveSpec(lengths_min=(10, 30), baseline_days=2, alpha=1e-4, min_n=20, exact_below=0)
    # Baseline: complete hours before the hour the recent window starts in (14:00 = 14:30 - 30 min).
    hours = {("a",): {10 * DAY_MS + 12 * HOUR_MS: nps(500, 300, 200),
                      10 * DAY_MS + 14 * HOUR_MS: nps(0, 0, 900)},  # inside the recent window's hour: not baseline
             ("b",): {10 * DAY_MS + 12 * HOUR_MS: nps(500, 300, 200)}}
    # Last 30 minutes: a collapse in the last 10 only for "a"; "b" stays as usual.
    minutes_a = [nps(1, 1, 0)] * 20 + [nps(0, 1, 3)] * 10
    minutes_b = [nps(2, 1, 1)] * 30
    frame = LiveFrame(END, {("a",): minutes_a, ("b",): minutes_b}, hours)
    gaps = live_kpi_gaps(Metric.nps, frame, spec, scope={"channel": "chat"}, dimensions=("team",))
    assert [g.scope for g in gaps] == [{"channel": "chat", "team": "a"}, {"channel": "chat", "team": "b"}]
    a, b = gaps
    # Pairs tested (both sides n >= 20): a/10 (40), a/30 (80), b/10 (40), b/30 (120) -> m = 4.
    assert a.comparisons == 4 and a.alpha == pytest.approx(1e-4 / 4)
    p10 = _nps_p((0, 10, 30), (500, 300, 200))
    p30 = _nps_p((20, 30, 30), (500, 300, 200))
    assert p10 < p30
    assert a.window.start_ms == END - 10 * MINUTE_MS and a.observed.n == 40
    assert a.p_value == pytest.approx(p10, rel=1e-9, abs=0)
    assert a.gap == pytest.approx(100 * (0 - 30) / 40 - 100 * (500 - 200) / 1000)
    assert a.significant and a.severity == pytest.approx(-a.gap / 200)
    assert not b.significant and b.severity == 0.0


def test_a_significant_but_small_drop_is_not_a_gap():
    spec = LiveSpec(lengths_min=(60,), baseline_days=1, alpha=0.05, min_n=20, min_effect=10.0)
    hours = {(): {END - 3 * HOUR_MS: nps(50_000, 30_000, 20_000)}}  # NPS 30
    minutes = [nps(40, 35, 25)] * 60  # NPS 15 on 6,000 answers: p ~ 0, gap -15
    g, = live_kpi_gaps(Metric.nps, LiveFrame(END, {(): minutes}, hours), spec)
    assert g.significant and g.gap == pytest.approx(-15.0)
    g2, = live_kpi_gaps(Metric.nps, LiveFrame(END, {(): minutes}, hours), LiveSpec(
        lengths_min=(60,), baseline_days=1, alpha=0.05, min_n=20, min_effect=20.0))
    assert not g2.significant and g2.severity == 0.0 and g2.p_value == g.p_value


def test_too_few_answers_are_never_significant():
    spec = LiveSpec(lengths_min=(10,), baseline_days=1, alpha=0.5, min_n=20)
    hours = {(): {END - 3 * HOUR_MS: nps(900, 50, 50)}}
    g, = live_kpi_gaps(Metric.nps, LiveFrame(END, {(): [nps(0, 0, 1)] * 10}, hours), spec)
    assert g.low_sample and not g.significant and g.observed.n == 10


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=60, max_size=60),
       st.integers(1, 50), st.floats(0, 30))
def test_significant_gaps_are_drops_of_at_least_min_effect(buckets, scale, min_effect):
    spec = LiveSpec(lengths_min=(5, 20, 60), baseline_days=1, alpha=0.2, min_n=5, min_effect=min_effect)
    hours = {(): {END - 3 * HOUR_MS: nps(10 * scale, 5 * scale, 5 * scale)}}
    g, = live_kpi_gaps(Metric.nps, LiveFrame(END, {(): [nps(*b) for b in buckets]}, hours), spec)
    if g.significant:
        assert g.gap is not None and g.gap <= -min_effect
        assert g.p_value is not None and g.p_value < g.alpha
        assert g.observed.n >= spec.min_n


def test_expected_volume_is_the_pro_rata_mean_of_the_same_span_on_previous_days():
    # Window 14:20-14:30 on each previous day lies inside hour 14:00: 10 minutes of that hour.
    h1 = 9 * DAY_MS + 14 * HOUR_MS
    h2 = 8 * DAY_MS + 14 * HOUR_MS
    hours = {h1: tp(600), h2: tp(1200)}
    assert expected_volume(Metric.volume, hours, END - 10 * MINUTE_MS, END, [1, 2]) == pytest.approx(
        (600 * 10 / 60 + 1200 * 10 / 60) / 2)
    # A window straddling two hours: 13:50-14:10 the day before.
    start = 9 * DAY_MS + 13 * HOUR_MS + 50 * MINUTE_MS
    hours = {9 * DAY_MS + 13 * HOUR_MS: tp(300), h1: tp(600)}
    assert expected_volume(Metric.volume, hours, start + DAY_MS, start + DAY_MS + 20 * MINUTE_MS, [1]) == \
        pytest.approx(300 * 10 / 60 + 600 * 10 / 60)


def test_a_silent_feed_and_a_quiet_one():
    spec = LiveSpec(lengths_min=(5, 15), baseline_days=2, alpha=1e-6, max_volume_ratio=0.3, min_expected_volume=20)
    hist = {9 * DAY_MS + 14 * HOUR_MS: tp(1200), 8 * DAY_MS + 14 * HOUR_MS: tp(1200)}
    minutes = {("chat",): [tp(20)] * 50 + [tp(0)] * 10,  # silent for 10 minutes
               ("phone",): [tp(9)] * 60,  # 45 % of usual: a quiet day, not a gap
               ("web",): [tp(20)] * 45 + [tp(1)] * 15}  # 15 in 15 min vs 300 expected, ratio < 0.3
    frame = LiveFrame(END, minutes, {k: hist for k in minutes}, first_data_ms=0)
    gaps = {g.scope["channel"]: g for g in live_data_gaps(Metric.volume, frame, spec, dimensions=("channel",))}
    chat, phone, web = gaps["chat"], gaps["phone"], gaps["web"]
    # Expected: 20/min on both previous days; 3 channels x 2 lengths tested.
    assert chat.status is DataStatus.silent and chat.observed.n == 0
    assert chat.reference.value == pytest.approx(100.0) and chat.window.start_ms == END - 5 * MINUTE_MS
    assert chat.p_value == pytest.approx(math.exp(-100.0), rel=1e-9)
    assert chat.alpha == pytest.approx(1e-6 / 6) and chat.severity == pytest.approx(1.0)
    assert phone.status is DataStatus.ok and not phone.significant
    # Both lengths are low (5 vs 100, 15 vs 300); 15 minutes is the more significant.
    assert web.status is DataStatus.low and web.significant
    assert web.observed.n == 15 and web.window.start_ms == END - 15 * MINUTE_MS
    assert web.p_value == pytest.approx(math.fsum(
        math.exp(k * math.log(300.0) - 300.0 - math.lgamma(k + 1)) for k in range(16)), rel=1e-9)


def test_no_history_means_no_data_gap():
    spec = LiveSpec(lengths_min=(5,), baseline_days=7)
    frame = LiveFrame(END, {(): [tp(0)] * 5}, {(): {END - HOUR_MS: tp(100)}}, first_data_ms=END - HOUR_MS)
    g, = live_data_gaps(Metric.volume, frame, spec)
    assert g.low_sample and not g.significant and g.reference.periods == 0


# -- gap rules -------------------------------------------------------------------------
def _gap_rule(**kw) -> Rule:
    body = {"id": "r1", "name": "NPS gaps per team", "metric": "nps", "condition": "gap",
            "gap": {"kind": "baseline", "dimensions": ["team"], "lengths_min": [10, 30], "baseline_days": 2,
                    "alpha": 1e-4}, "min_n": 20, "scope": {"channel": "chat"}}
    body.update(kw)
    return Rule.model_validate(body)


@pytest.mark.parametrize("body, message", [
    ({"condition": "gap"}, "needs `gap`"),
    ({"condition": "below"}, "needs a threshold"),
    ({"condition": "below", "threshold": 10, "gap": {"kind": "baseline"}}, "only for condition `gap`"),
    ({"condition": "gap", "gap": {"kind": "data"}}, "watches one of"),
    ({"condition": "gap", "threshold": 3, "gap": {"kind": "baseline"}}, "no threshold"),
    ({"condition": "gap", "scope": {"team": "a"}, "gap": {"kind": "baseline", "dimensions": ["team"]}},
     "both fixed in scope and fanned out"),
    ({"condition": "gap", "gap": {"kind": "baseline", "dimensions": ["colour"]}}, "unknown dimension"),
])
def test_rule_validation(body, message):
    with pytest.raises(ValidationError, match=message):
        Rule.model_validate({"id": "x", "name": "x", "metric": "nps", **body})


def test_a_gap_rule_is_one_alert_per_scope():
    rule = _gap_rule()
    hours = {("a",): {10 * DAY_MS + 12 * HOUR_MS: nps(500, 300, 200)},
             ("b",): {10 * DAY_MS + 12 * HOUR_MS: nps(500, 300, 200)},
             ("c",): {10 * DAY_MS + 12 * HOUR_MS: nps(5, 3, 2)}}
    frame = LiveFrame(END, {("a",): [nps(0, 1, 3)] * 30, ("b",): [nps(2, 1, 1)] * 30}, hours)
    observed = {r.scope["team"]: (r, obs, g) for r, obs, g in observe_gap_rule(rule, frame)}
    assert set(observed) == {"a", "b", "c"}
    (ra, oa, ga), (rb, ob, _), (rc, oc, _) = observed["a"], observed["b"], observed["c"]
    assert ra.scope == {"channel": "chat", "team": "a"} and ra.id == rule.id
    assert len({ra.fingerprint(), rb.fingerprint(), rc.fingerprint(), rule.fingerprint()}) == 4
    assert oa.breach is True and oa.value == ga.observed.value and oa.n == ga.observed.n
    assert ob.breach is False
    assert oc.value is None  # no recent answers, small baseline: not judged, the alert keeps its state
    # The state machine takes the detector's verdict, below min_n too.
    state, notes = step(ra, AlertState(), oa, END)
    assert state.status is Status.firing and [n.kind.value for n in notes] == ["firing"]
    state2, notes2 = step(ra, state, Observation(0.0, 0, breach=False), END + MINUTE_MS)
    assert state2.status is Status.resolved and [n.kind.value for n in notes2] == ["resolved"]
    kept, none = step(ra, state, Observation(None, 0), END + MINUTE_MS)
    assert kept == state and none == []


def test_a_count_rule_fires_on_silence_whatever_min_n():
    rule = Rule.model_validate({"id": "quiet", "name": "No contacts", "metric": "volume", "condition": "below",
                                "threshold": 1, "window": "1m", "min_n": 30})
    state, notes = step(rule, AlertState(), Observation(0.0, 0), END)
    assert state.status is Status.firing and [n.kind.value for n in notes] == ["firing"]
    answers = rule.model_copy(update={"metric": Metric.nps})
    assert step(answers, AlertState(), Observation(0.0, 0), END) == (AlertState(), [])


def test_small_samples_get_the_exact_tail_against_the_baseline_shares():
    spec = LiveSpec(lengths_min=(10,), baseline_days=1, alpha=1e-3, min_n=8)
    hours = {(): {END - 3 * HOUR_MS: nps(500, 300, 200)}}
    minutes = [nps(0, 0, 0)] * 5 + [nps(0, 1, 1)] * 5  # 5 passives, 5 detractors: NPS -50 on 10 answers
    g, = live_kpi_gaps(Metric.nps, LiveFrame(END, {(): minutes}, hours), spec)
    exact = _multinomial_lower_tail(10, -5, 0.5, 0.2)
    assert g.p_value == pytest.approx(exact, rel=1e-9, abs=0)
    # The normal approximation would claim far more: that is why small samples use the exact tail.
    assert _nps_p((0, 5, 5), (500, 300, 200)) < exact / 10
    assert g.significant is (exact < 1e-3) and g.comparisons == 1
    # CSAT top-2-box: 1 satisfied of 12 against 70 %: the binomial lower tail.
    csat = KpiCounts(csat_n=12, csat_top2=1)
    ref = KpiCounts(csat_n=1000, csat_top2=700)
    g, = live_kpi_gaps(Metric.csat, LiveFrame(END, {(): [csat] + [KpiCounts()] * 9},
                                              {(): {END - 3 * HOUR_MS: ref}}), spec)
    assert g.p_value == pytest.approx(math.fsum(math.comb(12, k) * 0.7 ** k * 0.3 ** (12 - k) for k in range(2)),
                                      rel=1e-9, abs=0)
    assert g.significant and g.severity == pytest.approx((70 - 100 / 12) / 100)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.floats(0.05, 0.6), st.floats(0.05, 0.35))
def test_exact_nps_tail_matches_enumeration(p, pa, d, pp, pd):
    from kpi.stats import nps_lower_tail

    n = p + pa + d
    assert nps_lower_tail(p, pa, d, pp, pd) == pytest.approx(_multinomial_lower_tail(n, p - d, pp, pd), rel=1e-9,
                                                              abs=1e-300)


def test_the_live_spec_of_the_settings():
    from core.domain_settings import GapSettings

    spec = LiveSpec.from_settings(GapSettings(live_lengths_min=[5, 15], live_alpha=1e-3, live_min_n=12,
                                              min_expected_volume=80))
    assert (spec.lengths_min, spec.alpha, spec.min_n, spec.min_expected_volume) == ((5, 15), 1e-3, 12, 80.0)
    assert LiveSpec.from_settings(GapSettings()).min_expected_volume == LiveSpec().min_expected_volume == 50.0
