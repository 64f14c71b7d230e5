"""Closed-loop rules without I/O: conditions, routing, SLA, suppression, guarded transitions, events."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases import (
    DEFAULT_CONDITIONS, Absorb, Case, CaseCondition, CaseState, InvalidTransition, Open, Trigger, acknowledge,
    case_event, case_id, case_message, case_scope, close, decide, due_at_ms, escalate, evaluate_conditions,
    is_breached, open_case, route_owner, scope_key,
)
from core.domain_settings import CaseSettings
from core.settings import Settings

T0 = 1_793_613_600_000
SLA = {"critical": 3600, "high": 4 * 3600, "medium": 86400, "low": 3 * 86400}


def response(**kw) -> dict:
    rec = {"tenant": "acme", "id": "r1", "source": "/survey", "type": "cx.survey.response.v1", "time_ms": T0,
           "customer": "cust-1", "interaction_id": "i1", "survey_id": "s1", "dims": {"team": "billing"},
           "nps": None, "csat": None, "ces": None, "fcr": None, "comment": None}
    rec.update(kw)
    return rec


def make_case(**kw) -> Case:
    rec = response(**{k: kw.pop(k) for k in list(kw) if k in ("id", "customer", "nps")})
    c = open_case("acme", rec, Trigger("high", ("detractor",)), kw.pop("scope", {"team": "billing"}), "lead", T0,
                  T0 + 3_600_000)
    return Case(**{**{f: getattr(c, f) for f in c.__slots__}, **kw}) if kw else c


# -- conditions ---------------------------------------------------------------------
@pytest.mark.parametrize(("answers", "expected"), [
    ({"nps": 6}, Trigger("high", ("detractor",))),
    ({"nps": 7}, None),
    ({"nps": 10}, None),
    ({"csat": 2}, Trigger("high", ("low_csat",))),
    ({"csat": 3}, None),
    ({"ces": 3}, Trigger("medium", ("high_effort",))),
    ({"ces": 4}, None),
    ({"nps": 0, "ces": 1}, Trigger("high", ("detractor", "high_effort"))),
    ({"fcr": False}, None),
    ({}, None),
])
def test_default_conditions(answers: dict, expected: Trigger | None) -> None:
    assert evaluate_conditions(response(**answers), DEFAULT_CONDITIONS) == expected


def test_configured_condition_and_highest_severity_wins() -> None:
    conds = [*DEFAULT_CONDITIONS, CaseCondition(name="unresolved", metric="fcr", op="eq", value=0,
                                                severity="critical")]
    assert evaluate_conditions(response(fcr=False, nps=3), conds) == Trigger("critical", ("detractor", "unresolved"))
    assert evaluate_conditions(response(fcr=True), conds) is None


@given(nps=st.integers(0, 10))
def test_a_response_opens_a_case_iff_it_is_a_detractor(nps: int) -> None:
    assert (evaluate_conditions(response(nps=nps), DEFAULT_CONDITIONS) is not None) == (nps <= 6)


# -- routing, scope, SLA ------------------------------------------------------------
def test_routing_order_and_default_owner() -> None:
    owners = {"team": {"billing": "lead-billing"}, "queue": {"vip": "vip-owner"}}
    assert route_owner({"team": "billing", "queue": "vip"}, ["team", "queue"], owners, "ops") == "lead-billing"
    assert route_owner({"team": "billing", "queue": "vip"}, ["queue", "team"], owners, "ops") == "vip-owner"
    assert route_owner({"team": "sales", "queue": "vip"}, ["team", "queue"], owners, "ops") == "vip-owner"
    assert route_owner({"team": "sales"}, ["team", "queue"], owners, "ops") == "ops"
    assert route_owner({}, [], owners, "ops") == "ops"


@given(dims=st.dictionaries(st.sampled_from(["channel", "team", "queue", "agent_id", "segment"]),
                            st.text(min_size=0, max_size=5)))
def test_scope_is_the_configured_nonempty_dims_and_its_key_is_order_free(dims: dict) -> None:
    scope = case_scope(dims, ["channel", "queue", "team"])
    assert set(scope) <= {"channel", "queue", "team"} and all(scope.values())
    assert scope_key(dict(reversed(list(scope.items())))) == scope_key(scope)


def test_sla_and_breach() -> None:
    assert due_at_ms(T0, "high", SLA) == T0 + 4 * 3_600_000
    assert due_at_ms(T0, "low", {"high": 1}) == T0 + 3 * 86_400_000  # default for an unset severity
    assert not is_breached(T0 + 10, None, T0 + 10) and is_breached(T0 + 10, None, T0 + 11)
    assert not is_breached(T0 + 10, T0 + 5, T0 + 10**9)


def test_settings_validate_case_dimensions() -> None:
    assert Settings().cases.default_owner == "cx-ops"
    with pytest.raises(ValueError):
        CaseSettings(scope_dims=["colour"])
    with pytest.raises(ValueError):
        CaseSettings(owners={"colour": {"red": "x"}})


# -- ids and suppression ------------------------------------------------------------
def test_case_id_is_deterministic_per_tenant_and_response() -> None:
    assert case_id("acme", "/s", "r1") == case_id("acme", "/s", "r1")
    assert len({case_id("acme", "/s", "r1"), case_id("globex", "/s", "r1"), case_id("acme", "/s", "r2"),
                case_id("acme", "/t", "r1")}) == 4
    assert make_case().id == case_id("acme", "/survey", "r1")


def test_suppression_same_customer_and_scope_only() -> None:
    open_one = make_case()
    assert decide([], "cust-1", open_one.scope_key, "k2") == Open()
    assert decide([open_one], "cust-1", open_one.scope_key, "k2") == Absorb(open_one)
    assert decide([open_one], "cust-1", scope_key({"team": "sales"}), "k2") == Open()
    assert decide([open_one], "cust-2", open_one.scope_key, "k2") == Open()
    closed = close(open_one, T0 + 1, "called back")
    assert decide([closed], "cust-1", open_one.scope_key, "k2") == Open()


def test_anonymous_responses_are_never_merged() -> None:
    anon = make_case(customer="")
    assert decide([anon], "", anon.scope_key, "other-response") == Open()


@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", ""]), st.sampled_from([{}, {"team": "a"}, {"team": "b"}])),
                max_size=30))
def test_at_most_one_open_case_per_customer_and_scope(responses: list) -> None:
    """Replaying ``decide`` over a stream of responses never holds two open cases for one key."""
    cases: list[Case] = []
    for i, (customer, scope) in enumerate(responses):
        d = decide(cases, customer, scope_key(scope), f"r{i}")
        if isinstance(d, Open):
            cases.append(make_case(id=f"r{i}", customer=customer, scope=scope))
    keys = [(c.customer, c.scope_key) for c in cases if c.customer]
    assert len(keys) == len(set(keys))
    assert len(cases) == len({(c, scope_key(s)) for c, s in responses if c}) + sum(1 for c, _ in responses if not c)


# -- transitions --------------------------------------------------------------------
def test_open_ack_close() -> None:
    c = make_case()
    assert c.state is CaseState.open and not c.escalated
    a = acknowledge(c, T0 + 60_000, "lead")
    assert (a.state, a.acked_at_ms, a.acked_by) == (CaseState.acknowledged, T0 + 60_000, "lead")
    z = close(a, T0 + 120_000, "refunded", "lead")
    assert (z.state, z.closed_at_ms, z.resolution) == (CaseState.closed, T0 + 120_000, "refunded")
    with pytest.raises(InvalidTransition):
        acknowledge(a, T0 + 1)
    with pytest.raises(InvalidTransition):
        acknowledge(z, T0 + 1)
    with pytest.raises(InvalidTransition):
        close(z, T0 + 1, "again")
    with pytest.raises(InvalidTransition):
        close(c, T0 + 1, "   ")
    assert close(c, T0 + 1, "fixed").state is CaseState.closed  # closing without acknowledging is allowed


def test_escalation_is_a_flag_once_and_only_past_the_sla() -> None:
    c = make_case()
    with pytest.raises(InvalidTransition):
        escalate(c, c.due_at_ms - 1)
    e = escalate(c, c.due_at_ms)
    assert e.escalated and e.state is CaseState.open
    with pytest.raises(InvalidTransition):
        escalate(e, e.due_at_ms + 1)
    a = acknowledge(e, e.due_at_ms + 5)
    assert a.escalated and a.state is CaseState.acknowledged
    with pytest.raises(InvalidTransition):
        escalate(close(c, T0 + 5, "done"), c.due_at_ms + 1)


_ACTIONS = st.lists(st.tuples(st.sampled_from(["ack", "close", "escalate"]), st.integers(-10**7, 10**8)), max_size=12)


@given(_ACTIONS)
def test_transitions_never_go_backwards(actions: list) -> None:
    """Whatever is tried: state only moves forward, times are ordered, closed is final."""
    order = [CaseState.open, CaseState.acknowledged, CaseState.closed]
    c = make_case()
    for action, dt in actions:
        before = c
        try:
            if action == "ack":
                c = acknowledge(c, T0 + dt)
            elif action == "close":
                c = close(c, T0 + dt, "note")
            else:
                c = escalate(c, T0 + dt)
        except InvalidTransition:
            assert c is before
            continue
        assert order.index(c.state) >= order.index(before.state)
        assert before.state is not CaseState.closed
        assert c.escalated or not before.escalated
    if c.acked_at_ms is not None:
        assert c.acked_at_ms >= c.opened_at_ms
    if c.closed_at_ms is not None:
        assert c.closed_at_ms >= max(c.opened_at_ms, c.acked_at_ms or 0)
    if c.escalated:
        assert c.escalated_at_ms >= c.due_at_ms


# -- events -------------------------------------------------------------------------
def test_case_event_is_a_routed_cloudevent_with_a_stable_id() -> None:
    c = make_case(nps=2)
    ev = case_event("opened", c, T0, [])
    assert ev["type"] == "cx.case.opened.v1" and ev["tenant"] == "acme" and ev["subject"] == c.id
    assert ev["data"]["routes"] is None and ev["data"]["scope"] == {"team": "billing"}  # null: not routed
    assert ev["data"]["answers"] == {"nps": 2} and ev["data"]["owner"] == "lead"
    assert case_event("opened", c, T0 + 5)["id"] == ev["id"] != case_event("closed", c, T0)["id"]
    m = case_message("escalated", c, T0, "cx.notifications.v1", 4, ["sub-1"])
    assert m.key == f"acme:{c.id}".encode() and 0 <= m.partition < 4
    body = orjson.loads(m.value)
    assert body["type"] == "cx.case.escalated.v1" and body["data"]["routes"] == ["sub-1"]
