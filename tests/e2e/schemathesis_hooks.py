"""Schemathesis extension for ``tests/e2e/test_openapi_conformance.py``: how to send NDJSON.

The document gives ``application/x-ndjson`` the schema of its items (OpenAPI 3.1 cannot say
"JSON lines"); this serializer writes a generated list one JSON value per line, as producers do.
The standard library's encoder, not orjson: a generated integer beyond 64 bits is valid JSON that a
producer may send, and the API must answer it (a 4xx naming the line), not the test's encoder fail.
"""
from __future__ import annotations

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value) -> bytes:
    items = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\n" for item in items)
