"""The CloudEvents protocol bindings of CX Pulse: message headers <-> event attributes.

The one owner of how a CloudEvent travels over Kafka (the raw topic) and over
HTTP (``POST /v1/events``); ``ingest.validation`` and ``ingest.pipeline`` ask
it which content mode a message uses and, in binary mode, for the event as
the JSON object that the pydantic models of ``schemas/events.py`` validate.
Pure: no I/O, so every rule is unit-tested.

Content modes (CloudEvents 1.0 Kafka and HTTP protocol bindings):

* **Structured**: the message value (HTTP body) is the event in the JSON
  format, ``content-type: application/cloudevents+json``; a batch is
  ``application/cloudevents-batch+json`` (HTTP, and accepted on Kafka too).
  Another ``application/cloudevents+<format>`` (Avro, Protobuf) is refused:
  only JSON is read.
* **Binary**: each context attribute is a header, ``ce_<name>`` on Kafka
  (the value is UTF-8) and ``ce-<name>`` over HTTP (the value is UTF-8,
  percent-encoded as RFC 3986 and the HTTP binding say; it is decoded here).
  The ``content-type`` header is ``datacontenttype`` and the value (body) is
  ``data``, which must be JSON: ``application/json``, any ``+json`` type,
  or no content-type at all. Header names are case-insensitive. The Kafka key
  may carry the ``partitionkey`` extension; CX Pulse keys by interaction id
  itself and ignores it.
* Which one: a structured ``content-type`` decides structured mode (as both
  bindings say). Otherwise a message with at least one attribute header other
  than the ``tenant`` extension is binary. Anything else is read as
  structured JSON, the way producers wrote the raw topic before binary mode
  existed (no headers, or only ``ce_tenant`` naming the tenant of the events
  in the value) and the way HTTP reads ``application/json`` and NDJSON.

The ``tenant`` extension names the tenant on the raw topic (``ce_tenant`` in
binary mode, ``tenant`` in a structured event, ``ce_tenant`` as the fallback
for structured events that omit it). Over HTTP the API key decides the
tenant, and a ``ce-tenant`` header is ignored like any unknown extension.

Errors of a binary event name the header a producer has to fix: a missing
``type`` is path ``ce_type`` (HTTP ``ce-type``), a wrong ``datacontenttype``
is ``content-type``, and a bad data field keeps its path (``data.channel``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from core.errors import InvalidBody, UnsupportedMediaType

__all__ = [
    "Binding",
    "CONTENT_TYPE",
    "KAFKA",
    "HTTP",
    "TENANT",
    "STRUCTURED_SINGLE",
    "STRUCTURED_BATCH",
    "Headers",
    "kafka_headers",
    "structured_media_type",
    "is_binary",
    "binary_event",
    "header_path",
    "header_error",
]

STRUCTURED_SINGLE = "application/cloudevents+json"
STRUCTURED_BATCH = "application/cloudevents-batch+json"
_CLOUDEVENTS_MEDIA = "application/cloudevents"
CONTENT_TYPE = "content-type"
#: The one extension attribute CX Pulse reads (on the raw topic only).
TENANT = "tenant"

#: Kafka headers as clients hand them over: a list of (name, value) pairs or a mapping.
Headers = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Binding:
    """One protocol's spelling of attribute headers."""

    name: str
    #: ``ce_`` (Kafka) or ``ce-`` (HTTP).
    prefix: str
    #: HTTP header values are percent-encoded; Kafka ones are plain UTF-8.
    percent_encoded: bool

    def attributes(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The context attributes named by prefixed headers (``ce_type`` -> ``type``).

        ``headers`` has lower-case names and text values (``kafka_headers`` for
        Kafka; Starlette's request headers for HTTP).
        """
        prefix, size = self.prefix, len(self.prefix)
        attributes: dict[str, str] = {}
        for name, value in headers.items():
            name = name.lower()
            if name.startswith(prefix) and len(name) > size and name[size:] not in attributes:
                attributes[name[size:]] = unquote(value, errors="replace") if self.percent_encoded else value
        return attributes


KAFKA = Binding("Kafka", "ce_", percent_encoded=False)
HTTP = Binding("HTTP", "ce-", percent_encoded=True)


def kafka_headers(headers: Headers) -> dict[str, str]:
    """Kafka headers as ``{lower-case name: UTF-8 text}``; the first of repeated names wins."""
    if not headers:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in pairs:
        name = name.lower()
        if name in out:
            continue
        if raw is None:
            out[name] = ""
        elif isinstance(raw, (bytes, bytearray, memoryview)):
            out[name] = bytes(raw).decode("utf-8", "replace")
        else:
            out[name] = str(raw)
    return out


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def structured_media_type(content_type: str | None) -> str | None:
    """``STRUCTURED_SINGLE`` or ``STRUCTURED_BATCH`` if ``content_type`` selects structured mode, else None.

    Raises ``UnsupportedMediaType`` for a CloudEvents format other than JSON.
    """
    media = _media_type(content_type)
    if not media.startswith(_CLOUDEVENTS_MEDIA):
        return None
    if media in (STRUCTURED_SINGLE, STRUCTURED_BATCH):
        return media
    raise UnsupportedMediaType(
        f"unsupported CloudEvents format {media!r}; use {STRUCTURED_SINGLE}, {STRUCTURED_BATCH} or binary mode"
    )


def is_binary(attributes: Mapping[str, str]) -> bool:
    """Whether attribute headers make a (non-structured) message binary mode."""
    return any(name != TENANT for name in attributes)


def _is_json(media: str) -> bool:
    return media in ("", "application/json") or media.endswith("+json")


def binary_event(binding: Binding, attributes: Mapping[str, str], content_type: str | None,
                 value: bytes) -> dict[str, Any]:
    """The binary-mode message as the structured JSON object the event models validate.

    Raises ``UnsupportedMediaType`` when ``datacontenttype`` is not JSON and
    ``InvalidBody`` when the value is not JSON; ``header_path`` of those is
    ``content-type`` and ``data``.
    """
    media = _media_type(content_type)
    if not _is_json(media):
        raise UnsupportedMediaType(
            f"unsupported datacontenttype {media!r} (header content-type): "
            f"the data of a {binding.name} binary-mode event must be application/json"
        )
    event: dict[str, Any] = dict(attributes)
    if content_type:
        event["datacontenttype"] = content_type
    if value:
        try:
            event["data"] = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidBody(f"malformed JSON data: {exc}") from None
    return event


def header_path(binding: Binding, path: str) -> str:
    """Where a validation error of a binary-mode event sits: a header, or a path in ``data``."""
    if path == "datacontenttype":
        return CONTENT_TYPE
    if not path or path == "data" or path.startswith("data."):
        return path
    return binding.prefix + path


def header_error(binding: Binding, path: str, error: str) -> tuple[str, str]:
    """A validation error ``(path, message)`` of a binary-mode event, said in headers."""
    where = header_path(binding, path)
    if where == path:
        if path == "data" and error == "field required":
            return path, f"missing data: the {binding.name} binary-mode value (body) is empty"
        return path, error
    if error == "field required" or error.startswith("missing event type"):
        expected = error.partition("; ")[2]
        return where, f"missing required attribute {path} (header {where})" + (f"; {expected}" if expected else "")
    return where, error
