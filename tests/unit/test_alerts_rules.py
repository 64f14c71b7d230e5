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


GAMING = {"id": "gaming", "name": "Gaming agents", "metric": "nps", "condition": "gap",
          "gap": {"kind": "gaming", "dimensions": ["agent_id"]}}


def test_gaming_rules_default_period_and_single_value_copies() -> None:
    from alerts.gap_rules import scoped_rule

    r = Rule(**GAMING)
    assert r.gap.gaming_period_days == 7 and r.gap.period_days is None
    assert Rule(**{**GAMING, "gap": {**GAMING["gap"], "period_days": 3}}).gap.gaming_period_days == 3
    one = scoped_rule(Rule(**{**GAMING, "scope": {"team": "t1"}}), {"team": "t1", "agent_id": "x"})
    # the copy of one agent's alert keeps its dimension and reads back as a valid rule (watching that agent)
    assert Rule.model_validate_json(one.spec_json()) == one and one.gap.dimensions == ["agent_id"]


@pytest.mark.parametrize("gap, metric, loc", [
    ({"kind": "gaming", "dimensions": ["channel"]}, "nps", ("gap", "dimensions")),
    ({"kind": "gaming", "dimensions": []}, "nps", ("gap", "dimensions")),
    ({"kind": "gaming", "dimensions": ["agent_id", "team"]}, "nps", ("gap", "dimensions")),
    ({"kind": "gaming", "dimensions": ["team"], "lengths_min": [5]}, "nps", ("gap", "lengths_min")),
    ({"kind": "gaming", "dimensions": ["team"], "baseline_days": 3}, "nps", ("gap", "baseline_days")),
    ({"kind": "gaming", "dimensions": ["team"], "period_days": 0}, "nps", ("gap", "period_days")),
    ({"kind": "gaming", "dimensions": ["team"], "period_days": 29}, "nps", ("gap", "period_days")),
    ({"kind": "baseline", "dimensions": ["team"], "period_days": 2}, "nps", ("gap", "period_days")),
    ({"kind": "gaming", "dimensions": ["team"]}, "volume", ("metric",)),
])
def test_bad_gaming_combinations_name_the_field(gap: dict, metric: str, loc: tuple) -> None:
    with pytest.raises(ValidationError) as exc:
        Rule(**{**GAMING, "metric": metric, "gap": gap})
    assert [e["loc"] for e in exc.value.errors()] == [loc]


def test_bad_gaming_rule_is_a_422_at_its_body_path() -> None:
    import asyncio

    import httpx

    from api.deps import Services
    from api.main import create_api
    from core.settings import ApiKey, Settings

    settings = Settings()
    settings.api.keys = {"k-admin": ApiKey(tenant="acme", scopes=["read", "admin"])}
    app = create_api(Services(settings, None, None, None))  # type: ignore[arg-type]  # refused before any I/O
    body = {k: v for k, v in GAMING.items() if k != "id"}

    async def put(b: dict) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.put("/v1/alert-rules/gaming", json=b, headers={"Authorization": "Bearer k-admin"})

    for gap, metric, loc in (({"kind": "gaming", "dimensions": ["segment"]}, "nps", ["body", "gap", "dimensions"]),
                             ({"kind": "gaming", "dimensions": ["team"], "min_effect": 2.0}, "nps",
                              ["body", "gap", "min_effect"]),
                             ({"kind": "gaming", "dimensions": ["team"]}, "responses", ["body", "metric"])):
        r = asyncio.run(put({**body, "metric": metric, "gap": gap}))
        assert r.status_code == 422, r.text
        assert [d["loc"] for d in r.json()["detail"]] == [loc]
