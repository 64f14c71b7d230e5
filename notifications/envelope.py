"""The CloudEvent envelope of every notification (alerts' ``cx.alert.*.v1``, cases' ``cx.case.*.v1``).

Structured mode, one event per Kafka message, with the ``tenant`` extension attribute
the webhook agent routes on. The event id is a hash of what identifies the change (never
a random value), so a republished notification (at-least-once) carries the same id and
receivers dedupe on it.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

__all__ = ["cloudevent", "event_id", "iso_time"]


def event_id(*parts: object) -> str:
    """A stable event id: the hash of ``parts`` (tenant first) joined by the unit separator."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def iso_time(ms: int | None) -> str | None:
    """Epoch milliseconds as RFC 3339 UTC (``...Z``), the form of every time in a notification."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def cloudevent(tenant: str, eid: str, source: str, type_: str, subject: str, at_ms: int,
               data: dict[str, Any]) -> dict[str, Any]:
    """The structured-mode CloudEvent; its key order is the wire order (orjson keeps it)."""
    return {
        "specversion": "1.0", "id": eid, "source": source, "type": type_,
        "subject": subject, "time": iso_time(at_ms), "datacontenttype": "application/json", "tenant": tenant,
        "data": data,
    }
