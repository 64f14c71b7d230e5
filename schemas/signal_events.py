"""The ``cx.signal.v1`` ``data`` model of the event contract (re-exported by ``schemas.events``)."""
from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from schemas.event_fields import (MAX_COMMENT_CHARS, MAX_DIMENSION_CHARS, Channel, DimensionStr, IdStr,
                                  OpenData)

__all__ = ["NonEmptyDimensionStr", "Sentiment", "SignalData", "SignalKind"]


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


class SignalData(OpenData):
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
    # A subset of event_fields.OptionalDimensions, not the base: a signal has no queue, team or agent,
    # its site is `location`, and the base's fields would enter the contract.
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
