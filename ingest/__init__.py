"""Ingest: turn producer CloudEvents into pseudonymized records and Kafka messages.

``binding`` (CloudEvents content modes: headers <-> attributes for Kafka and
HTTP), ``validation`` (parse, validate), ``records`` (flatten),
``pseudonymize`` (keyed customer pseudonyms) and ``batching`` (records ->
Kafka messages) are pure; the HTTP
route and the Faust raw-topic agent do the I/O around them.
"""
from ingest.batching import RecordTooLarge, group_for_kafka
from ingest.pseudonymize import Pseudonymizer
from ingest.validation import (
    IngestError,
    InvalidBody,
    MalformedItem,
    RawRejection,
    UnsupportedMediaType,
    parse_body,
    validate_items,
    validate_raw_message,
)

__all__ = [
    "IngestError",
    "InvalidBody",
    "MalformedItem",
    "Pseudonymizer",
    "RawRejection",
    "RecordTooLarge",
    "UnsupportedMediaType",
    "group_for_kafka",
    "parse_body",
    "validate_items",
    "validate_raw_message",
]
