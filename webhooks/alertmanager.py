"""The Prometheus Alertmanager webhook body of one CX Pulse alert event (subscriptions with ``format: alertmanager``).

Alertmanager's ``webhook_config`` payload, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)::

    {"version": "4", "groupKey": str, "truncatedAlerts": int, "status": "firing|resolved",
     "receiver": str, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
     "externalURL": str,
     "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}]}

CX Pulse sends one alert per body (each state change is its own CloudEvent and delivery), so
``commonLabels``/``commonAnnotations`` are that alert's, unless the rule groups its alerts
(``group_by``): a grouped event carries every member in ``data.alerts`` and becomes one body with all
of them, the common labels and annotations being those they share. ``truncatedAlerts`` is 0. The mapping
(``alertmanager_payload``, pure) from the ``cx.alert.*.v1`` event data of ``alerts.evaluator``:

* labels: the rule's ``labels``, then the scope's dimension values, then ``alertname`` (rule name,
  else id), ``rule_id``, ``metric``, ``severity``, ``tenant`` (later ones win: a rule label cannot
  hide the scope or the rule);
* annotations (strings, as Alertmanager's): ``summary``, ``value``, ``n``, ``ci_low``/``ci_high``
  (the 95% interval), ``threshold``, ``condition``, ``window``, ``recovery`` when set, ``event_id``;
* ``startsAt``/``endsAt`` from ``starts_at``/``ends_at``; a firing alert without an end carries
  Alertmanager's zero time ``0001-01-01T00:00:00Z``;
* ``fingerprint``: the alert's (rule, scope, labels) fingerprint;
* group: ``group_labels`` (and ``group_key``) of the event when the evaluator groups alerts, or
  ``group_by`` label names picked from the labels; otherwise the labels the fingerprint is made of
  (``rule_id``, scope, rule labels), so a firing and its resolution share one ``groupKey``, written
  as Alertmanager writes a root-route key: ``{}:{name="value", ...}`` (names sorted);
* ``externalURL`` is ``WebhookSettings.external_url``; ``generatorURL`` links the rule under it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["ZERO_TIME", "alertmanager_payload", "group_key", "is_alert_event"]

VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time: "no end yet" in Alertmanager payloads
_ALERT_PREFIX = "cx.alert."


def is_alert_event(event_type: str) -> bool:
    """Only alert events have an Alertmanager form."""
    return event_type.startswith(_ALERT_PREFIX)


def _text(value: Any) -> str:
    """Annotation text of a value: JSON number/boolean text, strings as they are."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _strings(d: Any) -> dict[str, str]:
    return {str(k): _text(v) for k, v in d.items() if v is not None} if isinstance(d, Mapping) else {}


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager's key of a group on the root route: ``{}:{a="1", b="2"}`` (label values Go-quoted)."""
    inner = ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(group_labels.items()))
    return "{}:{" + inner + "}"


def alertmanager_payload(event: Mapping[str, Any], receiver: str, external_url: str = "") -> dict[str, Any]:
    """The Alertmanager webhook body of one ``cx.alert.*.v1`` CloudEvent (a dict; see the module docstring).

    A grouped event (``data.alerts``, a rule with ``group_by``) gives one body with every member alert;
    ``commonLabels``/``commonAnnotations`` are then what all members share.

    Raises ValueError for an event that is not an alert."""
    if not is_alert_event(str(event.get("type", ""))):
        raise ValueError(f"{event.get('type')!r} is not an alert event: it has no Alertmanager form")
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    members = [m for m in data.get("alerts") or () if isinstance(m, Mapping)] or [data]
    base = external_url.rstrip("/")
    alerts = [_alert(event, m, base) for m in members]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    labels = alerts[0]["labels"]
    rule_id = labels["rule_id"]
    if isinstance(data.get("group_labels"), Mapping):
        group_labels = _strings(data["group_labels"])
    elif isinstance(data.get("group_by"), (list, tuple)):
        group_labels = {k: labels[k] for k in data["group_by"] if k in labels}
    else:
        group_labels = {**_strings(data.get("labels")), **_strings(data.get("scope")), "rule_id": rule_id}
    key = data["group_key"] if isinstance(data.get("group_key"), str) and data["group_key"] else group_key(group_labels)
    return {
        "version": VERSION, "groupKey": key, "truncatedAlerts": 0, "status": status, "receiver": receiver,
        "groupLabels": group_labels, "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]), "externalURL": base, "alerts": alerts,
    }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    """The pairs every map has (Alertmanager's commonLabels / commonAnnotations)."""
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def _alert(event: Mapping[str, Any], data: Mapping[str, Any], base: str) -> dict[str, Any]:
    """One entry of ``alerts[]`` from one alert's event data."""
    rule = data.get("rule") if isinstance(data.get("rule"), Mapping) else {"id": data.get("rule") or ""}
    rule_id = str(rule.get("id") or "")
    status = "resolved" if data.get("status") == "resolved" or str(event["type"]).startswith("cx.alert.resolved") \
        else "firing"
    scope, rule_labels = _strings(data.get("scope")), _strings(data.get("labels"))
    labels = {**rule_labels, **scope, "alertname": str(rule.get("name") or rule_id), "rule_id": rule_id}
    labels.update(_strings({"metric": rule.get("metric"), "severity": data.get("severity"),
                            "tenant": event.get("tenant")}))

    ci = data.get("ci") if isinstance(data.get("ci"), (list, tuple)) and len(data["ci"]) == 2 else (None, None)
    annotations = _strings({
        "value": data.get("value"), "n": data.get("n"), "ci_low": ci[0], "ci_high": ci[1],
        "threshold": data.get("threshold"), "condition": rule.get("condition"), "window": rule.get("window"),
        "recovery": data.get("recovery"), "event_id": event.get("id"),
    })
    annotations["summary"] = _summary(labels["alertname"], status, rule, data)
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": data.get("starts_at") or event.get("time") or ZERO_TIME,
        "endsAt": data.get("ends_at") or ZERO_TIME,
        "generatorURL": f"{base}/v1/alert-rules/{rule_id}" if base and rule_id else "",
        "fingerprint": str(data.get("fingerprint") or event.get("subject") or ""),
    }


def _summary(name: str, status: str, rule: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """One line a pager can show, e.g. ``CSAT chat: csat = 50.0 (n = 40), below 80.0 over 1h``."""
    metric = rule.get("metric") or "value"
    head = f"{name}: {metric} = {_text(data.get('value'))} (n = {_text(data.get('n'))})"
    cond, thr, window = rule.get("condition"), data.get("threshold"), rule.get("window")
    if cond and thr is not None:
        head += f", {cond} {_text(thr)}"
    if window:
        head += f" over {window}"
    return head + (" - resolved" if status == "resolved" else "")
