"""The CloudEvents 1.0 contract of CX Pulse: the source of truth for what producers send.

An event is a CloudEvent (structured JSON mode) whose ``data`` model depends on
``type``, so ``CloudEvent`` is a discriminated union on ``type``. Binary-mode
messages (attributes in headers) are turned into this JSON shape first
(``ingest/binding.py``), so both modes are validated by the same models. The JSON
Schema files under ``schemas/json/`` are generated from these models
(``python -m schemas.generate``) and must not be edited by hand.

Rules worth knowing, and why:

* ``id`` is the idempotency key: the stream processors drop a repeated
  (tenant, id), so producers may retry freely.
* ``time`` must carry a timezone and is normalized to UTC: the KPI windows are
  event-time windows and a naive local time would silently land in the wrong one.
  Ingest also refuses times too far from the server clock (``api.max_future_s``
  ahead, ``api.max_event_age_days`` behind; ``ingest.validation.TimeHorizon``).
* Strings are bounded (``MAX_ID_CHARS`` for ``id`` and the ids in ``data``,
  ``MAX_SOURCE_CHARS`` for ``source`` and ``subject``, ``MAX_DIMENSION_CHARS``
  for dimension values): they become keys and columns of every stored row.
* Numbers in survey answers are strict (``7.5``, ``"7"`` and ``true`` are
  rejected) because a coerced score is a wrong score nobody notices.
* Unknown fields in ``data`` are kept (``.attributes``) so producers can send
  context before the contract names it; unknown envelope extension attributes
  are ignored. The one extension CX Pulse reads is ``tenant``, and only on the
  raw Kafka topic (over HTTP the API key decides the tenant).
"""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.event_fields import (MAX_ANSWER_DURATION_S, MAX_ASPECTS_PER_ANSWER, MAX_ASPECT_SCORE, MAX_COMMENT_CHARS,
                                  MAX_DIMENSION_CHARS, MAX_ID_CHARS, MAX_SOURCE_CHARS, SPECVERSION, Channel,
                                  Flag, IdStr, OpenData, OptionalDimensions, Seconds, UtcDateTime)
from schemas.outcome_events import MAX_AMOUNT, Currency, OutcomeData, OutcomeKind
from schemas.signal_events import Sentiment, SignalData, SignalKind

__all__ = [
    "SPECVERSION",
    "MAX_ID_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_DIMENSION_CHARS",
    "MAX_COMMENT_CHARS",
    "Channel",
    "InvitationVia",
    "TouchpointData",
    "SurveyAnswers",
    "SurveyResponseData",
    "SurveyInvitationData",
    "TouchpointEvent",
    "SurveyResponseEvent",
    "SurveyInvitationEvent",
    "SignalKind",
    "Sentiment",
    "SignalData",
    "SignalEvent",
    "OutcomeKind",
    "MAX_AMOUNT",
    "Currency",
    "OutcomeData",
    "OutcomeEvent",
    "CloudEvent",
    "CLOUD_EVENT_ADAPTER",
    "Rejection",
    "IngestResult",
]


class InvitationVia(str, Enum):
    email = "email"
    sms = "sms"
    ivr = "ivr"
    in_app = "in-app"


class _TouchpointIds(OpenData):
    """The fields of :class:`TouchpointData` before its dimensions."""

    interaction_id: IdStr
    customer_id: IdStr | None = None


class TouchpointData(OptionalDimensions, _TouchpointIds):
    """One customer interaction on a channel: the denominator of every KPI."""

    channel: Channel  # required: a touchpoint happens on a channel (in its place among the dimensions)
    wait_s: Seconds | None = None
    handle_s: Seconds | None = None
    resolved: Flag | None = None
    first_contact: Flag | None = None
    transferred: Flag | None = None
    abandoned: Flag | None = None
    converted: Flag | None = None


#: Scores of one rated aspect: strict integers (the configured scale is checked by ingest).
AspectScore = Annotated[int, Field(strict=True, ge=0, le=MAX_ASPECT_SCORE)]


class SurveyAnswers(BaseModel):
    """The scores of one response. Closed (unknown keys are errors): a typo like
    ``nsp`` must fail loudly instead of becoming a response without a score."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": [name]} for name in ("nps", "csat", "ces", "fcr", "aspects")]},
    )

    nps: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    csat: Annotated[int, Field(strict=True, ge=1, le=5)] | None = None
    ces: Annotated[int, Field(strict=True, ge=1, le=7)] | None = None
    fcr: Flag | None = None
    aspects: Annotated[dict[str, AspectScore], Field(max_length=MAX_ASPECTS_PER_ANSWER)] | None = Field(
        default=None,
        description="Rated aspects, `{name: integer score}`; each name and scale must be configured "
        "(`aspects` setting), else the item is rejected at `data.answers.aspects.<name>`.")

    @model_validator(mode="after")
    def _at_least_one(self) -> "SurveyAnswers":
        if self.nps is None and self.csat is None and self.ces is None and self.fcr is None and not self.aspects:
            raise ValueError("at least one of nps, csat, ces, fcr, aspects is required")
        return self


class _SurveyResponseFields(OpenData):
    """The fields of :class:`SurveyResponseData` but its dimensions."""

    interaction_id: IdStr | None = None
    customer_id: IdStr | None = None
    survey_id: IdStr
    answers: SurveyAnswers
    comment: Annotated[str, Field(strict=True, max_length=MAX_COMMENT_CHARS)] | None = None
    weight: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    duration_s: Annotated[float, Field(strict=True, ge=0, le=MAX_ANSWER_DURATION_S, allow_inf_nan=False)] | None = Field(
        default=None, description="Seconds the respondent took to complete the survey (quality flag `too_fast`).")


class SurveyResponseData(OptionalDimensions, _SurveyResponseFields):
    """A survey response. The dimension fields override the linked interaction's."""


class SurveyInvitationData(OpenData):
    """A survey sent for an interaction: the denominator of the response rate."""

    interaction_id: IdStr
    customer_id: IdStr
    survey_id: IdStr
    via: InvitationVia | None = None


class _Envelope(BaseModel):
    """CloudEvents 1.0 required and optional context attributes; extensions are ignored."""

    model_config = ConfigDict(extra="ignore")

    specversion: Literal["1.0"]
    id: IdStr = Field(description=f"Idempotency key, unique per producer; 1 to {MAX_ID_CHARS} characters.")
    source: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_SOURCE_CHARS)] = Field(
        description=f"The producing system (a URI-reference); 1 to {MAX_SOURCE_CHARS} characters.")
    time: UtcDateTime = Field(
        description="When it happened: ISO-8601 with a timezone. Ingest refuses times more than "
        "`api.max_future_s` ahead of or `api.max_event_age_days` behind the server clock.")
    subject: Annotated[str, Field(strict=True, max_length=MAX_SOURCE_CHARS)] | None = Field(
        default=None, description=f"What the event is about; at most {MAX_SOURCE_CHARS} characters.")
    datacontenttype: Annotated[str, Field(strict=True)] | None = None


class TouchpointEvent(_Envelope):
    """``cx.touchpoint.v1``: a customer interaction happened."""

    type: Literal["cx.touchpoint.v1"]
    data: TouchpointData


class SurveyResponseEvent(_Envelope):
    """``cx.survey.response.v1``: a customer answered a survey."""

    type: Literal["cx.survey.response.v1"]
    data: SurveyResponseData


class SurveyInvitationEvent(_Envelope):
    """``cx.survey.invitation.v1``: a survey was sent to a customer."""

    type: Literal["cx.survey.invitation.v1"]
    data: SurveyInvitationData


class SignalEvent(_Envelope):
    """``cx.signal.v1``: a review, mention, like, share or comment about a brand on a platform."""

    type: Literal["cx.signal.v1"]
    data: SignalData


class OutcomeEvent(_Envelope):
    """``cx.outcome.v1``: a business outcome of a customer (purchase, renewal, churn...)."""

    type: Literal["cx.outcome.v1"]
    data: OutcomeData


CloudEvent = Annotated[
    Union[TouchpointEvent, SurveyResponseEvent, SurveyInvitationEvent, SignalEvent, OutcomeEvent],
    Field(discriminator="type"),
]

#: Built once: constructing a TypeAdapter compiles a validator and is far too slow per request.
CLOUD_EVENT_ADAPTER: TypeAdapter[TouchpointEvent | SurveyResponseEvent | SurveyInvitationEvent | SignalEvent
                                  | OutcomeEvent] = (
    TypeAdapter(CloudEvent)
)

# -- API response variants ----------------------------------------------------


class Rejection(BaseModel):
    """Why one event of a request was refused. ``index`` is its position in the body."""

    index: int
    #: Dotted path of the offending field (``data.answers.nps``); "" for the event as a whole.
    path: str
    error: str


class IngestResult(BaseModel):
    """Response of ``POST /v1/events``: accepted events are durable in Kafka.

    Every item of the body is counted once: ``accepted + duplicates + len(rejected)``
    is the number of items.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "accepted": 2, "duplicates": 1,
        "rejected": [{"index": 3, "path": "data.answers.nps", "error": "Input should be less than or equal to 10"}],
    }]})

    accepted: int = Field(description="Events taken (one per id).")
    duplicates: int = Field(
        default=0,
        description="Items whose id an earlier accepted item of the same body already had: "
        "a resend, counted once (it is not an error).",
    )
    rejected: list[Rejection] = Field(default=[], description="Items refused, each with the offending field.")
