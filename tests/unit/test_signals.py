"""cx.signal.v1: validation with exact paths, the signal counters, their metrics, and the configurable
positive / negative definition (issue 14 item 4, issue 12 item 6)."""
from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats as sps

from core.experience import DEFAULT_BOUNDS, ExperienceSettings, validate_bounds
from core.settings import Settings
import orjson

from ingest.validation import TimeHorizon, validate_items, validate_raw_message
from kpi.counts import KpiCounts, add_record, configure_experience, contribution, experience_bounds
from kpi.measures import Metric, measure
from tests.helpers import DEFAULT_EXPERIENCE, count_record

T = 1_796_119_200_000  # 2026-12-01T10:00:00Z
HORIZON = TimeHorizon(now_ms=T)  # pinned clock


def event(data: dict, i: int = 0) -> dict:
    return {"specversion": "1.0", "id": f"s{i}", "source": "/reviews", "type": "cx.signal.v1",
            "time": "2026-12-01T10:00:00Z", "data": data}


def base(kind: str, **more) -> dict:
    return {"kind": kind, "platform": "google", "brand": "acme", **more}


def validate(items: list[dict]):
    return validate_items(items, "acme", lambda t, c: f"p:{t}:{c}", HORIZON)


@pytest.fixture(autouse=True)
def _default_bounds():
    yield
    configure_experience(DEFAULT_BOUNDS)


# -- validation -----------------------------------------------------------------------
def test_a_review_becomes_a_record_with_its_own_dimensions_and_a_pseudonymized_customer() -> None:
    records, rejected = validate([event(base("review", rating=2, location="paris-opera", segment="vip",
                                             customer_id="c-1", text="slow", url="https://g.co/r/1"))])
    assert rejected == []
    [r] = records
    assert (r["type"], r["kind"], r["rating"], r["sentiment"], r["score"]) == ("cx.signal.v1", "review", 2, None, None)
    assert r["dims"] == {"site": "paris-opera", "segment": "vip"}
    assert (r["platform"], r["brand"], r["text"], r["interaction_id"]) == ("google", "acme", "slow", "")
    assert r["customer"] == "p:acme:c-1" and r["attributes"] == {"url": "https://g.co/r/1"}


def test_platform_and_brand_are_dimensions_when_the_deployment_lists_them() -> None:
    records, _ = validate_items([event(base("like", region="west"))], "acme", lambda t, c: c, HORIZON,
                                custom=("brand", "platform"))
    assert records[0]["dims"] == {"region": "west", "platform": "google", "brand": "acme"}


@pytest.mark.parametrize("data, path, message", [
    (base("review"), "data.rating", "a review needs a rating (1 to 5)"),
    (base("review", rating=6), "data.rating", "Input should be less than or equal to 5"),
    (base("review", rating=4.0), "data.rating", "Input should be a valid integer"),
    (base("review", rating=True), "data.rating", "Input should be a valid integer"),
    (base("review", rating=4, sentiment="positive"), "data.sentiment", "only a mention has a sentiment, not a review"),
    (base("like", rating=3), "data.rating", "only a review has a rating, not a like"),
    (base("share", score=0.1), "data.score", "only a mention has a score, not a share"),
    (base("mention"), "data.score", "a mention needs a sentiment (positive, neutral, negative) or a score (-1 to 1)"),
    (base("mention", sentiment="negative", score=-0.2), "data.score",
     "a mention carries a sentiment or a score, not both"),
    (base("mention", sentiment="angry"), "data.sentiment", "Input should be 'positive', 'neutral' or 'negative'"),
    (base("mention", score=-1.5), "data.score", "Input should be greater than or equal to -1"),
    (base("mention", score="0.5"), "data.score", "Input should be a valid number"),
    (base("poke"), "data.kind", "Input should be 'review', 'mention', 'like', 'share' or 'comment'"),
    ({"kind": "like", "brand": "acme"}, "data.platform", "field required"),
    (base("like", platform=""), "data.platform", "String should have at least 1 character"),
    (base("like", brand="b" * 129), "data.brand", "String should have at most 128 characters"),
    (base("like", location="l" * 129), "data.location", "String should have at most 128 characters"),
])
def test_each_rule_rejects_with_the_exact_field(data, path, message) -> None:
    records, rejected = validate([event(base("like"), 0), event(data, 1)])
    assert [r["id"] for r in records] == ["s0"]
    assert [(x.index, x.path, x.error) for x in rejected] == [(1, path, message)]


def test_the_raw_topic_dead_letters_a_broken_signal_with_its_reason() -> None:
    good = event(base("mention", score=0.4, customer_id="c-9")) | {"tenant": "acme"}
    bad = event(base("review"), 1) | {"tenant": "acme"}
    records, rejected = validate_raw_message(orjson.dumps([good, bad]), [("content-type", b"application/json")],
                                             lambda t, c: f"p:{t}:{c}", HORIZON)
    assert [(r["id"], r["tenant"], r["customer"], r["score"]) for r in records] == [("s0", "acme", "p:acme:c-9", 0.4)]
    assert [(x.index, x.path, x.error, x.tenant, orjson.loads(x.raw)) for x in rejected] == [
        (1, "data.rating", "a review needs a rating (1 to 5)", "acme", bad)]


# -- counters ---------------------------------------------------------------------------
def rec(kind: str, **fields) -> dict:
    return {"type": "cx.signal.v1", "kind": kind, "rating": None, "sentiment": None, "score": None,
            "platform": "google", "brand": "acme", "text": None, "dims": {}, **fields}


def test_each_kind_counts_where_the_docs_say() -> None:
    assert contribution(rec("review", rating=2)) == KpiCounts(
        sig_n=1, sig_reviews=1, sig_rating_sum=2, sig_rating_sumsq=4, sig_polar_n=1, sig_negative=1)
    assert contribution(rec("review", rating=3)) == KpiCounts(
        sig_n=1, sig_reviews=1, sig_rating_sum=3, sig_rating_sumsq=9, sig_polar_n=1)
    assert contribution(rec("review", rating=5)).sig_positive == 1
    assert contribution(rec("mention", sentiment="neutral")) == KpiCounts(sig_n=1, sig_polar_n=1)
    assert contribution(rec("mention", sentiment="positive")) == KpiCounts(sig_n=1, sig_polar_n=1, sig_positive=1)
    assert contribution(rec("mention", score=-0.05)) == KpiCounts(sig_n=1, sig_polar_n=1, sig_negative=1)
    assert contribution(rec("mention", score=-0.04)) == KpiCounts(sig_n=1, sig_polar_n=1)
    for kind in ("like", "share", "comment"):
        assert contribution(rec(kind)) == KpiCounts(sig_n=1, sig_engagement=1)


@pytest.mark.parametrize("bad", [rec("poke"), rec("review"), rec("review", rating=0), rec("review", rating=True),
                                 rec("mention", sentiment="angry"), rec("mention", score=2.0)])
def test_invalid_signals_raise_and_leave_the_target_untouched(bad) -> None:
    c = KpiCounts(sig_n=3)
    with pytest.raises(ValueError):
        add_record(c, bad)
    assert c == KpiCounts(sig_n=3)


_signals = st.one_of(
    st.builds(lambda r: rec("review", rating=r), st.integers(1, 5)),
    st.builds(lambda s: rec("mention", sentiment=s), st.sampled_from(["positive", "neutral", "negative"])),
    st.builds(lambda s: rec("mention", score=s), st.floats(-1, 1, allow_nan=False)),
    st.builds(rec, st.sampled_from(["like", "share", "comment"])),
)
_bound = st.none() | st.integers(1, 5)


@settings(max_examples=200, deadline=None)
@given(st.lists(_signals, max_size=40), st.lists(_signals, max_size=40))
def test_signal_counters_are_additive_and_retract_to_zero(a, b) -> None:
    total = KpiCounts()
    for r in a + b:
        add_record(total, r)
    left, right = KpiCounts(), KpiCounts()
    for r in a:
        add_record(left, r)
    for r in b:
        add_record(right, r)
    assert total == left + right
    reference = KpiCounts()
    for r in a + b:
        count_record(reference, r)
    assert total == reference
    assert total.sig_negative + total.sig_positive <= total.sig_polar_n <= total.sig_n
    assert total.sig_reviews + total.sig_engagement <= total.sig_n
    for r in a + b:
        add_record(total, r, sign=-1)
    assert total.is_zero()


@settings(max_examples=200, deadline=None)
@given(st.lists(_signals, max_size=30), st.tuples(_bound, _bound), st.tuples(st.none() | st.floats(-1, 0),
                                                                           st.none() | st.floats(0.001, 1)))
def test_a_configured_definition_counts_as_the_reference_says(records, review, score) -> None:
    neg, pos = review
    if neg is not None and pos is not None and neg >= pos:
        neg, pos = pos - 1 if pos > 1 else None, pos
    bounds = {"review": (neg, pos), "mention_score": score}
    configure_experience(bounds)
    got, want = KpiCounts(), KpiCounts()
    for r in records:
        add_record(got, r)
        count_record(want, r, bounds)
    assert got == want


def test_answers_follow_the_configured_definition_too() -> None:
    answer = {"type": "cx.survey.response.v1", "nps": 7, "csat": 3, "ces": None, "fcr": None}
    assert (contribution(answer).answers_positive, contribution(answer).answers_negative) == (0, 0)
    configure_experience({"nps": (5, 7)})  # passives 7-8 now count as positive
    assert (contribution(answer).answers_positive, contribution(answer).answers_negative) == (1, 0)
    configure_experience({"nps": (7, 9), "csat": (None, 4)})  # 7 is negative now
    assert (contribution(answer).answers_positive, contribution(answer).answers_negative) == (0, 1)
    assert experience_bounds()["csat"] == (None, 4) and experience_bounds()["ces"] == DEFAULT_BOUNDS["ces"]


# -- metrics ------------------------------------------------------------------------------
def test_signal_metrics_with_their_intervals() -> None:
    ratings = [1, 2, 2, 4, 5, 5, 5]
    mentions = ["negative", "neutral", "positive", "negative"]
    c = KpiCounts()
    for r in ratings:
        add_record(c, rec("review", rating=r))
    for m in mentions:
        add_record(c, rec("mention", sentiment=m))
    for k in ("like", "like", "share", "comment", "comment"):
        add_record(c, rec(k))
    n = len(ratings) + len(mentions) + 5
    assert measure(Metric.signal_volume, c).value == n and measure(Metric.engagement, c).value == 5.0
    rating = measure(Metric.review_rating, c)
    mean, sem = statistics.fmean(ratings), sps.sem(ratings)
    half = sps.t.ppf(0.975, len(ratings) - 1) * sem
    assert (rating.n, rating.value) == (7, pytest.approx(mean))
    assert (rating.ci_low, rating.ci_high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    share = measure(Metric.signal_negative_share, c)
    negatives, polar = 3 + 2, len(ratings) + len(mentions)  # ratings 1, 2, 2 and two negative mentions
    z = sps.norm.ppf(0.975)
    p = negatives / polar
    centre = (p + z * z / (2 * polar)) / (1 + z * z / polar)
    spread = z * math.sqrt(p * (1 - p) / polar + z * z / (4 * polar * polar)) / (1 + z * z / polar)
    assert (share.n, share.value) == (polar, pytest.approx(100 * p))
    assert (share.ci_low, share.ci_high) == (pytest.approx(100 * (centre - spread)), pytest.approx(100 * (centre + spread)))


def test_signals_join_the_positive_negative_ratio() -> None:
    c = KpiCounts(answers_positive=10, answers_negative=4)
    for r in (5, 4, 1):
        add_record(c, rec("review", rating=r))
    add_record(c, rec("mention", sentiment="negative"))
    v = measure(Metric.pos_neg_ratio, c)
    assert (v.value, v.n) == (12 / 6, 18)


# -- settings -----------------------------------------------------------------------------
def test_the_defaults_are_the_documented_ones() -> None:
    assert ExperienceSettings().bounds() == DEFAULT_BOUNDS == validate_bounds({})
    assert {m: tuple(b) for m, b in DEFAULT_BOUNDS.items()} == DEFAULT_EXPERIENCE


def test_one_bound_can_be_set_alone_and_bad_ones_stop_the_start(monkeypatch) -> None:
    monkeypatch.setenv("CXPULSE_EXPERIENCE__NPS__POSITIVE_MIN", "8")
    assert Settings().experience.bounds()["nps"] == (6, 8)
    for bad, message in [({"nps": {"negative_max": 9, "positive_min": 9}}, "must be below positive_min"),
                         ({"csat": {"negative_max": 0}}, "outside csat's scale 1..5"),
                         ({"ces": {"positive_min": 6.5}}, "must be a whole score"),
                         ({"mention_score": {"negative_max": -2}}, "outside mention_score's scale"),
                         ({"nsp": {}}, "Extra inputs are not permitted")]:
        with pytest.raises(ValidationError, match=message):
            ExperienceSettings.model_validate(bad)
    with pytest.raises(ValueError, match="unknown experience metric"):
        configure_experience({"nsp": (1, 2)})


# -- gaps and rules -------------------------------------------------------------------------
def _reviews(ratings: list[int]) -> KpiCounts:
    c = KpiCounts()
    for r in ratings:
        add_record(c, rec("review", rating=r))
    return c


def test_gaps_test_signal_metrics_like_the_survey_ones() -> None:
    from gaps.detect import Window, compare, target_gap

    a, b = [1, 2, 2, 3, 1, 2, 4, 1] * 5, [4, 5, 5, 3, 4, 5, 4, 5] * 5
    welch = compare(Metric.review_rating, _reviews(a), _reviews(b))
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert welch.difference == pytest.approx(statistics.fmean(a) - statistics.fmean(b))
    assert welch.p_value == pytest.approx(ref.pvalue)
    # Negative share: 30 of 40 vs 8 of 40; lower is better, so the first is the worse (gap < 0).
    worse, better = KpiCounts(sig_polar_n=40, sig_negative=30), KpiCounts(sig_polar_n=40, sig_negative=8)
    pooled = 38 / 80
    z = (30 / 40 - 8 / 40) / math.sqrt(pooled * (1 - pooled) * (2 / 40))
    share = compare(Metric.signal_negative_share, worse, better)
    assert share.difference == pytest.approx(100 * (30 / 40 - 8 / 40))
    assert share.p_value == pytest.approx(2 * sps.norm.sf(abs(z)))
    window = Window(T, T + 3_600_000)
    missed = target_gap(Metric.signal_negative_share, worse, 20.0, scope={}, window=window)
    assert missed.significant and missed.gap == pytest.approx(-(75.0 - 20.0))
    met = target_gap(Metric.review_rating, _reviews(b), 3.0, scope={}, window=window)
    assert not met.significant and met.gap > 0


def test_alert_rules_take_the_signal_metrics() -> None:
    from alerts.rules import RuleSpec
    from schemas.gaps import GapMetric

    assert {"review_rating", "signal_negative_share"} <= {m.value for m in GapMetric}
    share = RuleSpec(name="negative reviews", metric="signal_negative_share", condition="above", threshold=25)
    assert share.has_sample_size
    silent = RuleSpec(name="no signals", metric="signal_volume", condition="below", threshold=1)
    assert not silent.has_sample_size  # a count: fires on silence
    gap = RuleSpec(name="rating drop", metric="review_rating", condition="gap",
                   gap={"kind": "baseline", "dimensions": ["site"]})
    assert gap.gap is not None
