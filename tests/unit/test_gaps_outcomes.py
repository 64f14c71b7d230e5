"""Gaps on the touchpoint-outcome KPIs and the positive:negative ratio: lower-is-better metrics are
worse when higher, durations are compared in seconds, the ratio is tested on its positive share and
has a default target of 3:1. Expected p-values are recomputed with scipy."""
from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from gaps.detect import (DEFAULT_TARGETS, GAP_METRICS, GapKind, Thresholds, Window, baseline_gap, compare, segment_gaps,
                         target_gap)
from gaps.evaluate import GapQuery, detect_all
from gaps.live import exact_lower_tail
from kpi.counts import KpiCounts
from kpi.measures import LOWER_IS_BETTER, Metric
from schemas.gaps import GapMetric, TargetIn

WIN = Window(0, 3_600_000)
TH = Thresholds(min_n=30)


def _prop_p(x1: int, n1: int, x2: int, n2: int) -> float:
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return 2 * sps.norm.sf(abs(z))


def test_every_new_metric_has_gaps_and_targets():
    new = {Metric.conversion_rate, Metric.abandonment_rate, Metric.transfer_rate, Metric.wait_time,
           Metric.handle_time, Metric.pos_neg_ratio}
    assert new <= set(GAP_METRICS)
    assert {m.value for m in GAP_METRICS} == {m.value for m in GapMetric}
    assert DEFAULT_TARGETS == {Metric.pos_neg_ratio: 3.0}


def test_a_higher_abandonment_rate_is_a_negative_gap():
    seg = KpiCounts(tp_abandoned_n=200, tp_abandoned=60)  # 30 %
    other = KpiCounts(tp_abandoned_n=800, tp_abandoned=80)  # 10 %
    total = seg + other
    gaps = segment_gaps(Metric.abandonment_rate, {"chat": seg, "phone": other}, dimension="channel", scope={},
                        window=WIN, thresholds=TH, total=total)
    by = {g.segment: g for g in gaps}
    assert by["chat"].gap == pytest.approx(-(30.0 - 10.0))
    assert by["chat"].significant and by["chat"].severity == pytest.approx(20.0 / 100.0)
    assert by["chat"].p_value == pytest.approx(_prop_p(60, 200, 80, 800))
    assert by["phone"].gap == pytest.approx(20.0) and not by["phone"].significant  # better: never flagged
    # Conversion is higher-is-better: the same counts on it flag phone's 10 % instead.
    conv = segment_gaps(Metric.conversion_rate,
                        {"chat": KpiCounts(tp_converted_n=200, tp_converted=60),
                         "phone": KpiCounts(tp_converted_n=800, tp_converted=80)},
                        dimension="channel", scope={}, window=WIN, thresholds=TH)
    assert [g.segment for g in conv if g.significant] == ["phone"]


def _durations(seconds: list[float], prefix: str) -> KpiCounts:
    ds = [math.floor(s * 10 + 0.5) for s in seconds]
    return KpiCounts(**{f"tp_{prefix}_n": len(ds), f"tp_{prefix}_ds": sum(ds), f"tp_{prefix}_ds2": sum(d * d for d in ds)})


def test_a_longer_wait_than_the_baseline_is_a_significant_negative_gap_in_seconds():
    now = [60.0 + (i % 7) for i in range(40)]  # mean 62.9 s
    before = [30.0 + (i % 5) for i in range(120)]  # mean 32.0 s
    g = baseline_gap(Metric.wait_time, _durations(now, "wait"), [_durations(before, "wait")], scope={}, window=WIN,
                     thresholds=TH)
    assert g.observed.value == pytest.approx(sum(now) / 40) and g.reference.value == pytest.approx(32.0)
    assert g.gap == pytest.approx(-(sum(now) / 40 - 32.0))
    assert g.significant and g.severity == pytest.approx((sum(now) / 40 - 32.0) / 600.0)
    assert g.p_value == pytest.approx(sps.ttest_ind(now, before, equal_var=False).pvalue, rel=1e-6)
    t = compare(Metric.wait_time, _durations(now, "wait"), _durations(before, "wait"))
    assert t.difference == pytest.approx(sum(now) / 40 - 32.0)  # seconds, not deciseconds
    shorter = baseline_gap(Metric.handle_time, _durations(before, "handle"), [_durations(now, "handle")], scope={},
                           window=WIN, thresholds=TH)
    assert shorter.gap > 0 and not shorter.significant


def test_target_gaps_by_direction():
    # Transfer rate 25 % of 400 (interval about 21-30 %) against a 15 % target: wholly above, so worse.
    c = KpiCounts(tp_transferred_n=400, tp_transferred=100)
    g = target_gap(Metric.transfer_rate, c, 15.0, scope={}, window=WIN, thresholds=TH)
    assert g.gap == pytest.approx(-10.0) and g.significant and g.severity == pytest.approx(0.10)
    assert not target_gap(Metric.transfer_rate, c, 40.0, scope={}, window=WIN, thresholds=TH).significant
    # Ratio 60:40 = 1.5 against the default 3: the Wilson bound of 0.6 over 100 maps to about 2.05 < 3.
    r = KpiCounts(answers_positive=60, answers_negative=40)
    g = target_gap(Metric.pos_neg_ratio, r, 3.0, scope={}, window=WIN, thresholds=TH)
    assert g.gap == pytest.approx(1.5 - 3.0) and g.significant and g.severity == pytest.approx(0.15)


def test_the_default_ratio_target_applies_where_none_is_set():
    q = GapQuery(metric=Metric.pos_neg_ratio, window="1h", at_ms=WIN.end_ms, kinds=frozenset({GapKind.target}),
                 scope={}, dimension="channel")
    current = {"chat": KpiCounts(answers_positive=60, answers_negative=40),
               "phone": KpiCounts(answers_positive=90, answers_negative=10)}
    gaps = detect_all(q, WIN, current, [], [], TH)
    by = {g.scope.get("channel", ""): g for g in gaps}
    assert {k: g.reference.value for k, g in by.items()} == {"": 3.0, "chat": 3.0, "phone": 3.0}
    assert by["chat"].significant and not by["phone"].significant  # 9:1 beats 3:1
    assert by[""].observed.value == pytest.approx(150 / 50)


def test_the_ratio_is_tested_on_its_positive_share():
    a, b = KpiCounts(answers_positive=60, answers_negative=40), KpiCounts(answers_positive=300, answers_negative=100)
    t = compare(Metric.pos_neg_ratio, a, b)
    assert t.p_value == pytest.approx(_prop_p(60, 100, 300, 400))
    assert t.difference == pytest.approx(100 * (0.6 - 0.75))


def test_exact_tails_follow_the_direction():
    ref = KpiCounts(tp_abandoned_n=10_000, tp_abandoned=1_000)  # 10 %
    cur = KpiCounts(tp_abandoned_n=50, tp_abandoned=12)
    assert exact_lower_tail(Metric.abandonment_rate, cur, ref) == pytest.approx(sps.binom.sf(11, 50, 0.1))
    conv_ref, conv = KpiCounts(tp_converted_n=10_000, tp_converted=1_000), KpiCounts(tp_converted_n=50, tp_converted=1)
    assert exact_lower_tail(Metric.conversion_rate, conv, conv_ref) == pytest.approx(sps.binom.cdf(1, 50, 0.1))
    share = exact_lower_tail(Metric.pos_neg_ratio, KpiCounts(answers_positive=5, answers_negative=15),
                             KpiCounts(answers_positive=750, answers_negative=250))
    assert share == pytest.approx(sps.binom.cdf(5, 20, 0.75))
    assert exact_lower_tail(Metric.wait_time, _durations([1.0] * 5, "wait"), _durations([1.0] * 100, "wait")) is None


@pytest.mark.parametrize(("metric", "value", "ok"), [
    ("wait_time", 45.0, True), ("wait_time", -1.0, False), ("handle_time", 2_592_001.0, False),
    ("pos_neg_ratio", 3.0, True), ("pos_neg_ratio", -0.5, False), ("abandonment_rate", 101.0, False),
    ("conversion_rate", 12.5, True),
])
def test_target_ranges(metric, value, ok):
    body = {"metric": metric, "value": value, "valid_from": "2026-01-01T00:00:00Z"}
    if ok:
        assert TargetIn.model_validate(body).value == value
    else:
        with pytest.raises(ValueError, match="targets lie in"):
            TargetIn.model_validate(body)


def test_lower_is_better_is_the_outcome_costs():
    assert LOWER_IS_BETTER <= set(GAP_METRICS)
