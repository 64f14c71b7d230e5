"""The internal record contract between ingest and the stream processors.

Validated CloudEvents are flattened into one *record* (a plain dict, orjson
encoded) per event. Many records travel in one Kafka message: a JSON array
keyed ``"<tenant>:<bucket>"`` where ``bucket`` is derived from the
interaction, so an interaction's touchpoint, invitation and answers always
share a partition (the attribution join needs no repartition).

Every record has:

``tenant``, ``id``, ``source``, ``type`` (one of ``EventType``), ``time_ms``
(event time, UTC epoch milliseconds), ``subject`` (str | None),
``interaction_id`` (str, "" if none), ``customer`` (keyed-hash pseudonym,
"" if none), ``dims`` (dimension name -> str; only the dimensions the event
carries; the allowlist is ``core.dimensions.DIMENSIONS``), ``attributes``
(unknown ``data`` fields, kept verbatim).

Touchpoint records add ``wait_s``, ``handle_s`` (float | None) and
``resolved``, ``first_contact``, ``transferred``, ``abandoned``, ``converted``
(bool | None). Survey-response records add ``survey_id``, ``nps`` (0-10),
``csat`` (1-5), ``ces`` (1-7) (int | None), ``fcr`` (bool | None),
``comment`` (str | None), ``weight`` (float | None); their ``dims`` are the
respondent's overrides. Invitation records add ``survey_id`` and ``via``.
"""
from __future__ import annotations

import zlib
from enum import Enum
from typing import Any

import orjson

Record = dict[str, Any]


class EventType(str, Enum):
    touchpoint = "cx.touchpoint.v1"
    survey_response = "cx.survey.response.v1"
    survey_invitation = "cx.survey.invitation.v1"


def topic_names(prefix: str) -> dict[str, str]:
    """Every topic CX Pulse uses, by role."""
    return {
        EventType.touchpoint.value: f"{prefix}.touchpoints.v1",
        EventType.survey_response.value: f"{prefix}.survey-responses.v1",
        EventType.survey_invitation.value: f"{prefix}.survey-invitations.v1",
        "raw": f"{prefix}.events.raw",
        "dead_letter": f"{prefix}.events.dlq",
        "notifications": f"{prefix}.notifications.v1",
    }


def partition_bucket(tenant: str, record: Record, buckets: int) -> int:
    """Bucket of a record: its interaction's, else its own id's. Stable across processes."""
    anchor = record.get("interaction_id") or record["id"]
    return zlib.crc32(f"{tenant}\x1f{anchor}".encode()) % buckets


def message_key(tenant: str, bucket: int) -> bytes:
    return f"{tenant}:{bucket}".encode()


def encode_records(records: list[Record]) -> bytes:
    return orjson.dumps(records)


def decode_records(value: bytes) -> list[Record]:
    data = orjson.loads(value)
    if not isinstance(data, list):
        raise ValueError("a CX Pulse message is a JSON array of records")
    return data
