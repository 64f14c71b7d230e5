"""The evaluator's metrics: one round observed, and the series of every known label value.

The metric objects are ``core.metrics``; importing ``alerts`` creates the label series, so
rates and ratios exist before the first round (in the API and the worker alike).
"""
from __future__ import annotations

import time
from typing import Any

from alerts.state import NotificationKind, Status
from core.metrics import (
    ALERT_EVALUATIONS, ALERT_LAST_EVALUATION, ALERT_NOTIFICATIONS, ALERT_RULES_EVALUATED, ALERTS,
)

_ALERT_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


def observe_alert_round(rules: list[tuple[str, Any]], states: dict[Any, Any], transitions: list[Any]) -> None:
    """One successful evaluator round: ``alerts.evaluator.evaluate_once``'s rules, prior states, transitions."""
    ALERT_EVALUATIONS.labels("ok").inc()
    ALERT_LAST_EVALUATION.set(time.time())
    ALERT_RULES_EVALUATED.inc(sum(1 for _, rule in rules if rule.enabled))
    now = dict(states)
    for t in transitions:
        now[(t.tenant, t.fingerprint)] = t.after
        for note in t.notifications:
            ALERT_NOTIFICATIONS.labels(note.kind.value).inc()
    by_status: dict[str, int] = {}
    for state in now.values():
        by_status[state.status.value] = by_status.get(state.status.value, 0) + 1
    for status in _ALERT_STATUSES:
        ALERTS.labels(status).set(by_status.get(status, 0))


def _init_label_values() -> None:
    for outcome in ("ok", "error"):
        ALERT_EVALUATIONS.labels(outcome)
    for status in _ALERT_STATUSES:
        ALERTS.labels(status)
    for kind in NotificationKind:
        ALERT_NOTIFICATIONS.labels(kind.value)


_init_label_values()
