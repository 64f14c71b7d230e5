"""Rated aspects as gap and alert-rule metrics: parsing, validation against the configured aspects,
the two-sample tests (against scipy) and the severity scale."""
from __future__ import annotations

import statistics

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats as sps

from alerts.rules import Rule
from api.params import gap_metric
from core import aspects as aspect_config
from gaps.compare import two_sample_test
from gaps.detect import Window, gap_scale, segment_gaps
from kpi.counts import KpiCounts
from kpi.measures import AspectMetric, Metric

ASPECTS = {"wait_time": {"min": 1, "max": 5}, "cleanliness": {"min": 0, "max": 10, "top2_min": 9}}
RULE = {"id": "r", "name": "R", "condition": "below", "threshold": 3.0}


@pytest.fixture(autouse=True)
def configured():
    aspect_config.configure(ASPECTS)
    yield
    aspect_config.configure({})


def _counts(name: str, scores: list[int], top2_min: int) -> KpiCounts:
    return KpiCounts(aspects={name: [len(scores), sum(scores), sum(x * x for x in scores),
                                     sum(x >= top2_min for x in scores)]})


def test_gap_metric_parses_kpis_and_configured_aspects_only() -> None:
    assert gap_metric("nps") is Metric.nps
    assert gap_metric("aspect:wait_time") == AspectMetric("mean", "wait_time")
    assert gap_metric("aspect_top2:cleanliness") == AspectMetric("top2", "cleanliness")
    for bad in ("aspect:legacy", "volume", "aspect_top2:nope"):
        with pytest.raises(HTTPException) as e:
            gap_metric(bad)
        assert e.value.status_code == 422 and e.value.detail[0]["loc"] == ["query", "metric"]


def test_rule_metric_accepts_configured_aspects_with_exact_error_paths() -> None:
    r = Rule(**RULE, metric="aspect:wait_time")
    assert r.metric == "aspect:wait_time" and r.metric_name == "aspect:wait_time"
    assert r.measured == AspectMetric("mean", "wait_time") and r.has_sample_size
    k = Rule(**RULE, metric="csat")
    assert k.metric is Metric.csat and k.measured is Metric.csat and k.metric_name == "csat"
    assert Rule.model_validate_json(r.spec_json()) == r
    for bad, msg in (("aspect:legacy", "unknown aspect 'legacy'"), ("happiness", "Input should be")):
        with pytest.raises(ValidationError) as e:
            Rule(**RULE, metric=bad)
        (err,) = e.value.errors()
        assert err["loc"] == ("metric",) and msg in err["msg"]
    # Stored rules load after their aspect left the configuration (the evaluator reads n = 0).
    aspect_config.configure({})
    assert Rule.model_validate_json(r.spec_json(), context=aspect_config.UNCHECKED).measured == r.measured
    with pytest.raises(ValidationError):
        Rule.model_validate_json(r.spec_json())


def test_live_gap_rules_watch_aspects_on_baseline_gaps_only() -> None:
    assert Rule(id="g", name="G", metric="aspect:wait_time", condition="gap",
                gap={"kind": "baseline"}).measured == AspectMetric("mean", "wait_time")
    with pytest.raises(ValidationError, match="data gap rule watches one of"):
        Rule(id="g", name="G", metric="aspect:wait_time", condition="gap", gap={"kind": "data"})


scores = st.lists(st.integers(0, 10), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(scores, scores)
def test_aspect_mean_test_is_welchs(a: list[int], b: list[int]) -> None:
    t = two_sample_test(AspectMetric("mean", "cleanliness"), _counts("cleanliness", a, 9), _counts("cleanliness", b, 9))
    assert t is not None and t.difference == pytest.approx(statistics.fmean(a) - statistics.fmean(b), abs=1e-9)
    if statistics.pvariance(a) > 0 and statistics.pvariance(b) > 0:
        assert t.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6, abs=1e-12)


def test_aspect_top2_test_and_severity_scale() -> None:
    a, b = [9, 10, 1, 2, 3] * 10, [9, 10, 10, 9, 1] * 12
    t = two_sample_test(AspectMetric("top2", "cleanliness"), _counts("cleanliness", a, 9), _counts("cleanliness", b, 9))
    assert t is not None and t.difference == pytest.approx(100 * (20 / 50 - 48 / 60))
    assert gap_scale(AspectMetric("mean", "wait_time")) == 4.0
    assert gap_scale(AspectMetric("mean", "cleanliness")) == 10.0
    assert gap_scale(AspectMetric("top2", "wait_time")) == 100.0
    # A segment gap's severity is its shortfall over the aspect's scale max - min.
    segs = {"a": _counts("wait_time", [1, 2] * 20, 4), "b": _counts("wait_time", [4, 5] * 40, 4)}
    (ga, gb) = segment_gaps(AspectMetric("mean", "wait_time"), segs, dimension="segment", scope={},
                            window=Window(0, 1))
    assert ga.significant and ga.gap == pytest.approx(1.5 - 4.5) and ga.severity == pytest.approx(3.0 / 4.0)
    assert not gb.significant and gb.severity == 0.0
    aspect_config.configure({})
    with pytest.raises(ValueError, match="not configured"):
        segment_gaps(AspectMetric("mean", "wait_time"), segs, dimension="segment", scope={}, window=Window(0, 1))


def test_targets_on_aspects_lie_on_their_scale() -> None:
    from schemas.gaps import GapMetric, TargetIn, TargetPublic

    base = {"valid_from": "2026-01-01T00:00:00Z"}
    assert TargetIn(metric="aspect:cleanliness", value=10.0, **base).metric == "aspect:cleanliness"
    assert TargetIn(metric="aspect_top2:wait_time", value=80.0, **base).value == 80.0
    assert TargetIn(metric="nps", value=40.0, **base).metric is GapMetric.nps
    for metric, value, loc, msg in (("aspect:wait_time", 5.5, ("value",), "[1, 5]"),
                                    ("aspect:wait_time", 0.5, ("value",), "[1, 5]"),
                                    ("aspect_top2:wait_time", 101.0, ("value",), "[0, 100]"),
                                    ("aspect:legacy", 3.0, ("metric",), "unknown aspect 'legacy'"),
                                    ("volume", 3.0, ("metric",), "Input should be")):
        with pytest.raises(ValidationError) as e:
            TargetIn(metric=metric, value=value, **base)
        (err,) = e.value.errors()
        assert err["loc"] == loc and msg in err["msg"], err
    aspect_config.configure({})  # stored targets and responses outlive their aspect
    assert TargetIn.model_validate({"metric": "aspect:wait_time", "value": 3.0, **base},
                                   context=aspect_config.UNCHECKED).metric == "aspect:wait_time"
    assert TargetPublic(metric="aspect:wait_time", value=3.0, scope={}, **base).metric == "aspect:wait_time"
    with pytest.raises(ValidationError):
        TargetIn(metric="aspect:wait_time", value=3.0, **base)
