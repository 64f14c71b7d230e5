"""The ``cx.case.*.v1`` CloudEvents, published to the notifications topic like alert notifications.

Structured mode, one event per Kafka message, keyed ``tenant:case_id`` (a case's events stay in
order on one partition), ``tenant`` extension attribute. The event id is derived from the case and
the kind, so a republished notification (at-least-once) carries the same id and receivers dedupe.
``data.routes`` is ``CaseSettings.routes``, or null when none are configured: the webhook agent then
delivers to every subscription whose event types and filters match (an empty list would mean "to
no subscription", ``webhooks.delivery.matching_subscriptions``).
"""
from __future__ import annotations

import hashlib
import zlib
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple

import orjson

from cases.state import Case

EVENT_SOURCE = "/cxpulse/cases"
CaseEventKind = Literal["opened", "escalated", "closed"]
CASE_EVENT_TYPES: dict[str, str] = {k: f"cx.case.{k}.v1" for k in ("opened", "escalated", "closed")}


class CaseMessage(NamedTuple):
    """What ``ingest.publisher.Publisher.publish`` (or a Faust producer) sends."""

    topic: str
    partition: int
    key: bytes
    value: bytes


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def case_event(kind: CaseEventKind, case: Case, at_ms: int, routes: list[str] | None = None) -> dict[str, Any]:
    eid = hashlib.sha256(f"{case.tenant}\x1f{case.id}\x1f{kind}".encode()).hexdigest()[:32]
    return {
        "specversion": "1.0", "id": eid, "source": EVENT_SOURCE, "type": CASE_EVENT_TYPES[kind],
        "subject": case.id, "time": _iso(at_ms), "datacontenttype": "application/json", "tenant": case.tenant,
        "data": {
            "case_id": case.id, "status": case.state.value, "escalated": case.escalated, "owner": case.owner,
            "severity": case.severity, "reasons": list(case.reasons), "scope": case.scope, "routes": routes or None,
            "customer": case.customer, "interaction_id": case.interaction_id, "survey_id": case.survey_id,
            "response_id": case.response_id,
            "answers": {k: v for k, v in (("nps", case.nps), ("csat", case.csat), ("ces", case.ces),
                                          ("fcr", case.fcr)) if v is not None},
            "comment": case.comment, "opened_at": _iso(case.opened_at_ms), "due_at": _iso(case.due_at_ms),
            "acknowledged_at": _iso(case.acked_at_ms), "closed_at": _iso(case.closed_at_ms),
            "escalated_at": _iso(case.escalated_at_ms), "resolution": case.resolution or None,
        },
    }


def case_message(kind: CaseEventKind, case: Case, at_ms: int, topic: str, partitions: int,
                 routes: list[str] | None = None) -> CaseMessage:
    key = f"{case.tenant}:{case.id}".encode()
    return CaseMessage(topic, zlib.crc32(key) % partitions, key, orjson.dumps(case_event(kind, case, at_ms, routes)))
