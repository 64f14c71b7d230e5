"""Rule validation, predicates, fingerprints and silences matching."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.rules import Rule
from alerts.silences import Silence, is_silenced

BASE = {"id": "csat-chat", "name": "Chat CSAT", "metric": "csat", "scope": {"channel": "chat"},
        "condition": "below", "threshold": 80}


def test_valid_rule_defaults_and_canonical_scope() -> None:
    r = Rule(**{**BASE, "scope": {"team": "t1", "channel": "chat"}})
    assert list(r.scope) == ["channel", "team"]
    assert (r.window, r.min_n, r.for_s, r.repeat_interval_s) == ("1h", 30, 0, 14_400)


@pytest.mark.parametrize("change, loc", [
    ({"metric": "happiness"}, ("metric",)),
    ({"scope": {"planet": "mars"}}, ("scope",)),
    ({"window": "2h"}, ("window",)),
    ({"condition": "near"}, ("condition",)),
    ({"min_n": 0}, ("min_n",)),
    ({"recovery": 70}, ()),
    ({"surprise": 1}, ("surprise",)),
    ({"id": "bad id"}, ("id",)),
])
def test_invalid_rules_name_the_field(change: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as exc:
        Rule(**{**BASE, **change})
    assert exc.value.errors()[0]["loc"] == loc


def test_predicates_with_and_without_hysteresis() -> None:
    plain = Rule(**BASE)
    assert plain.breaching(79.9) and not plain.breaching(80)
    assert plain.recovered(80) and not plain.recovered(79.9)
    hyst = Rule(**{**BASE, "recovery": 85})
    assert not hyst.recovered(84.9) and hyst.recovered(85)
    above = Rule(**{**BASE, "metric": "ces", "condition": "above", "threshold": 4, "recovery": 3.5})
    assert above.breaching(4.1) and not above.breaching(4)
    assert not above.recovered(3.6) and above.recovered(3.5)


def test_fingerprint_is_stable_and_distinguishes_scope_and_labels() -> None:
    a = Rule(**{**BASE, "scope": {"team": "t", "channel": "chat"}, "labels": {"a": "1", "b": "2"}})
    b = Rule(**{**BASE, "scope": {"channel": "chat", "team": "t"}, "labels": {"b": "2", "a": "1"}, "threshold": 1})
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 16
    assert a.fingerprint() != Rule(**{**BASE, "scope": {"channel": "email"}}).fingerprint()
    assert a.fingerprint() != Rule(**{**BASE, "scope": a.scope, "labels": {"a": "2"}}).fingerprint()


def test_silence_matching_and_time_box() -> None:
    r = Rule(**{**BASE, "labels": {"team": "ops"}})
    s = Silence(id="s", matchers={"channel": "chat", "team": "ops"}, starts_at_ms=100, ends_at_ms=200)
    assert is_silenced(r, [s], 100) and is_silenced(r, [s], 199)
    assert not is_silenced(r, [s], 99) and not is_silenced(r, [s], 200)
    assert not Silence(id="s", rule_id="other", starts_at_ms=0, ends_at_ms=10).matches(r)
    assert Silence(id="s", rule_id="csat-chat", starts_at_ms=0, ends_at_ms=10).matches(r)
    assert Silence(id="s", matchers={"severity": "warning", "alertname": "Chat CSAT"}, starts_at_ms=0,
                   ends_at_ms=10).matches(r)
    assert not Silence(id="s", matchers={"channel": "email"}, starts_at_ms=0, ends_at_ms=10).matches(r)


@pytest.mark.parametrize("metric", ["conversion_rate", "abandonment_rate", "transfer_rate", "wait_time",
                                    "handle_time", "pos_neg_ratio"])
def test_outcome_and_ratio_metrics_take_threshold_and_gap_rules(metric: str) -> None:
    r = Rule(**{**BASE, "id": f"r-{metric}", "metric": metric, "condition": "above", "threshold": 120})
    assert r.has_sample_size and r.breaching(120.5) and not r.breaching(119.5)
    g = Rule(id=f"g-{metric}", name=metric, metric=metric, condition="gap",
             gap={"kind": "baseline", "dimensions": ["channel"]})
    assert g.metric.value == metric
    with pytest.raises(ValidationError, match="data gap rule watches one of"):
        Rule(id="d", name="d", metric=metric, condition="gap", gap={"kind": "data", "dimensions": ["channel"]})
