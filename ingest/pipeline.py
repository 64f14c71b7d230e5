"""The whole ingest transformation of one request body, runnable off the event loop.

``prepare_batch`` is pure and picklable: parse, validate, pseudonymize, group
into Kafka messages. It is CPU-bound (~20 µs an event), so ``IngestPipeline``
runs it in a small process pool: in the all-in-one process the event loop is
shared with the Faust worker, and the GIL would otherwise make every request
steal time from the stream processors.
"""
from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from core.aspects import AspectSpec
from ingest.batching import group_for_kafka
from ingest.binding import HTTP, binary_event, header_error, is_binary, structured_media_type
from ingest.pseudonymize import Pseudonymizer
from ingest.validation import TimeHorizon, parse_body, validate_items
from notifications.messages import OutgoingMessage
from schemas.events import Rejection


class TooManyEvents(ValueError):
    """More events in one body than the configured maximum (HTTP 413)."""


@dataclass(frozen=True)
class BatchSpec:
    """What ``prepare_batch`` needs besides the body: all plain, picklable values."""

    tenant: str
    pseudonym_key: bytes
    topics: dict[str, str]
    partitions: int
    max_record_bytes: int
    max_events: int
    #: Event times accepted, with the server clock read when the request arrived
    #: (None: the default horizon around the clock of the validating process).
    horizon: TimeHorizon | None = None
    #: ``custom_dimensions`` of the settings: the ``data`` fields that are dimensions, not attributes.
    custom_dimensions: tuple[str, ...] = ()
    #: ``aspects`` of the settings (``core.aspects.AspectSpec`` by name): the rated aspects answers may carry.
    aspects: dict[str, AspectSpec] = field(default_factory=dict)


@dataclass
class PreparedBatch:
    messages: list[OutgoingMessage]
    accepted: int
    rejected: list[Rejection]
    accepted_by_type: dict[str, int] = field(default_factory=dict)
    #: Items dropped as a resend of an id accepted earlier in the body (not rejections).
    duplicates: int = 0


@functools.lru_cache(maxsize=8)
def _pseudonymizer(key: bytes) -> Pseudonymizer:
    return Pseudonymizer(key)


def prepare_batch(body: bytes, content_type: str, spec: BatchSpec,
                  attributes: dict[str, str] | None = None) -> PreparedBatch:
    """Body -> Kafka messages and rejections. Raises the ingest errors of ``validation``,
    ``batching.RecordTooLarge`` and ``TooManyEvents``; nothing is produced then.

    ``attributes`` are the ``ce-*`` request headers (``binding.HTTP.attributes``):
    when they make the request binary mode, the body is the one event's ``data``
    and rejections name the header (``ce-type``); a non-JSON ``Content-Type``
    is then ``UnsupportedMediaType`` and malformed data ``InvalidBody``.
    """
    binary = bool(attributes) and structured_media_type(content_type) is None and is_binary(attributes)
    items = [binary_event(HTTP, attributes, content_type, body)] if binary else parse_body(body, content_type)
    if len(items) > spec.max_events:
        raise TooManyEvents(f"batch of {len(items)} events exceeds {spec.max_events}")
    records, rejected = validate_items(items, spec.tenant, _pseudonymizer(spec.pseudonym_key), spec.horizon,
                                        spec.custom_dimensions, spec.aspects)
    if binary:
        rejected = [_in_headers(rejection) for rejection in rejected]
    messages = group_for_kafka(records, spec.topics, spec.partitions, spec.max_record_bytes)
    by_type = Counter(r["type"] for r in records)
    duplicates = len(items) - len(records) - len(rejected)
    return PreparedBatch(messages, len(records), rejected, dict(by_type), duplicates)


def _in_headers(rejection: Rejection) -> Rejection:
    """A rejection of a binary-mode event, naming the ``ce-*`` header to fix."""
    path, error = header_error(HTTP, rejection.path, rejection.error)
    return Rejection(index=rejection.index, path=path, error=error)


class IngestPipeline:
    """Runs ``prepare_batch`` in ``processes`` worker processes (0: in the event loop)."""

    def __init__(self, processes: int) -> None:
        self._pool = (
            ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
            if processes > 0 else None
        )

    async def prepare(self, body: bytes, content_type: str, spec: BatchSpec,
                      attributes: dict[str, str] | None = None) -> PreparedBatch:
        if self._pool is None:
            return prepare_batch(body, content_type, spec, attributes)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, prepare_batch, body, content_type, spec, attributes)

    async def warm_up(self, spec: BatchSpec) -> None:
        """Start the workers (and their imports) before the first request needs them."""
        if self._pool is not None:
            await asyncio.gather(*(self.prepare(b"[]", "application/json", spec)
                                   for _ in range(self._pool._max_workers)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
