"""The one Kafka message type CX Pulse produces, and the keying of notification messages.

``OutgoingMessage`` is what ``notifications.producer.Publisher.publish`` sends: ingest's
record batches (``ingest.batching``), the alert and case CloudEvents and the webhook
replay requests. A notification is keyed ``tenant:subject`` (an alert's fingerprint, a
group's key, a case id), so one alert's, group's or case's events stay in order on one
partition.
"""
from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import orjson

__all__ = ["OutgoingMessage", "notification_message"]


class OutgoingMessage(NamedTuple):
    topic: str
    #: None lets the producer's partitioner pick the partition from the key
    partition: int | None
    key: bytes | None
    value: bytes
    #: records in ``value`` (an ingest batch); the ingest log counts events with it
    count: int = 1


def notification_message(topic: str, partitions: int, event: dict[str, Any]) -> OutgoingMessage:
    """One CloudEvent (``notifications.envelope.cloudevent``) as a message keyed ``tenant:subject``."""
    key = f"{event['tenant']}:{event['subject']}".encode()
    return OutgoingMessage(topic, zlib.crc32(key) % partitions, key, orjson.dumps(event))
