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

import re
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    WithJsonSchema,
    model_validator,
)

from core.aspects import MAX_ASPECTS, MAX_SCORE
from kpi.counts import MAX_DURATION_S

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
    "OutcomeData",
    "OutcomeEvent",
    "CloudEvent",
    "CLOUD_EVENT_ADAPTER",
    "Rejection",
    "IngestResult",
]

SPECVERSION = "1.0"
#: ``id`` and the ids in ``data`` (``interaction_id``, ``customer_id``, ``survey_id``).
MAX_ID_CHARS = 256
#: ``source`` and ``subject`` (URI-references, a path or a URL).
MAX_SOURCE_CHARS = 1024
MAX_DIMENSION_CHARS = 128
MAX_COMMENT_CHARS = 4000
#: Longest survey completion time an answer may state (``duration_s``): one day.
MAX_ANSWER_DURATION_S = 86_400
MAX_ASPECTS_PER_ANSWER = MAX_ASPECTS
MAX_ASPECT_SCORE = MAX_SCORE


class Channel(str, Enum):
    phone = "phone"
    chat = "chat"
    email = "email"
    web = "web"
    store = "store"
    social = "social"
    app = "app"


class InvitationVia(str, Enum):
    email = "email"
    sms = "sms"
    ivr = "ivr"
    in_app = "in-app"


def _require_iso_string(value: Any) -> Any:
    """Refuse what pydantic would otherwise accept as a datetime: numbers and numeric strings.

    A Unix timestamp has no stated zone and is ambiguous between seconds and
    milliseconds; the contract is ISO-8601 text with an offset.
    """
    if not isinstance(value, str):
        raise ValueError("time must be an ISO-8601 string with a timezone, e.g. 2024-05-01T12:00:00Z")
    if len(value) < 11 or value[4] != "-" or not value[:4].isdigit() or value[10] not in "Tt ":
        raise ValueError("time must be an ISO-8601 date-time with a timezone, e.g. 2024-05-01T12:00:00Z")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past datetime.max in UTC
        raise ValueError("time is out of range once converted to UTC") from None


UtcDateTime = Annotated[AwareDatetime, BeforeValidator(_require_iso_string), AfterValidator(_to_utc)]
IdStr = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_ID_CHARS)]
DimensionStr = Annotated[str, Field(strict=True, max_length=MAX_DIMENSION_CHARS,
                                    description=f"A dimension value, at most {MAX_DIMENSION_CHARS} characters.")]
# Bounded so the KPI counters' Int64 sums of squares of deciseconds cannot overflow (kpi.counts).
Seconds = Annotated[float, Field(strict=True, ge=0, le=MAX_DURATION_S, allow_inf_nan=False,
                                 description=f"Seconds, 0 to {MAX_DURATION_S:,} (30 days).")]
Flag = Annotated[bool, Field(strict=True)]


class _OpenData(BaseModel):
    """A ``data`` payload that keeps unknown fields instead of dropping them."""

    model_config = ConfigDict(extra="allow")

    @property
    def attributes(self) -> dict[str, Any]:
        """Unknown ``data`` fields, verbatim (they travel in the record's ``attributes``)."""
        return dict(self.__pydantic_extra__ or {})


class TouchpointData(_OpenData):
    """One customer interaction on a channel: the denominator of every KPI."""

    interaction_id: IdStr
    customer_id: IdStr | None = None
    channel: Channel
    journey_step: DimensionStr | None = None
    segment: DimensionStr | None = None
    queue: DimensionStr | None = None
    team: DimensionStr | None = None
    agent_id: DimensionStr | None = None
    site: DimensionStr | None = None
    region: DimensionStr | None = None
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


class SurveyResponseData(_OpenData):
    """A survey response. The dimension fields override the linked interaction's."""

    interaction_id: IdStr | None = None
    customer_id: IdStr | None = None
    survey_id: IdStr
    answers: SurveyAnswers
    comment: Annotated[str, Field(strict=True, max_length=MAX_COMMENT_CHARS)] | None = None
    weight: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    duration_s: Annotated[float, Field(strict=True, ge=0, le=MAX_ANSWER_DURATION_S, allow_inf_nan=False)] | None = Field(
        default=None, description="Seconds the respondent took to complete the survey (quality flag `too_fast`).")
    channel: Channel | None = None
    journey_step: DimensionStr | None = None
    segment: DimensionStr | None = None
    queue: DimensionStr | None = None
    team: DimensionStr | None = None
    agent_id: DimensionStr | None = None
    site: DimensionStr | None = None
    region: DimensionStr | None = None


class SurveyInvitationData(_OpenData):
    """A survey sent for an interaction: the denominator of the response rate."""

    interaction_id: IdStr
    customer_id: IdStr
    survey_id: IdStr
    via: InvitationVia | None = None


class SignalKind(str, Enum):
    review = "review"
    mention = "mention"
    like = "like"
    share = "share"
    comment = "comment"


class Sentiment(str, Enum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


NonEmptyDimensionStr = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_DIMENSION_CHARS,
                                            description=f"1 to {MAX_DIMENSION_CHARS} characters.")]


class SignalData(_OpenData):
    """A social or review signal: a review with its rating, a mention with its sentiment, a like, a
    share or a comment, on a platform, about a brand. Its dimensions are its own (no interaction):
    ``location`` is the ``site`` dimension; ``channel``, ``journey_step``, ``segment`` and ``region``
    are optional. ``rating`` (1-5) is required on a review and refused on the others; a mention carries
    exactly one of ``sentiment`` (a label) or ``score`` (-1..1, e.g. a compound sentiment score), the
    others neither. ``platform`` and ``brand`` are bounded strings; a deployment that lists them in
    ``custom_dimensions`` groups and filters by them like any dimension."""

    # The kind rules of the validators below, for JSON Schema readers.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"kind": {"const": "review"}}},
         "then": {"required": ["rating"], "not": {"anyOf": [{"required": ["sentiment"]}, {"required": ["score"]}]}}},
        {"if": {"properties": {"kind": {"const": "mention"}}},
         "then": {"oneOf": [{"required": ["sentiment"]}, {"required": ["score"]}], "not": {"required": ["rating"]}}},
        {"if": {"properties": {"kind": {"enum": ["like", "share", "comment"]}}},
         "then": {"not": {"anyOf": [{"required": ["rating"]}, {"required": ["sentiment"]}, {"required": ["score"]}]}}},
    ]})

    kind: SignalKind
    platform: NonEmptyDimensionStr
    brand: NonEmptyDimensionStr
    location: DimensionStr | None = None
    customer_id: IdStr | None = None
    channel: Channel | None = None
    journey_step: DimensionStr | None = None
    segment: DimensionStr | None = None
    region: DimensionStr | None = None
    text: Annotated[str, Field(strict=True, max_length=MAX_COMMENT_CHARS)] | None = None
    # validate_default: the kind rules below run when the field is absent too.
    rating: Annotated[int, Field(strict=True, ge=1, le=5)] | None = Field(default=None, validate_default=True)
    sentiment: Sentiment | None = Field(default=None, validate_default=True)
    score: Annotated[float, Field(strict=True, ge=-1.0, le=1.0, allow_inf_nan=False)] | None = Field(
        default=None, validate_default=True)

    @field_validator("rating", mode="after")
    @classmethod
    def _rating_on_reviews(cls, v: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind is SignalKind.review and v is None:
            raise ValueError("a review needs a rating (1 to 5)")
        if kind is not None and kind is not SignalKind.review and v is not None:
            raise ValueError(f"only a review has a rating, not a {kind.value}")
        return v

    @field_validator("sentiment", mode="after")
    @classmethod
    def _sentiment_on_mentions(cls, v: Sentiment | None, info: ValidationInfo) -> Sentiment | None:
        kind = info.data.get("kind")
        if kind is not None and kind is not SignalKind.mention and v is not None:
            raise ValueError(f"only a mention has a sentiment, not a {kind.value}")
        return v

    @field_validator("score", mode="after")
    @classmethod
    def _score_on_mentions(cls, v: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if kind is not None and kind is not SignalKind.mention and v is not None:
            raise ValueError(f"only a mention has a score, not a {kind.value}")
        if kind is SignalKind.mention and "sentiment" in info.data:  # absent: sentiment itself failed
            if v is None and info.data["sentiment"] is None:
                raise ValueError("a mention needs a sentiment (positive, neutral, negative) or a score (-1 to 1)")
            if v is not None and info.data["sentiment"] is not None:
                raise ValueError("a mention carries a sentiment or a score, not both")
        return v

    @property
    def interaction_id(self) -> None:
        """Signals belong to no interaction (records carry ``interaction_id`` "")."""
        return None


class OutcomeKind(str, Enum):
    """What happened to the customer's business: the CRM's event, one word."""

    purchase = "purchase"
    renewal = "renewal"
    upgrade = "upgrade"
    downgrade = "downgrade"
    churn = "churn"
    refund = "refund"


#: Largest ``amount`` of one outcome: 10^12 in the event's currency. With 4 decimal places it fits
#: ``Decimal(18, 4)`` (the ledger column) and a sum of a million of them stays exact in ``Decimal(38, 4)``.
MAX_AMOUNT = 10 ** 12
_CURRENCY = re.compile(r"[A-Z]{3}")


def _strict_amount(value: Any) -> Any:
    """An amount is a JSON number (not a string, not a boolean) with at most 4 decimal places.

    A float is read through its shortest decimal text (``19.99`` is ``Decimal("19.99")``, not the
    binary fraction), so what the producer wrote is what is summed."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("amount must be a JSON number")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("amount must be a finite number")
        value = Decimal(repr(value))
    return Decimal(value)


def _upper_currency(value: Any) -> Any:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValueError("currency must be an ISO 4217 code: three capital letters, e.g. EUR")
    return value


_AMOUNT_DOC = f"Non-negative amount in `currency`, at most {MAX_AMOUNT:,}, at most 4 decimal places; a JSON number."
Amount = Annotated[Decimal, BeforeValidator(_strict_amount),
                   Field(ge=0, le=MAX_AMOUNT, decimal_places=4, allow_inf_nan=False, description=_AMOUNT_DOC),
                   WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_AMOUNT, "description": _AMOUNT_DOC})]
Currency = Annotated[str, BeforeValidator(_upper_currency),
                     Field(description="ISO 4217 currency code (three capital letters).",
                           json_schema_extra={"pattern": "^[A-Z]{3}$"})]


class OutcomeData(_OpenData):
    """A business outcome of a customer, as the CRM or billing system records it.

    ``amount`` is the value the event books (a purchase's or renewal's price, an upgrade's or
    downgrade's new contract value, a refund paid back, a churned contract's lost value). The
    customer (and the account) are pseudonymized at ingest like every customer id."""

    customer_id: IdStr
    kind: OutcomeKind
    amount: Amount
    currency: Currency
    account_id: IdStr | None = None
    product: DimensionStr | None = None
    channel: Channel | None = None
    journey_step: DimensionStr | None = None
    segment: DimensionStr | None = None
    queue: DimensionStr | None = None
    team: DimensionStr | None = None
    agent_id: DimensionStr | None = None
    site: DimensionStr | None = None
    region: DimensionStr | None = None


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
