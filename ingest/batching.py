"""Pack validated records into Kafka messages (``schemas/records.py`` format).

One message carries many records, so a 10k-event request is a handful of
produce calls rather than 10k. Records are grouped by (topic, tenant, bucket):
the bucket comes from ``partition_bucket`` and is used directly as the
partition, so an interaction's touchpoint, invitation and answers meet on one
partition whatever the producer's client library would have hashed the key to.
The tenant is part of the group because the message key (``tenant:bucket``)
names exactly one tenant.
"""
from __future__ import annotations

from collections.abc import Iterable

import orjson

from notifications.messages import OutgoingMessage
from schemas.records import Record, message_key, partition_bucket

__all__ = ["RecordTooLarge", "group_for_kafka"]

_ARRAY_OVERHEAD = 2  # the brackets of the JSON array


class RecordTooLarge(ValueError):
    """A single record does not fit in one Kafka message even alone.

    Raised before anything is produced so a request is never half-written.
    """

    def __init__(self, record_ids: list[str], max_record_bytes: int) -> None:
        super().__init__(
            f"{len(record_ids)} record(s) exceed max_record_bytes={max_record_bytes} on their own: "
            f"{record_ids[:5]}"
        )
        self.record_ids = record_ids
        self.max_record_bytes = max_record_bytes


def group_for_kafka(
    records: Iterable[Record], topics: dict[str, str], partitions: int, max_record_bytes: int
) -> list[OutgoingMessage]:
    """Group records into messages of at most ``max_record_bytes`` each.

    ``topics`` is ``core.topics.topic_names(prefix)``. Within a group,
    records keep their input order and fill messages greedily in that order,
    so the consumer sees them in the order they were accepted. Each record is
    encoded once; a message value is the records' encodings joined into an
    array, which is byte-for-byte ``encode_records`` of the same records, and its
    ``count`` is the number of records in it.
    """
    groups: dict[tuple[str, str, int], list[bytes]] = {}
    too_large: list[str] = []
    limit = max_record_bytes - _ARRAY_OVERHEAD
    for record in records:
        tenant = record["tenant"]
        encoded = orjson.dumps(record)
        if len(encoded) > limit:
            too_large.append(record["id"])
            continue
        bucket = partition_bucket(tenant, record, partitions)
        groups.setdefault((topics[record["type"]], tenant, bucket), []).append(encoded)
    if too_large:
        raise RecordTooLarge(too_large, max_record_bytes)

    messages: list[OutgoingMessage] = []
    for (topic, tenant, bucket), encoded_records in groups.items():
        key = message_key(tenant, bucket)
        for chunk in _chunks(encoded_records, limit):
            value = b"[" + b",".join(chunk) + b"]"
            messages.append(OutgoingMessage(topic, bucket, key, value, len(chunk)))
    return messages


def _chunks(encoded_records: list[bytes], limit: int) -> Iterable[list[bytes]]:
    """Greedy split: each chunk's encodings plus separating commas stay within ``limit``."""
    chunk: list[bytes] = []
    size = 0
    for encoded in encoded_records:
        added = len(encoded) + (1 if chunk else 0)
        if chunk and size + added > limit:
            yield chunk
            chunk, size, added = [], 0, len(encoded)
        chunk.append(encoded)
        size += added
    if chunk:
        yield chunk
