"""Reading a notification back: the CloudEvent of one message of the notifications topic.

``Notification.parse`` is what the webhook agent delivers (``webhooks.delivery``); the
replay requests that share the topic are read by ``notifications.replay.decode_message``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Notification"]


@dataclass(frozen=True)
class Notification:
    """One CloudEvent of the notifications topic (``body`` is sent verbatim, so signatures cover it)."""

    tenant: str
    event_id: str
    source: str
    type: str
    data: dict[str, Any]
    body: bytes
    routes: tuple[str, ...] | None  # data.routes: subscription ids; None = every matching subscription
    replay_of: str | None = None    # a dead letter's delivery id: deliver to its subscription only

    @classmethod
    def parse(cls, body: bytes) -> "Notification":
        """Raises ValueError for anything that is not a deliverable CloudEvent with a tenant."""
        try:
            ce = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON: {exc}") from None
        if not isinstance(ce, dict):
            raise ValueError("a notification is one CloudEvent (a JSON object)")
        missing = [k for k in ("id", "source", "type", "tenant") if not isinstance(ce.get(k), str) or not ce[k]]
        if missing:
            raise ValueError(f"missing CloudEvent attribute(s) {missing}")
        data = ce.get("data") if isinstance(ce.get("data"), dict) else {}
        routes = data.get("routes")
        if routes is not None and not (isinstance(routes, list) and all(isinstance(r, str) for r in routes)):
            raise ValueError("data.routes must be a list of subscription ids")
        return cls(tenant=ce["tenant"], event_id=ce["id"], source=ce["source"], type=ce["type"], data=data,
                   body=body, routes=tuple(routes) if routes is not None else None)
