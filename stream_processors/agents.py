"""Faust agents: they only wire topics to the checkpointer and the validator.

* ``kpi-windows`` reads the typed topics in micro-batches (``take_events``)
  and hands each batch to ``Checkpointer.commit``; Faust acks the batch only
  after the commit returned, i.e. after the warehouse holds it.
* ``outcomes-ledger`` reads the business-outcome topic in micro-batches and hands
  each to ``OutcomeLedger.commit`` (``stream_processors.outcome_ledger``); acked likewise
  only once stored.
* ``raw-validator`` reads CloudEvents that producers wrote straight to the
  raw topic in either Kafka content mode (structured JSON, or binary with
  ``ce_*`` headers: ``ingest/binding.py``), forwards valid ones to the typed
  topics (same keying as HTTP ingest) and sends each invalid one to the
  dead-letter topic with its reason, its original value and headers.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, Sequence

import faust
import orjson

from core import metrics
from core.aspects import validate_specs
from core.settings import Settings
from ingest.batching import group_for_kafka
from ingest.pseudonymize import Pseudonymizer
from ingest.validation import validate_raw_message
from notifications import OutgoingMessage
from schemas.records import OFFSET, SHARD, WINDOW_EVENT_TYPES, EventType, Record, decode_records
from stream_processors import panel_flags
from stream_processors.app import AppPublisher
from stream_processors.checkpoint import Checkpointer
from stream_processors.outcome_ledger import OutcomeLedger
from stream_processors.topics import Topics

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, checkpointer: Checkpointer, settings: Settings,
             pseudonymizer: Pseudonymizer) -> None:
    batch, within = settings.stream.batch_records, settings.stream.batch_within_s
    typed_names = set(topics.typed_names)
    publisher = AppPublisher(app)
    aspect_specs = validate_specs(settings.aspect_inputs())

    async def decoded_batch(events, check) -> list[Record]:
        """The records of a batch of typed-topic messages, each annotated with its shard and offset
        and passed to ``check``; a message that does not decode or check goes to the DLQ whole."""
        records: list[Record] = []
        for event in events:
            msg = event.message
            try:
                decoded = decode_records(msg.value)
                for rec in decoded:
                    rec[SHARD] = msg.partition
                    rec[OFFSET] = msg.offset
                    check(rec)
            except Exception as exc:  # noqa: BLE001 - any bad message goes to the DLQ
                await send_dead_letter(publisher, topics, msg, "undecodable", str(exc))
                continue
            records.extend(decoded)
        return records

    @app.agent(topics.typed, name="kpi-windows")
    async def kpi_windows(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within=within):
            received = time.time()
            for event in events:  # Faust gives the Kafka timestamp in seconds
                metrics.RECEIVE_DELAY.observe(max(received - event.message.timestamp, 0.0))
            records = await decoded_batch(events, _check_record)
            try:
                await checkpointer.commit(records)
            except Exception:  # noqa: BLE001
                # Never let take_events ack a batch that is not stored: stop hard,
                # the restart replays it from the last committed offset.
                log.exception("commit failed; exiting so the batch is replayed")
                os._exit(70)
            _observe_lag(app, events)
            now = time.time()
            for event in events:
                metrics.FRESHNESS.observe(max(now - event.message.timestamp, 0.0))

    outcome_ledger = OutcomeLedger(checkpointer.warehouse)

    @app.agent(topics.outcomes, name="outcomes-ledger")
    async def outcomes_ledger(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within=within):
            records = await decoded_batch(events, _check_outcome)
            try:
                await outcome_ledger.commit(records)
            except Exception:  # noqa: BLE001
                log.exception("outcome commit failed; exiting so the batch is replayed")
                os._exit(70)

    @app.agent(topics.raw, name="raw-validator")
    async def raw_validator(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within=within):
            accepted: list[Record] = []
            for event in events:
                msg = event.message
                records, rejections = validate_raw_message(msg.value, msg.headers, pseudonymizer,
                                                              custom=tuple(settings.custom_dimensions),
                                                              aspects=aspect_specs)
                accepted.extend(records)
                for rej in rejections:
                    await send_dead_letter(publisher, topics, msg, rej.path, rej.error, index=rej.index, value=rej.raw)
            outgoing = group_for_kafka(accepted, topics.names, settings.kafka.partitions,
                                       settings.kafka.max_record_bytes)
            await publisher.publish(outgoing)  # acked only after the typed topics hold them

    @app.on_partitions_assigned.connect
    async def _on_assigned(sender: Any, assigned: set, **_: Any) -> None:
        # the whole new assignment (Faust: it replaces the previous one): is the respondent rule exact?
        # The partition count from the consumer's metadata (a topic may predate `kafka.partitions`).
        known = [n for n in (app.consumer.topic_partitions(t) for t in typed_names) if n]
        panel_flags.observe_assignment(assigned, typed_names, max(known) if known else settings.kafka.partitions,
                                       settings.panel)

    @app.on_partitions_revoked.connect
    async def _on_revoked(sender: Any, revoked: set, **_: Any) -> None:
        checkpointer.revoke(sorted({tp.partition for tp in revoked if tp.topic in typed_names}))


_TYPES = frozenset(t.value for t in WINDOW_EVENT_TYPES)
_OUTCOME_TYPES = frozenset({EventType.outcome.value})


def _check_outcome(rec: Record) -> None:
    """The outcome topic carries outcome records of ingest: the common fields and kind, amount, currency."""
    _check_record(rec, _OUTCOME_TYPES)
    if not (isinstance(rec.get("kind"), str) and isinstance(rec.get("amount"), str)
            and isinstance(rec.get("currency"), str)):
        raise ValueError("not a CX Pulse outcome record (needs kind, amount and currency)")


def _check_record(rec: Record, types: frozenset[str] = _TYPES) -> None:
    """Typed topics carry records ingest produced; anything else is a bad message (DLQ)."""
    try:
        ok = (rec["type"] in types and rec["tenant"] and rec["id"] and rec["source"]
              and type(rec["time_ms"]) is int)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ValueError("not a CX Pulse record (needs type, tenant, id, source and integer time_ms)")


async def send_dead_letter(publisher: AppPublisher, topics: Topics, msg: Any, path: str, error: str,
                           index: int | None = None, value: bytes | None = None) -> None:
    """The dead-letter record keeps the original bytes (or the one bad event), the original
    headers (``[name, UTF-8 value]`` pairs: a binary-mode event's attributes) and where they came from."""
    value = (msg.value or b"") if value is None else value
    body = {
        "reason": error, "path": path, "index": index,
        "topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
        "value": value.decode("utf-8", errors="replace"),
        "headers": _header_pairs(msg.headers),
    }
    await publisher.publish([OutgoingMessage(topics.dead_letter.get_topic_name(), None, msg.key, orjson.dumps(body))])
    metrics.DEAD_LETTERS.labels(reason=path).inc()


def _header_pairs(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> list[list[str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [[name, raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else
             ("" if raw is None else str(raw))] for name, raw in pairs]


def _observe_lag(app: faust.App, events: Sequence[faust.EventT]) -> None:
    last: dict[Any, int] = {}
    for e in events:
        last[e.message.tp] = max(last.get(e.message.tp, -1), e.message.offset)
    for tp, offset in last.items():
        high = app.consumer.highwater(tp)
        if high is not None:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(high - offset - 1, 0))
