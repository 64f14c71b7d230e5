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
carries; the allowlist is ``core.dimensions.all_dimensions()``: the built-in ones and the
configured ``custom_dimensions``, taken from ``data``), ``attributes``
(unknown ``data`` fields, kept verbatim).

Touchpoint records add ``wait_s``, ``handle_s`` (float | None) and
``resolved``, ``first_contact``, ``transferred``, ``abandoned``, ``converted``
(bool | None). Survey-response records add ``survey_id``, ``nps`` (0-10),
``csat`` (1-5), ``ces`` (1-7) (int | None), ``fcr`` (bool | None),
``comment`` (str | None), ``weight`` (float | None); their ``dims`` are the
respondent's overrides. Invitation records add ``survey_id`` and ``via``. Signal records
(``cx.signal.v1``) add ``kind`` (review, mention, like, share, comment), ``rating`` (1-5, reviews),
``sentiment`` (positive, neutral, negative) and ``score`` (-1..1) (mentions, one of them),
``platform``, ``brand`` and ``text`` (str | None); their ``dims`` are their own (``location`` is
``site``), as a touchpoint's.
Outcome records (``cx.outcome.v1``) add ``kind`` (``schemas.events.OutcomeKind`` value),
``amount`` (decimal text, e.g. ``"19.99"``: exact, never a binary float), ``currency``
(ISO 4217), ``account`` (keyed-hash pseudonym of ``account_id``, "" if none) and ``product``
(str | None); their ``dims`` are their own. They travel on their own topic and are stored by
the ``outcomes-ledger`` agent, not the window agent (``WINDOW_EVENT_TYPES``).

While the stream processor handles a record it adds *processing annotations*,
keys starting with ``_`` that never travel in a Kafka message (see
:class:`Annotations`; use the constants ``SHARD``, ``OFFSET``, ``EVENT_KEY``,
``EFFECTIVE_DIMS``, ``ATTRIBUTED``, ``ANSWERED``, never the strings).
"""
from __future__ import annotations

import zlib
from enum import Enum
from typing import Any, TypedDict

import orjson

Record = dict[str, Any]

# -- processing annotations -----------------------------------------------------
SHARD = "_shard"
OFFSET = "_offset"
EVENT_KEY = "_key"
EFFECTIVE_DIMS = "_dims"
ATTRIBUTED = "_attributed"
ANSWERED = "_answered"


# The keys start with "_", so the class form cannot name them; they are the constants above.
_AnnotationFields = TypedDict("_AnnotationFields", {
    SHARD: int, OFFSET: int, EVENT_KEY: int, EFFECTIVE_DIMS: dict[str, str], ATTRIBUTED: bool, ANSWERED: bool,
}, total=False)


class Annotations(_AnnotationFields):
    """What the stream processor adds to a record, who sets each key and who reads it.

    ``SHARD`` (``_shard``, int): the Kafka partition the record came from, which owns its state.
    Set by ``stream_processors.agents`` (from the message) and ``warehouse.queries`` (records
    read back from the ledger); read by ``stream_processors.checkpoint`` (which shard's state)
    and ``warehouse.writer`` (the ``kafka_partition`` column).

    ``OFFSET`` (``_offset``, int): the Kafka offset of the record's message. Set by
    ``stream_processors.agents`` and ``warehouse.queries``; read by ``warehouse.writer``
    (``kafka_offset``).

    ``EVENT_KEY`` (``_key``, int): the 64-bit ``warehouse.tables.event_key`` of (tenant,
    source, id). Set by ``stream_processors.checkpoint`` (dedup) and ``warehouse.queries``;
    read by ``warehouse.queries.stored_events`` (the dedup lookup) and ``warehouse.writer``
    (``event_key``).

    ``EFFECTIVE_DIMS`` (``_dims``, dimension -> value): the dimensions an answer or an
    invitation counts under once attribution ran, its touchpoint's with its own overrides on
    top (touchpoints have none: their ``dims`` are their own). Set by
    ``stream_processors.checkpoint`` (attribution) and ``warehouse.queries`` (the stored
    dimension columns); read through :func:`effective_dims` by
    ``stream_processors.aggregators``, ``stream_processors.checkpoint`` and
    ``warehouse.writer`` (the dimension columns).

    ``ATTRIBUTED`` (``_attributed``, bool): whether an answer or invitation has its
    touchpoint's dimensions (False while it waits for the touchpoint). Set by
    ``stream_processors.checkpoint`` and ``warehouse.queries``; read by ``warehouse.writer``
    (``attributed``).

    ``ANSWERED`` (``_answered``, bool): on invitations, whether the ledger (or the batch)
    holds an answer of the same tenant and interaction. Set by
    ``stream_processors.checkpoint`` (the invitation join); read by ``kpi.counts``
    (``invitations_answered``; kpi imports nothing of ours, so it spells the key itself).
    """


def effective_dims(record: Record) -> dict[str, str]:
    """Dimensions a record counts under: touchpoints their own, answers their attributed ones."""
    return record.get(EFFECTIVE_DIMS, record.get("dims") or {})


class EventType(str, Enum):
    touchpoint = "cx.touchpoint.v1"
    survey_response = "cx.survey.response.v1"
    survey_invitation = "cx.survey.invitation.v1"
    signal = "cx.signal.v1"
    outcome = "cx.outcome.v1"


#: The event types the ``kpi-windows`` agent counts (its typed topics and its ledgers). Business
#: outcomes are not among them: they are joined to the experience on read (``warehouse.outcome_queries``).
WINDOW_EVENT_TYPES: tuple[EventType, ...] = (
    EventType.touchpoint, EventType.survey_response, EventType.survey_invitation, EventType.signal,
)


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
