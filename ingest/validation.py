"""The pure ingest pipeline: request body -> CloudEvents -> records (``schemas/records.py``).

Used by ``POST /v1/events`` (``parse_body`` then ``validate_items``) and by the
Faust agent that validates the raw topic (``validate_raw_message``). Which
CloudEvents content mode a message uses, and how a binary-mode one becomes an
event, is ``ingest.binding``; records are flattened in ``ingest.records``. Nothing
here does I/O, so every rule is unit-tested without Kafka or HTTP.

Each event is judged on its own: one bad event never fails its neighbours.
A rejection names the exact field (``data.answers.nps``) so a producer can fix
it without reading server logs. Only a body that cannot be split into events
at all (malformed JSON of a single or batch body) fails as a whole. An item
whose id an earlier accepted item already had is a resend, not an error: it
is dropped and counted (``IngestResult.duplicates``), never rejected.

Event times are checked against a ``TimeHorizon`` (the server clock and how
far ahead of it or behind it an event may be): an event dated 9999-12-31 or
0001-01-01 would land in no KPI window and make every later batch reload
windows as if it were late.

Error tree::

    IngestError
    ├── InvalidBody            the body is not JSON of the declared shape (HTTP 400)
    └── UnsupportedMediaType   the Content-Type is none of ours (HTTP 415)

Hot path: bodies are parsed once with orjson and the resulting dicts go
straight to a ``TypeAdapter`` compiled at import (``CLOUD_EVENT_ADAPTER``);
nothing is re-serialized. ``python -m bench.validation`` measures the throughput.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from pydantic import ValidationError

from core.errors import IngestError, InvalidBody, UnsupportedMediaType
from core.tenants import TENANT_PATTERN
from core.windows import DAY_MS
from ingest.binding import (
    CONTENT_TYPE,
    KAFKA,
    TENANT,
    Headers,
    binary_event,
    header_error,
    is_binary,
    kafka_headers,
    structured_media_type,
)
from core.aspects import AspectSpec
from ingest.records import Pseudonymize, aspect_error, custom_dimension_error, event_to_record
from schemas.events import CLOUD_EVENT_ADAPTER, Rejection
from schemas.records import EventType, Record

__all__ = [
    "IngestError",
    "InvalidBody",
    "UnsupportedMediaType",
    "MalformedItem",
    "RawRejection",
    "TimeHorizon",
    "MAX_FUTURE_S",
    "MAX_EVENT_AGE_DAYS",
    "Pseudonymize",
    "SUPPORTED_MEDIA_TYPES",
    "parse_body",
    "validate_items",
    "validate_raw_message",
    "event_to_record",
]

_SINGLE = "application/cloudevents+json"
_JSON = "application/json"
_BATCH = "application/cloudevents-batch+json"
_NDJSON = "application/x-ndjson"
SUPPORTED_MEDIA_TYPES = (_SINGLE, _JSON, _BATCH, _NDJSON)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)

#: Defaults of ``api.max_future_s`` and ``api.max_event_age_days`` (``core.settings.ApiSettings``).
MAX_FUTURE_S = 900
#: Ten years: far enough back for any backfill (``make evaluate`` replays 2026-11 history).
MAX_EVENT_AGE_DAYS = 3650


@dataclass(frozen=True, slots=True)
class MalformedItem:
    """Placeholder ``parse_body`` puts where an NDJSON line was not JSON.

    It keeps the line's position so ``validate_items`` can reject exactly that
    index while the other lines go through.
    """

    error: str


@dataclass(frozen=True, slots=True)
class TimeHorizon:
    """The event times ingest accepts: ``[now - max_age_days, now + max_future_s]``.

    ``now_ms`` is the server clock as a plain value, so the check is pure (a test
    pins it) and the horizon crosses into the validation processes with the spec.
    """

    now_ms: int
    max_future_s: float = MAX_FUTURE_S
    max_age_days: float = MAX_EVENT_AGE_DAYS

    @classmethod
    def from_clock(cls, max_future_s: float = MAX_FUTURE_S,
                   max_age_days: float = MAX_EVENT_AGE_DAYS) -> "TimeHorizon":
        """The horizon around the wall clock, read now."""
        return cls(time.time_ns() // 1_000_000, max_future_s, max_age_days)

    def error(self, time_ms: int) -> str | None:
        """Why an event at ``time_ms`` is outside the horizon, or None if it is inside."""
        if time_ms > self.now_ms + round(self.max_future_s * 1000):
            return (f"time {_iso(time_ms)} is more than {self.max_future_s:g} s ahead of the server clock "
                    f"({_iso(self.now_ms)}; api.max_future_s)")
        if time_ms < self.now_ms - round(self.max_age_days * DAY_MS):
            return (f"time {_iso(time_ms)} is more than {self.max_age_days:g} days before the server clock "
                    f"({_iso(self.now_ms)}; api.max_event_age_days)")
        return None


def _iso(time_ms: int) -> str:
    moment = _EPOCH + time_ms * _ONE_MS
    return moment.isoformat(timespec="milliseconds" if time_ms % 1000 else "seconds").replace("+00:00", "Z")


class RawRejection(Rejection):
    """A rejection on the raw topic, with what the dead-letter topic needs to keep."""

    #: The tenant the event claimed, if it was readable (keys the dead letter).
    tenant: str | None = None
    #: The offending event as JSON bytes (the whole message value if it did not parse).
    raw: bytes


# -- parsing ------------------------------------------------------------------


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """Split a request body into decoded JSON items, one per event.

    ``application/cloudevents+json`` is one event; ``application/json`` is one
    event if it holds an object and a batch if it holds an array;
    ``application/cloudevents-batch+json`` is a batch (an array); and
    ``application/x-ndjson`` is one event per non-blank line. A malformed NDJSON
    line becomes a ``MalformedItem`` at its index rather than failing the body,
    because NDJSON is what log shippers send and one torn line is normal there.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == _NDJSON:
        return _parse_ndjson(body)
    if media_type not in (_SINGLE, _JSON, _BATCH):
        raise UnsupportedMediaType(
            f"unsupported content type {media_type or '(none)'!r}; use one of {', '.join(SUPPORTED_MEDIA_TYPES)}"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"malformed JSON: {exc}") from None
    if media_type == _BATCH:
        if not isinstance(document, list):
            raise InvalidBody(f"{_BATCH} must be a JSON array of events")
        return document
    if media_type == _JSON and isinstance(document, list):
        return document
    return [document]


def _parse_ndjson(body: bytes) -> list[Any]:
    items: list[Any] = []
    for line_number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(MalformedItem(f"malformed JSON on line {line_number}: {exc}"))
    return items


# -- validation ---------------------------------------------------------------


def validate_items(
    items: Sequence[Any], tenant: str, pseudonymizer: Pseudonymize, horizon: TimeHorizon | None = None,
    custom: tuple[str, ...] = (), aspects: dict[str, AspectSpec] | None = None,
) -> tuple[list[Record], list[Rejection]]:
    """Validate each decoded item on its own; return the accepted records and the rejections.

    ``horizon`` bounds event times (path ``time``); None is the default horizon
    around the wall clock. A repeated ``id`` keeps the first accepted event and
    drops the later ones without rejecting them: a resent event is counted once.
    Every item is an accepted record, a rejection or a duplicate, so the
    duplicates are ``len(items) - len(records) - len(rejections)``. ``aspects``: the configured
    rated aspects (``core.aspects``; None or empty: an answer rating any aspect is rejected).
    """
    if horizon is None:
        horizon = TimeHorizon.from_clock()
    records: list[Record] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if type(item) is MalformedItem:
            rejections.append(Rejection(index=index, path="", error=item.error))
            continue
        try:
            event = CLOUD_EVENT_ADAPTER.validate_python(item)
        except ValidationError as exc:
            path, error = _first_error(exc)
            rejections.append(Rejection(index=index, path=path, error=error))
            continue
        time_error = horizon.error((event.time - _EPOCH) // _ONE_MS)
        if time_error is not None:
            rejections.append(Rejection(index=index, path="time", error=time_error))
            continue
        bad = custom_dimension_error(event, custom) if custom else None
        if bad is None:
            bad = aspect_error(event, aspects or {})
        if bad is not None:
            rejections.append(Rejection(index=index, path=bad[0], error=bad[1]))
            continue
        if event.id in seen:
            continue
        seen.add(event.id)
        records.append(event_to_record(event, tenant, pseudonymizer, custom))
    return records, rejections


def validate_raw_message(
    value: bytes,
    headers: Headers,
    pseudonymizer: Pseudonymize,
    horizon: TimeHorizon | None = None,
    custom: tuple[str, ...] = (),
    aspects: dict[str, AspectSpec] | None = None,
) -> tuple[list[Record], list[RawRejection]]:
    """Validate a message a producer wrote straight to the raw topic, in either Kafka content mode.

    ``ingest.binding`` decides the mode from ``headers``. Structured: ``value``
    is one CloudEvent or a JSON array of them. Binary: the ``ce_*`` headers are
    the attributes, ``content-type`` is ``datacontenttype`` and ``value`` is
    the ``data``; its rejections name the header (``ce_type``) and keep the
    original value. There is no API key on this path, so each event names its
    tenant in the ``tenant`` extension attribute; a ``ce_tenant`` header is the
    fallback for structured events that omit it. Event times are bounded as
    over HTTP (``horizon``; None is the default horizon around the wall clock).
    A repeated id of the same tenant is dropped as a resend, not dead-lettered.
    """
    if horizon is None:
        horizon = TimeHorizon.from_clock()
    raw = bytes(value or b"")
    texts = kafka_headers(headers)
    attributes = KAFKA.attributes(texts)
    content_type = texts.get(CONTENT_TYPE)
    try:
        if structured_media_type(content_type) is None and is_binary(attributes):
            item = binary_event(KAFKA, attributes, content_type, raw)
            return _validate_raw_items([item], attributes.get(TENANT), pseudonymizer, horizon, raw, custom, aspects)
    except IngestError as exc:  # not JSON: the content-type or the data
        path = CONTENT_TYPE if isinstance(exc, UnsupportedMediaType) else "data"
        tenant = attributes.get(TENANT)
        tenant = tenant if tenant and TENANT_PATTERN.match(tenant) else None
        return [], [RawRejection(index=0, path=path, error=exc.message, tenant=tenant, raw=raw)]
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [RawRejection(index=0, path="", error=f"malformed JSON: {exc}", raw=raw)]
    if isinstance(document, dict):
        items: list[Any] = [document]
    elif isinstance(document, list):
        items = document
    else:
        error = "a raw message must be a CloudEvent JSON object or an array of them"
        return [], [RawRejection(index=0, path="", error=error, raw=raw)]
    return _validate_raw_items(items, attributes.get(TENANT), pseudonymizer, horizon, None, custom, aspects)


def _validate_raw_items(
    items: Sequence[Any], default_tenant: str | None, pseudonymizer: Pseudonymize, horizon: TimeHorizon,
    binary_value: bytes | None, custom: tuple[str, ...] = (), aspects: dict[str, AspectSpec] | None = None,
) -> tuple[list[Record], list[RawRejection]]:
    """The events of one raw message; ``binary_value`` is the message value of a binary-mode event."""
    records: list[Record] = []
    rejections: list[RawRejection] = []
    seen: set[tuple[str, str]] = set()

    def reject(index: int, path: str, error: str, tenant: str | None, item: Any) -> None:
        if binary_value is None:
            rejections.append(RawRejection(index=index, path=path, error=error, tenant=tenant, raw=orjson.dumps(item)))
        else:
            path, error = header_error(KAFKA, path, error)
            rejections.append(RawRejection(index=index, path=path, error=error, tenant=tenant, raw=binary_value))

    for index, item in enumerate(items):
        tenant = item.get(TENANT, default_tenant) if isinstance(item, dict) else default_tenant
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            error = (
                "missing tenant extension attribute" if tenant is None
                else f"tenant must match {TENANT_PATTERN.pattern}"
            )
            reject(index, TENANT, error, None, item)
            continue
        try:
            event = CLOUD_EVENT_ADAPTER.validate_python(item)
        except ValidationError as exc:
            path, error = _first_error(exc)
            reject(index, path, error, tenant, item)
            continue
        time_error = horizon.error((event.time - _EPOCH) // _ONE_MS)
        if time_error is not None:
            reject(index, "time", time_error, tenant, item)
            continue
        bad = custom_dimension_error(event, custom) if custom else None
        if bad is None:
            bad = aspect_error(event, aspects or {})
        if bad is not None:
            reject(index, bad[0], bad[1], tenant, item)
            continue
        if (tenant, event.id) in seen:
            continue
        seen.add((tenant, event.id))
        records.append(event_to_record(event, tenant, pseudonymizer, custom))
    return records, rejections


_OBJECT_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The first error as (dotted field path, human message).

    Pydantic prefixes a discriminated union's locations with the matched tag;
    it is dropped so paths read as the producer wrote them (``data.channel``).
    """
    error = exc.errors(include_url=False, include_input=False, include_context=True)[0]
    kind = error["type"]
    loc = error["loc"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ", ".join(t.value for t in EventType)
        if kind == "union_tag_not_found":
            return "type", f"missing event type; expected one of {expected}"
        return "type", f"unknown event type {error['ctx']['tag']!r}; expected one of {expected}"
    path = ".".join(str(part) for part in loc[1:])
    if kind == "missing":
        return path, "field required"
    if kind in _OBJECT_ERRORS:
        return path, "must be a JSON object" if path else "an event must be a JSON object"
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    return path, message
