"""Validated CloudEvents -> the flat records of ``schemas/records.py`` (pure)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from core.aspects import AspectSpec
from core.dimensions import DIMENSIONS
from schemas.events import (
    MAX_DIMENSION_CHARS, OutcomeEvent, SignalEvent, SurveyInvitationEvent, SurveyResponseEvent, TouchpointEvent,
)
from schemas.records import Record

__all__ = ["Pseudonymize", "aspect_error", "custom_dimension_error", "event_to_record"]

#: ``(tenant, customer_id) -> pseudonym``; ``ingest.pseudonymize.Pseudonymizer`` in production.
Pseudonymize = Callable[[str, str], str]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def event_to_record(
    event: TouchpointEvent | SurveyResponseEvent | SurveyInvitationEvent | SignalEvent | OutcomeEvent,
    tenant: str,
    pseudonymizer: Pseudonymize,
    custom: tuple[str, ...] = (),
) -> Record:
    """Flatten a validated event into the record documented in ``schemas/records.py``.

    ``custom``: the deployment's custom dimensions; on touchpoints, answers and signals, those ``data``
    fields are dimensions (checked by :func:`custom_dimension_error`), not attributes. A signal's
    ``location`` is its ``site``, and its ``platform`` and ``brand`` are also dimensions when the
    deployment lists them in ``custom``."""
    data = event.data
    customer_id = data.customer_id
    record: Record = {
        "tenant": tenant,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time_ms": (event.time - _EPOCH) // _ONE_MS,
        "subject": event.subject,
        "interaction_id": getattr(data, "interaction_id", None) or "",
        "customer": pseudonymizer(tenant, customer_id) if customer_id is not None else "",
        "dims": {},
        "attributes": data.attributes,
    }
    if custom and not isinstance(event, SurveyInvitationEvent):
        attributes = record["attributes"]  # a fresh dict (``_OpenData.attributes``)
        moved = {name: attributes.pop(name) for name in custom if attributes.get(name) is not None}
    else:
        moved = None
    if isinstance(event, TouchpointEvent):
        record["dims"] = _dims(data)
        record["wait_s"] = data.wait_s
        record["handle_s"] = data.handle_s
        record["resolved"] = data.resolved
        record["first_contact"] = data.first_contact
        record["transferred"] = data.transferred
        record["abandoned"] = data.abandoned
        record["converted"] = data.converted
    elif isinstance(event, SurveyResponseEvent):
        answers = data.answers
        record["dims"] = _dims(data)
        record["survey_id"] = data.survey_id
        record["nps"] = answers.nps
        record["csat"] = answers.csat
        record["ces"] = answers.ces
        record["fcr"] = answers.fcr
        record["comment"] = data.comment
        record["weight"] = data.weight
        if answers.aspects:
            record["aspects"] = dict(answers.aspects)
        record["duration_s"] = data.duration_s
    elif isinstance(event, SignalEvent):
        dims = _dims_of(data, _SIGNAL_DIMENSIONS)
        if data.location is not None:
            dims["site"] = data.location
        for name in ("platform", "brand"):
            if name in custom:
                dims[name] = getattr(data, name)
        record["dims"] = dims
        record["kind"] = data.kind.value
        record["rating"] = data.rating
        record["sentiment"] = data.sentiment.value if data.sentiment is not None else None
        record["score"] = data.score
        record["platform"] = data.platform
        record["brand"] = data.brand
        record["text"] = data.text
    elif isinstance(event, OutcomeEvent):
        record["dims"] = _dims(data)
        record["kind"] = data.kind.value
        record["amount"] = format(data.amount, "f")  # decimal text: exact through JSON and into Decimal(18, 4)
        record["currency"] = data.currency
        # The account is an identifier of the customer's organisation: pseudonymized like the customer.
        record["account"] = pseudonymizer(tenant, data.account_id) if data.account_id is not None else ""
        record["product"] = data.product
    else:
        record["survey_id"] = data.survey_id
        record["via"] = data.via.value if data.via is not None else None
    if moved:
        record["dims"].update(moved)
    return record


def custom_dimension_error(event: TouchpointEvent | SurveyResponseEvent | SurveyInvitationEvent | SignalEvent | OutcomeEvent,
                           custom: tuple[str, ...]) -> tuple[str, str] | None:
    """(path, error) of the first custom dimension of ``data`` that is not a string of at most
    ``MAX_DIMENSION_CHARS`` characters, else None. Invitations carry no dimensions: not checked."""
    if isinstance(event, SurveyInvitationEvent):
        return None
    extra = event.data.__pydantic_extra__ or {}
    for name in custom:
        value = extra.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"data.{name}", "a dimension value must be a string"
        if len(value) > MAX_DIMENSION_CHARS:
            return f"data.{name}", f"String should have at most {MAX_DIMENSION_CHARS} characters"
    return None


#: The built-in dimensions a signal may carry besides ``location`` (its ``site``).
_SIGNAL_DIMENSIONS = ("channel", "journey_step", "segment", "region")


def aspect_error(event: TouchpointEvent | SurveyResponseEvent | SurveyInvitationEvent,
                 specs: dict[str, AspectSpec]) -> tuple[str, str] | None:
    """(path, error) of the first rated aspect of an answer that is not configured or is outside its
    scale, else None (``core.aspects``; the schema already made every score a strict integer)."""
    if not isinstance(event, SurveyResponseEvent) or not event.data.answers.aspects:
        return None
    for name, score in event.data.answers.aspects.items():
        spec = specs.get(name)
        path = f"data.answers.aspects.{name}"
        if spec is None:
            known = ", ".join(sorted(specs)) or "none configured"
            return path, f"unknown aspect {name!r}; configured: {known}"
        if not spec.min <= score <= spec.max:
            return path, f"score {score} is outside the scale {spec.min}..{spec.max} of aspect {name!r}"
    return None


def _dims(data: Any) -> dict[str, str]:
    return _dims_of(data, DIMENSIONS)


def _dims_of(data: Any, names: tuple[str, ...]) -> dict[str, str]:
    dims: dict[str, str] = {}
    for name in names:
        value = getattr(data, name)
        if value is not None:
            dims[name] = value.value if name == "channel" else value
    return dims
