"""Live gaps and ``gap`` rules on rated aspects (``aspect:<name>``, ``aspect_top2:<name>``): the one live
detector (gaps.live, alerts.gap_rules) on frames whose counts carry aspect counters; exact values from scipy."""
from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from scipy import stats as sps

from alerts.gap_rules import observe_gap_rule
from alerts.rules import Rule
from core import aspects as aspect_config
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS
from gaps.live import (ASPECT_MEAN_MIN_EFFECT, ASPECT_TOP2_MIN_EFFECT, LiveFrame, LiveSpec, default_min_effect,
                       live_kpi_gaps)
from kpi.counts import KpiCounts
from kpi.measures import AspectMetric, Metric

END = 10 * DAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS
ASPECTS = {"wait_time": {"min": 1, "max": 5}, "cleanliness": {"min": 0, "max": 10, "top2_min": 9}}
BASE_HOUR = 10 * DAY_MS + 12 * HOUR_MS  # a complete hour before the recent window's


@pytest.fixture(autouse=True)
def configured():
    aspect_config.configure(ASPECTS)
    yield
    aspect_config.configure({})


def rated(name: str, scores: list[int], top2_min: int) -> KpiCounts:
    return KpiCounts(aspects={name: [len(scores), sum(scores), sum(x * x for x in scores),
                                     sum(x >= top2_min for x in scores)]} if scores else None)


def test_default_min_effect_of_an_aspect_is_a_tenth_of_its_scale_or_8_points_of_its_top2_box() -> None:
    for name, cfg in ASPECTS.items():
        assert default_min_effect(AspectMetric("mean", name)) == pytest.approx(
            ASPECT_MEAN_MIN_EFFECT * (cfg["max"] - cfg["min"]))
        assert default_min_effect(AspectMetric("top2", name)) == ASPECT_TOP2_MIN_EFFECT
    assert LiveSpec(min_effect=0.25).effect(AspectMetric("mean", "wait_time")) == 0.25
    assert default_min_effect(Metric.nps) == 10.0


def test_a_live_drop_of_an_aspect_mean_is_welchs_test_on_the_last_minutes() -> None:
    spec = LiveSpec(lengths_min=(10,), baseline_days=1, alpha=1e-4, min_n=10)
    base = [5, 4, 5, 4, 3, 5, 4, 4, 5, 3] * 30  # 300 answers in the baseline hour
    recent = [1, 2, 1, 2, 2, 1]  # six per minute over the last ten
    minutes = [rated("wait_time", recent, 4)] * 10
    frame = LiveFrame(END, {("vip",): minutes}, {("vip",): {BASE_HOUR: rated("wait_time", base, 4)}})
    (g,) = live_kpi_gaps("aspect:wait_time", frame, spec, {"channel": "chat"}, ("segment",))
    now = recent * 10
    t = sps.ttest_ind(now, base, equal_var=False)
    assert g.metric == AspectMetric("mean", "wait_time") and g.scope == {"channel": "chat", "segment": "vip"}
    assert (g.observed.n, g.reference.n) == (len(now), len(base))
    assert g.gap == pytest.approx(sum(now) / len(now) - sum(base) / len(base))
    assert g.p_value == pytest.approx(float(t.pvalue), rel=1e-6, abs=1e-300)
    assert g.significant and g.severity == pytest.approx(-g.gap / (5 - 1))


def test_a_small_live_top2_drop_is_tested_exactly_against_the_baseline_share() -> None:
    spec = LiveSpec(lengths_min=(10,), baseline_days=1, alpha=1e-4, min_n=10)
    base = [10, 9, 9, 8, 7, 10, 9, 6, 9, 10] * 40  # 400 answers, 70 % in the top-2 box (>= 9)
    minutes = [KpiCounts()] * 8 + [rated("cleanliness", [2, 3, 9, 1, 4, 5, 2, 3, 1, 0], 9)] * 2
    frame = LiveFrame(END, {(): minutes}, {(): {BASE_HOUR: rated("cleanliness", base, 9)}})
    (g,) = live_kpi_gaps(AspectMetric("top2", "cleanliness"), frame, spec)
    x, n, share = 2, 20, sum(v >= 9 for v in base) / len(base)
    assert g.observed.n == n and g.gap == pytest.approx(100 * (x / n - share))
    assert g.p_value == pytest.approx(float(sps.binom.cdf(x, n, share)), rel=1e-9)  # n < exact_below
    assert g.significant is (g.p_value < 1e-4)
    # A drop smaller than the minimum effect (8 points) is never significant.
    small = [rated("cleanliness", [10] * 13 + [1] * 7, 9)] * 10  # 65 % vs 70 %
    (h,) = live_kpi_gaps(AspectMetric("top2", "cleanliness"), LiveFrame(END, {(): small}, frame.hours), spec)
    assert h.gap == pytest.approx(-5.0) and not h.significant and h.severity == 0.0


def test_an_unconfigured_aspect_is_refused() -> None:
    frame = LiveFrame(END, {}, {})
    with pytest.raises(ValueError, match="not configured"):
        live_kpi_gaps("aspect:legacy", frame)


def test_baseline_gap_rules_watch_aspects_and_fire_on_a_live_drop() -> None:
    rule = Rule(id="g", name="G", metric="aspect:wait_time", condition="gap", min_n=10,
                gap={"kind": "baseline", "dimensions": ["segment"], "lengths_min": [10], "baseline_days": 1})
    base = [5, 4, 4, 5, 3] * 60
    frame = LiveFrame(END, {("vip",): [rated("wait_time", [1, 2, 1], 4)] * 10, ("std",): [rated("wait_time", [5, 4, 4], 4)] * 10},
                      {k: {BASE_HOUR: rated("wait_time", base, 4)} for k in (("vip",), ("std",))})
    out = {tuple(r.scope.items()): (obs, g) for r, obs, g in observe_gap_rule(rule, frame)}
    vip, std = out[(("segment", "vip"),)], out[(("segment", "std"),)]
    assert vip[0].breach and vip[0].value == pytest.approx(4 / 3) and vip[0].n == 30
    assert not std[0].breach and std[0].value == pytest.approx(13 / 3)
    assert math.isclose(vip[1].severity, (sum(base) / len(base) - 4 / 3) / 4)
    # Data gap rules count volumes: an aspect is refused there, and an unconfigured aspect everywhere.
    for metric, kind, msg in (("aspect:wait_time", "data", "data gap rule watches one of"),
                              ("aspect:legacy", "baseline", "unknown aspect")):
        with pytest.raises(ValidationError, match=msg):
            Rule(id="g", name="G", metric=metric, condition="gap", gap={"kind": kind})
