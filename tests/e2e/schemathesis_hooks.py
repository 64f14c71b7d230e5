"""Schemathesis extension for ``tests/e2e/test_openapi_conformance.py``: how to send NDJSON.

The document gives ``application/x-ndjson`` the schema of its items (OpenAPI 3.1 cannot say
"JSON lines"); this serializer writes a generated list one JSON value per line, as producers do.
"""
from __future__ import annotations

import orjson
import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value) -> bytes:
    items = value if isinstance(value, list) else [value]
    return b"".join(orjson.dumps(item) + b"\n" for item in items)
