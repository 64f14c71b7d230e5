"""Alert grouping (rule ``group_by``): one notification per group and kind per evaluation round."""
from __future__ import annotations

import orjson

from alerts.evaluator import Transition, notification_messages
from alerts.gap_rules import scoped_rule
from alerts.rules import Rule
from alerts.state import AlertState, Notification, NotificationKind, Status
from webhooks.alertmanager import alertmanager_payload

AT = 1_767_261_600_000


def _rule(group_by: list[str]) -> Rule:
    return Rule.model_validate({
        "id": "nps-cells", "name": "NPS drop per cell", "metric": "nps", "condition": "gap", "min_n": 10,
        "gap": {"kind": "baseline", "dimensions": ["journey_step", "segment"]}, "labels": {"team": "cx-ops"},
        "group_by": group_by, "routes": ["pager"]})


def _firing(rule: Rule, step: str, segment: str, value: float) -> Transition:
    r = scoped_rule(rule, {"journey_step": step, "segment": segment})
    note = Notification(NotificationKind.firing, AT, value, 12, value - 20, value + 20, AT, None)
    return Transition("acme", r.fingerprint(), r, AlertState(), AlertState(Status.firing), [note])


def _cells(rule: Rule) -> list[Transition]:
    return [_firing(rule, "billing", "consumer", -60.0), _firing(rule, "support", "consumer", -40.0),
            _firing(rule, "billing", "smb", -50.0)]


def test_without_group_by_every_alert_is_its_own_notification():
    msgs = notification_messages(_cells(_rule([])), "cx.notifications.v1", 4)
    events = [orjson.loads(m.value) for m in msgs]
    assert len(events) == 3 and all("alerts" not in e["data"] for e in events)
    assert [m.key for m in msgs] == [f"acme:{e['subject']}".encode() for e in events]


def test_group_by_sends_one_notification_per_group_listing_its_alerts():
    transitions = _cells(_rule(["journey_step"]))
    msgs = notification_messages(transitions, "cx.notifications.v1", 4)
    events = {orjson.loads(m.value)["data"]["group_labels"]["journey_step"]: orjson.loads(m.value) for m in msgs}
    assert sorted(events) == ["billing", "support"]
    billing = events["billing"]
    members = sorted((t for t in transitions if t.rule.scope["journey_step"] == "billing"), key=lambda t: t.fingerprint)
    data = billing["data"]
    assert data["group_by"] == ["journey_step"] and data["group_key"] == 'nps-cells:{"journey_step":"billing"}'
    assert [a["fingerprint"] for a in data["alerts"]] == [t.fingerprint for t in members]
    assert [a["scope"]["segment"] for a in data["alerts"]] == [t.rule.scope["segment"] for t in members]
    assert data["fingerprint"] == members[0].fingerprint  # single-alert consumers see the first member
    assert billing["type"] == "cx.alert.firing.v1" and billing["subject"] == data["group_key"]
    assert len(events["support"]["data"]["alerts"]) == 1
    # The same round again gives the same event ids (receivers dedupe on them).
    again = notification_messages(list(reversed(transitions)), "cx.notifications.v1", 4)
    assert sorted(orjson.loads(m.value)["id"] for m in again) == sorted(e["id"] for e in events.values())


def test_a_grouped_event_is_one_alertmanager_body_with_every_alert():
    msgs = notification_messages(_cells(_rule(["journey_step"])), "cx.notifications.v1", 4)
    event = next(orjson.loads(m.value) for m in msgs
                 if orjson.loads(m.value)["data"]["group_labels"] == {"journey_step": "billing"})
    body = alertmanager_payload(event, "pager")
    assert body["groupKey"] == 'nps-cells:{"journey_step":"billing"}'
    assert body["groupLabels"] == {"journey_step": "billing"} and body["status"] == "firing"
    assert [a["labels"]["segment"] for a in body["alerts"]] == [a["scope"]["segment"] for a in event["data"]["alerts"]]
    assert [a["annotations"]["value"] for a in body["alerts"]] == [str(a["value"]) for a in event["data"]["alerts"]]
    common = body["commonLabels"]
    assert common["journey_step"] == "billing" and common["team"] == "cx-ops" and "segment" not in common
    assert "value" not in body["commonAnnotations"] and body["commonAnnotations"]["n"] == "12"


def test_a_rule_without_routes_reaches_every_matching_subscription():
    """``routes: null`` in the event means every subscription whose types and filters match;
    ``[]`` would mean none, so an unrouted rule's alerts would reach nobody."""
    routed = orjson.loads(notification_messages([_cells(_rule([]))[0]], "t", 1)[0].value)
    unrouted_rule = _rule([]).model_copy(update={"routes": []})
    unrouted = orjson.loads(notification_messages([_firing(unrouted_rule, "billing", "smb", -50.0)], "t", 1)[0].value)
    assert routed["data"]["routes"] == ["pager"] and unrouted["data"]["routes"] is None
