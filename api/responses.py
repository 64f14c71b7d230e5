"""The error answers each route documents: one table, so the OpenAPI document says what the API does.

Every route passes ``responses=errors(...)`` (or a router passes it for all its routes) with the
statuses it can really answer; the body is always ``schemas.errors.ErrorResponse``. The
schemathesis test (``tests/e2e/test_openapi_conformance.py``) fails on a status a route answers
without documenting it.
"""
from __future__ import annotations

from typing import Any

from schemas.errors import ErrorResponse

__all__ = ["SCOPED", "errors"]

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before sending again", "schema": {"type": "integer"}}}

#: Why each status is answered; a route's own ``responses`` entry may say more.
_DESCRIPTIONS: dict[int, tuple[str, dict[str, Any] | None]] = {
    400: ("Malformed request body", None),
    401: ("Missing or unknown API key (`Authorization: Bearer <key>`)",
          {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}),
    403: ("The API key lacks the scope this route needs (`read`, `ingest` or `admin`)", None),
    404: ("No such resource for the caller's tenant (another tenant's ids answer 404 too)", None),
    409: ("The resource's state or the tenant's limits forbid this change", None),
    413: ("Request body too large", None),
    415: ("Unsupported Content-Type", None),
    422: ("Invalid parameters or body: `detail` lists each refused input with its path", None),
    429: ("Rate limit of the API key exceeded; `Retry-After` says when to try again", _RETRY_AFTER),
    503: ("The warehouse (or, for ingest, Kafka) is unavailable, or the service is stopping", None),
    507: ("The ingest log cannot be written", None),
}


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the shared error model; ``e409="..."`` overrides
    the description of 409 for this route."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        description, headers = _DESCRIPTIONS[code]
        entry: dict[str, Any] = {"model": ErrorResponse, "description": described.get(f"e{code}", description)}
        if headers:
            entry["headers"] = headers
        out[code] = entry
    return out


#: Any route behind an API key that needs a scope (`read`, `ingest`, `admin`) and reads the warehouse:
#: no or unknown key, missing scope, invalid input, rate limit, warehouse down.
SCOPED = (401, 403, 422, 429, 503)
