"""The ``cx.case.*.v1`` CloudEvents, published to the notifications topic like alert notifications.

The envelope and keying are ``notifications``' (structured mode, ``tenant`` extension, keyed
``tenant:case_id`` so a case's events stay in order on one partition). The event id is derived
from the case and the kind, so a republished notification (at-least-once) carries the same id and
receivers dedupe. ``data.routes`` is ``CaseSettings.routes``, or null when none are configured: the
webhook agent then delivers to every subscription whose event types and filters match (an empty
list would mean "to no subscription", ``webhooks.delivery.matching_subscriptions``).
"""
from __future__ import annotations

from typing import Any, Literal

from cases.state import Case
from notifications import OutgoingMessage, cloudevent, event_id, iso_time, notification_message

EVENT_SOURCE = "/cxpulse/cases"
CaseEventKind = Literal["opened", "escalated", "closed"]
CASE_EVENT_TYPES: dict[str, str] = {k: f"cx.case.{k}.v1" for k in ("opened", "escalated", "closed")}


def case_event(kind: CaseEventKind, case: Case, at_ms: int, routes: list[str] | None = None) -> dict[str, Any]:
    data = {
        "case_id": case.id, "status": case.state.value, "escalated": case.escalated, "owner": case.owner,
        "severity": case.severity, "reasons": list(case.reasons), "scope": case.scope, "routes": routes or None,
        "customer": case.customer, "interaction_id": case.interaction_id, "survey_id": case.survey_id,
        "response_id": case.response_id,
        "answers": {k: v for k, v in (("nps", case.nps), ("csat", case.csat), ("ces", case.ces),
                                      ("fcr", case.fcr)) if v is not None},
        "comment": case.comment, "opened_at": iso_time(case.opened_at_ms), "due_at": iso_time(case.due_at_ms),
        "acknowledged_at": iso_time(case.acked_at_ms), "closed_at": iso_time(case.closed_at_ms),
        "escalated_at": iso_time(case.escalated_at_ms), "resolution": case.resolution or None,
    }
    return cloudevent(case.tenant, event_id(case.tenant, case.id, kind), EVENT_SOURCE, CASE_EVENT_TYPES[kind],
                      case.id, at_ms, data)


def case_message(kind: CaseEventKind, case: Case, at_ms: int, topic: str, partitions: int,
                 routes: list[str] | None = None) -> OutgoingMessage:
    return notification_message(topic, partitions, case_event(kind, case, at_ms, routes))
