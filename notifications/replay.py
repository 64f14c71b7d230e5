"""Replay requests: the other kind of message on the notifications topic, next to CloudEvents.

A replay is published by ``POST /v1/webhooks/deliveries/{id}/replay`` and delivered by the
agent like any notification (never from the request path), to the dead letter's
subscription only, with the same body and ``webhook-id``. It is keyed by tenant and
partitioned by the producer (no fixed partition: a replay has no order to keep).
"""
from __future__ import annotations

from dataclasses import replace

import orjson

from notifications.messages import OutgoingMessage
from notifications.parse import Notification

__all__ = ["REPLAY_KEY", "decode_message", "encode_replay", "replay_message"]

REPLAY_KEY = "cxpulse_webhook_replay"


def encode_replay(tenant: str, delivery_id: str, subscription_id: str, body: bytes) -> bytes:
    return orjson.dumps({REPLAY_KEY: {"tenant": tenant, "delivery_id": delivery_id,
                                      "subscription_id": subscription_id, "body": body.decode()}})


def replay_message(topic: str, tenant: str, delivery_id: str, subscription_id: str, body: bytes) -> OutgoingMessage:
    """The request to deliver dead letter ``delivery_id`` (its CloudEvent ``body``) again."""
    return OutgoingMessage(topic, None, tenant.encode(), encode_replay(tenant, delivery_id, subscription_id, body))


def decode_message(value: bytes) -> tuple[Notification, str | None]:
    """The notification and, for a replay, the only subscription id to deliver to. Raises ValueError."""
    if REPLAY_KEY.encode() in value[:64]:
        env = orjson.loads(value).get(REPLAY_KEY)
        if isinstance(env, dict) and all(isinstance(env.get(k), str) for k in
                                         ("tenant", "delivery_id", "subscription_id", "body")):
            n = Notification.parse(env["body"].encode())
            if n.tenant != env["tenant"]:
                raise ValueError("replay tenant does not match the event's tenant")
            return replace(n, replay_of=env["delivery_id"]), env["subscription_id"]
        raise ValueError("malformed replay request")
    return Notification.parse(value), None
