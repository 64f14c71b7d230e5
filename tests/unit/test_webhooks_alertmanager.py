"""The Alertmanager webhook body (``webhooks.alertmanager``) and its delivery (``Deliverer.render``)."""
from __future__ import annotations

import re
import time
from datetime import datetime

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from core.domain_settings import WebhookSettings
from schemas.webhooks import WebhookCreate, WebhookPublic
from warehouse.webhook_queries import SubscriptionRow
from webhooks.alertmanager import ZERO_TIME, alertmanager_payload, group_key
from notifications import Notification
from webhooks.delivery import Deliverer
from webhooks.signing import delivery_id, generate_secret

# An Alertmanager v4 webhook body shaped as the official reference documents it
# (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config): what a receiver that
# "speaks Alertmanager" parses. Our bodies must have exactly these fields with these JSON types.
ALERTMANAGER_EXAMPLE = {
    "version": "4",
    "groupKey": '{}/{team="ops"}:{alertname="HighErrorRate"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "ops-webhook",
    "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate", "severity": "critical", "team": "ops"},
    "commonAnnotations": {"summary": "error rate above 5%"},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "severity": "critical", "team": "ops", "instance": "api-1"},
        "annotations": {"summary": "error rate above 5%", "description": "5xx ratio is 7.2%"},
        "startsAt": "2026-11-03T10:30:00.123Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
        "fingerprint": "0f8b1c5e9a2d4b7c",
    }],
}

FIRING = {
    "specversion": "1.0", "id": "e1f0c0ffee", "source": "/cxpulse/alerts", "type": "cx.alert.firing.v1",
    "subject": "9a1b2c3d4e5f6071", "time": "2026-11-03T10:30:00Z", "datacontenttype": "application/json",
    "tenant": "acme",
    "data": {
        "rule": {"id": "csat-chat", "name": "CSAT chat", "metric": "csat", "window": "1h", "condition": "below"},
        "fingerprint": "9a1b2c3d4e5f6071", "status": "firing", "scope": {"channel": "chat"}, "value": 50.0,
        "n": 40, "ci": [35.2, 64.8], "threshold": 80.0, "recovery": None, "severity": "critical",
        "labels": {"team": "cx", "channel": "not-the-scope"}, "routes": ["wh_am"],
        "starts_at": "2026-11-03T10:30:00Z", "ends_at": None, "repeat": False,
    },
}
RESOLVED = {**FIRING, "id": "e2", "type": "cx.alert.resolved.v1", "time": "2026-11-03T10:31:00Z",
            "data": {**FIRING["data"], "status": "resolved", "value": 80.0, "n": 100, "ci": [71.1, 86.7],
                     "ends_at": "2026-11-03T10:31:00Z"}}


def _types(v):
    """The JSON shape of a value: key -> type for objects (alerts by their first element)."""
    if isinstance(v, dict):
        return {k: _types(x) if k == "alerts" else type(x).__name__ for k, x in v.items()}
    return [_types(v[0])]


def test_the_body_has_exactly_the_fields_and_types_of_an_alertmanager_payload() -> None:
    got = alertmanager_payload(FIRING, "wh_am", "https://cx.example")
    assert _types(got) == _types(ALERTMANAGER_EXAMPLE)
    assert _types(got["alerts"]) == _types(ALERTMANAGER_EXAMPLE["alerts"])
    assert all(isinstance(v, str) for a in got["alerts"] for part in ("labels", "annotations")
               for v in a[part].values())  # Alertmanager label and annotation values are strings
    shape = re.compile(r"^\{\}(/\{.*\})?:\{.*\}$")
    assert shape.match(ALERTMANAGER_EXAMPLE["groupKey"]) and shape.match(got["groupKey"])
    for a in got["alerts"]:
        datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00"))
        datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00"))


def test_firing_alert_maps_to_exact_values() -> None:
    labels = {"team": "cx", "channel": "chat", "alertname": "CSAT chat", "rule_id": "csat-chat", "metric": "csat",
              "severity": "critical", "tenant": "acme"}  # the scope's channel wins over the rule label
    annotations = {"value": "50.0", "n": "40", "ci_low": "35.2", "ci_high": "64.8", "threshold": "80.0",
                   "condition": "below", "window": "1h", "event_id": "e1f0c0ffee",
                   "summary": "CSAT chat: csat = 50.0 (n = 40), below 80.0 over 1h"}
    group_labels = {"team": "cx", "channel": "chat", "rule_id": "csat-chat"}
    assert alertmanager_payload(FIRING, "wh_am", "https://cx.example/") == {
        "version": "4",
        "groupKey": '{}:{channel="chat", rule_id="csat-chat", team="cx"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "wh_am",
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "https://cx.example",
        "alerts": [{"status": "firing", "labels": labels, "annotations": annotations,
                    "startsAt": "2026-11-03T10:30:00Z", "endsAt": ZERO_TIME,
                    "generatorURL": "https://cx.example/v1/alert-rules/csat-chat",
                    "fingerprint": "9a1b2c3d4e5f6071"}],
    }


def test_resolution_shares_the_group_key_and_fingerprint_and_carries_its_end() -> None:
    fired, resolved = alertmanager_payload(FIRING, "r"), alertmanager_payload(RESOLVED, "r")
    assert resolved["status"] == resolved["alerts"][0]["status"] == "resolved"
    assert resolved["groupKey"] == fired["groupKey"]
    assert resolved["alerts"][0]["fingerprint"] == fired["alerts"][0]["fingerprint"] == "9a1b2c3d4e5f6071"
    assert resolved["alerts"][0]["endsAt"] == "2026-11-03T10:31:00Z"
    assert (resolved["commonAnnotations"]["value"], resolved["commonAnnotations"]["n"]) == ("80.0", "100")
    assert resolved["commonAnnotations"]["summary"].endswith(" - resolved")
    assert (resolved["externalURL"], resolved["alerts"][0]["generatorURL"]) == ("", "")  # no external URL set


def test_the_evaluator_grouping_wins_when_the_event_carries_it() -> None:
    by = {**FIRING, "data": {**FIRING["data"], "group_by": ["alertname", "channel"]}}
    got = alertmanager_payload(by, "r")
    assert got["groupLabels"] == {"alertname": "CSAT chat", "channel": "chat"}
    assert got["groupKey"] == '{}:{alertname="CSAT chat", channel="chat"}'
    keyed = {**FIRING, "data": {**FIRING["data"], "group_labels": {"team": "cx"}, "group_key": "g-17"}}
    got = alertmanager_payload(keyed, "r")
    assert (got["groupLabels"], got["groupKey"]) == ({"team": "cx"}, "g-17")


def test_group_key_quotes_values() -> None:
    assert group_key({"b": 'say "hi"', "a": "1"}) == '{}:{a="1", b="say \\"hi\\""}'


def test_only_alert_events_have_an_alertmanager_form() -> None:
    with pytest.raises(ValueError, match="cx.case.opened.v1"):
        alertmanager_payload({**FIRING, "type": "cx.case.opened.v1"}, "r")


def test_subscription_format_is_validated_at_the_event_types_path() -> None:
    assert WebhookCreate(url="https://h.example/x", event_types=["*"]).format.value == "cloudevents"
    with pytest.raises(ValueError) as err:
        WebhookCreate(url="https://h.example/x", event_types=["cx.case.*"], format="alertmanager")
    assert err.value.errors()[0]["loc"] == ("event_types",)
    assert "format" in WebhookPublic.model_fields


class _Recorder:
    def __init__(self) -> None:
        self.attempts: list = []

    async def attempt(self, row) -> None:
        self.attempts.append(row)

    async def dead_letter(self, row) -> None:
        raise AssertionError("nothing is dead-lettered here")

    async def delivered(self, tenant, delivery_id) -> None:
        pass

    async def disable(self, sub, reason) -> None:
        pass


async def test_alertmanager_subscription_gets_the_signed_payload_and_case_events_are_skipped_on_record() -> None:
    secret = generate_secret()
    am = SubscriptionRow(tenant="acme", id="wh_am", url="https://am.example/hook", event_types=("*",), filters={},
                         secret=secret, format="alertmanager")
    ce = SubscriptionRow(tenant="acme", id="wh_ce", url="https://ce.example/hook", event_types=("*",), filters={},
                         secret=secret)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    rec = _Recorder()
    ws = WebhookSettings(external_url="https://cx.example")
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        d = Deliverer(client, rec, ws, clock=lambda: float(int(time.time())))
        alert = Notification.parse(orjson.dumps(FIRING))
        results = await d.deliver_all(alert, [am, ce])
        case_event = {**FIRING, "id": "c1", "type": "cx.case.opened.v1", "source": "/cxpulse/cases"}
        (skipped,) = await d.deliver_all(Notification.parse(orjson.dumps(case_event)), [am])

    assert [r.status.value for r in results] == ["delivered", "delivered"]
    by_host = {r.url.host: r for r in seen}
    assert set(by_host) == {"am.example", "ce.example"}  # the skipped case event made no request
    am_req = by_host["am.example"]
    assert am_req.headers["content-type"] == "application/json"
    assert am_req.headers["webhook-id"] == delivery_id("acme", "wh_am", "/cxpulse/alerts", "e1f0c0ffee")
    verified = Webhook(secret).verify(am_req.content, dict(am_req.headers))  # signed over the Alertmanager body
    assert verified == alertmanager_payload(FIRING, "wh_am", "https://cx.example")
    assert by_host["ce.example"].content == orjson.dumps(FIRING)  # CloudEvents: verbatim

    assert (skipped.status.value, skipped.attempts, skipped.http_status) == ("skipped", 0, None)
    row = rec.attempts[-1]
    assert (row.subscription_id, row.event_id, row.event_type, row.attempt, row.status) == (
        "wh_am", "c1", "cx.case.opened.v1", 0, "skipped")
    assert "no Alertmanager form" in row.error and "cx.case.opened.v1" in row.error
