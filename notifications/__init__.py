"""Notifications and the Kafka messages CX Pulse produces: one owner for each piece.

* ``messages`` — ``OutgoingMessage``, the one message type every producer path sends
  (ingest batches, alert and case CloudEvents, webhook replays), and the
  ``tenant:subject`` keying of notifications;
* ``envelope`` — the CloudEvent envelope, stable event ids and times of alerts and cases;
* ``parse`` — ``Notification``, a message of the notifications topic read back;
* ``replay`` — the webhook replay requests that share the topic (build, decode);
* ``erasure`` — ``ErasureCommand``, broadcast to every partition of the erasures topic;
* ``producer`` — ``Publisher``, the one publish-and-wait-for-acks.

The topic names are ``core.topics``. Alerts (``alerts.evaluator``) and cases
(``cases.events``) put their event data in this envelope and keying; the webhook API
publishes ``replay_message``s; the webhook agent (``stream_processors.webhook_agent``)
reads the topic with ``decode_message``; ingest batches and the agents' forwarding
and dead letters go through the same ``Publisher.publish``.
"""
from notifications.erasure import ErasureCommand, decode_erasure, erasure_messages
from notifications.envelope import cloudevent, event_id, iso_time
from notifications.messages import OutgoingMessage, notification_message
from notifications.parse import Notification
from notifications.producer import Acked, Publisher
from notifications.replay import REPLAY_KEY, decode_message, encode_replay, replay_message

__all__ = [
    "Acked", "ErasureCommand", "Notification", "OutgoingMessage", "Publisher", "REPLAY_KEY", "cloudevent",
    "decode_erasure", "decode_message", "encode_replay", "erasure_messages", "event_id", "iso_time",
    "notification_message", "replay_message",
]
