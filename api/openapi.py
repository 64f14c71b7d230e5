"""What the OpenAPI document says beyond what FastAPI derives from the routes.

``POST /v1/events`` reads its body itself (``ingest.pipeline``: one parse per request, per-item
validation in a process pool), so FastAPI sees no body parameter; ``INGEST_OPENAPI`` is the
route's ``openapi_extra``: a ``requestBody`` per content type it accepts and the ``ce-*`` headers
of binary mode, with examples. Their schemas are the pydantic models of ``schemas.events``,
added to the document's components by ``install``.
"""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ingest.binding import STRUCTURED_BATCH, STRUCTURED_SINGLE
from ingest.validation import SUPPORTED_MEDIA_TYPES
from schemas.events import CLOUD_EVENT_ADAPTER
from schemas.records import EventType

__all__ = ["INGEST_OPENAPI", "install"]

_REF = "#/components/schemas/{model}"
_EVENT = {"$ref": _REF.format(model="CloudEvent")}
_BATCH = {"type": "array", "items": _EVENT, "description": "Each item is validated on its own"}

_TOUCHPOINT = {
    "specversion": "1.0", "id": "tp-8812", "source": "/contact-center/genesys", "type": "cx.touchpoint.v1",
    "time": "2026-05-01T12:00:00Z",
    "data": {"interaction_id": "int-42", "customer_id": "cust-7", "channel": "phone", "queue": "billing",
             "team": "t-billing-1", "agent_id": "a-17", "segment": "smb", "journey_step": "billing",
             "wait_s": 35.0, "handle_s": 310.5, "resolved": True, "first_contact": True},
}
_RESPONSE = {
    "specversion": "1.0", "id": "sr-9021", "source": "/surveys/qualtrics", "type": "cx.survey.response.v1",
    "time": "2026-05-01T12:20:00Z",
    "data": {"interaction_id": "int-42", "customer_id": "cust-7", "survey_id": "post-call",
             "answers": {"nps": 9, "csat": 5, "ces": 6, "fcr": True}, "comment": "Quick and friendly"},
}
_INVITATION = {
    "specversion": "1.0", "id": "si-5503", "source": "/surveys/qualtrics", "type": "cx.survey.invitation.v1",
    "time": "2026-05-01T12:05:00Z",
    "data": {"interaction_id": "int-42", "customer_id": "cust-7", "survey_id": "post-call", "via": "email"},
}
_SIGNAL = {
    "specversion": "1.0", "id": "sg-311", "source": "/reviews/google", "type": "cx.signal.v1",
    "time": "2026-05-01T18:00:00Z",
    "data": {"kind": "review", "platform": "google", "brand": "acme", "location": "paris-opera", "rating": 2,
             "text": "Long queue at the counter"},
}

_OUTCOME = {
    "specversion": "1.0", "id": "crm-77120", "source": "/crm/salesforce", "type": "cx.outcome.v1",
    "time": "2026-08-01T09:00:00Z",
    "data": {"customer_id": "cust-7", "kind": "renewal", "amount": 1200.0, "currency": "EUR",
             "account_id": "acct-3", "product": "premium", "segment": "smb"},
}


def _ex(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


_SINGLE_EXAMPLES = {"touchpoint": _ex("A phone call", _TOUCHPOINT),
                    "response": _ex("Its survey answer", _RESPONSE),
                    "invitation": _ex("The survey invitation", _INVITATION),
                    "signal": _ex("A store review", _SIGNAL),
                    "outcome": _ex("A renewal the CRM recorded", _OUTCOME)}
_BATCH_EXAMPLE = {"batch": _ex("A touchpoint, its invitation and its answer", [_TOUCHPOINT, _INVITATION, _RESPONSE])}
_NDJSON_EXAMPLE = "\n".join(orjson.dumps(e).decode() for e in (_TOUCHPOINT, _RESPONSE)) + "\n"


def _ce_header(name: str, description: str, schema: dict[str, Any], example: str) -> dict[str, Any]:
    return {"name": f"ce-{name}", "in": "header", "required": False, "schema": schema, "example": example,
            "description": f"Binary content mode: {description} (percent-encoded)"}


#: ``openapi_extra`` of ``POST /v1/events``.
INGEST_OPENAPI: dict[str, Any] = {
    "parameters": [
        _ce_header("specversion", "the event's `specversion`", {"type": "string", "enum": ["1.0"]}, "1.0"),
        _ce_header("id", "the event's `id`", {"type": "string"}, "tp-8812"),
        _ce_header("source", "the event's `source`", {"type": "string"}, "/contact-center/genesys"),
        _ce_header("type", "the event's `type`", {"type": "string", "enum": [t.value for t in EventType]},
                   "cx.touchpoint.v1"),
        _ce_header("time", "the event's `time` (ISO-8601 with a timezone)", {"type": "string"},
                   "2026-05-01T12:00:00Z"),
        _ce_header("subject", "the event's `subject`", {"type": "string"}, "int-42"),
    ],
    "requestBody": {
        "required": True,
        "description": (
            "Structured mode: one CloudEvent (`application/cloudevents+json`, or `application/json`), a batch "
            "(`application/cloudevents-batch+json`, or a JSON array as `application/json`) or NDJSON. "
            "Binary mode: the attributes in `ce-*` headers (at least `ce-specversion`, `ce-id`, `ce-source`, "
            "`ce-type`, `ce-time`), the body is the event's `data` (`application/json`)."
        ),
        "content": {
            STRUCTURED_SINGLE: {"schema": _EVENT, "examples": _SINGLE_EXAMPLES},
            STRUCTURED_BATCH: {"schema": _BATCH, "examples": _BATCH_EXAMPLE},
            "application/json": {
                "schema": {"anyOf": [_EVENT, _BATCH, {
                    "type": "object", "description": "Binary mode (with `ce-*` headers): the event's `data`"}]},
                "examples": {**_SINGLE_EXAMPLES, **_BATCH_EXAMPLE,
                             "binary": _ex("Binary mode: the `data` of a touchpoint, its attributes in "
                                           "`ce-*` headers", _TOUCHPOINT["data"])},
            },
            # OpenAPI 3.1 has no way to say "JSON lines" (3.2's `itemSchema`): the schema is the items'.
            "application/x-ndjson": {
                "schema": {**_BATCH, "description": "One CloudEvent (JSON) per line; each validated on its own"},
                "example": _NDJSON_EXAMPLE,
            },
        },
    },
}
assert set(INGEST_OPENAPI["requestBody"]["content"]) == set(SUPPORTED_MEDIA_TYPES), "document every media type"


def _event_schemas() -> dict[str, Any]:
    """``CloudEvent`` and the models it is made of, as components."""
    schema = CLOUD_EVENT_ADAPTER.json_schema(ref_template=_REF)
    components = schema.pop("$defs", {})
    components["CloudEvent"] = {"title": "CloudEvent", **schema}
    return components


def install(app: FastAPI) -> None:
    """Build ``app``'s document once, with the CloudEvent components the ingest route refers to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes,
                              openapi_version=app.openapi_version, description=app.description)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _event_schemas().items():
                if name in schemas and schemas[name] != schema:
                    raise RuntimeError(f"OpenAPI component {name!r} is defined twice, differently")
                schemas[name] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
