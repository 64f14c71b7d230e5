"""The field types shared by the ``data`` models of the event contract (``schemas.events``).

The bounds, the strict scalar types, the open ``data`` base and :class:`OptionalDimensions`, the
dimensions an event may state (``core.dimensions``), defined once for every event type.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from core.aspects import MAX_ASPECTS, MAX_SCORE
from kpi.counts import MAX_DURATION_S

__all__ = ["MAX_ANSWER_DURATION_S", "MAX_ASPECTS_PER_ANSWER", "MAX_ASPECT_SCORE", "MAX_COMMENT_CHARS",
           "MAX_DIMENSION_CHARS", "MAX_ID_CHARS", "MAX_SOURCE_CHARS", "SPECVERSION", "Channel", "DimensionStr",
           "Flag", "IdStr", "OpenData", "OptionalDimensions", "Seconds", "UtcDateTime"]

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


class OpenData(BaseModel):
    """A ``data`` payload that keeps unknown fields instead of dropping them."""

    model_config = ConfigDict(extra="allow")

    @property
    def attributes(self) -> dict[str, Any]:
        """Unknown ``data`` fields, verbatim (they travel in the record's ``attributes``)."""
        return dict(self.__pydantic_extra__ or {})


class OptionalDimensions(BaseModel):
    """The dimensions an event states, each optional (``core.dimensions``). A model lists this base
    *first* so that, fields being ordered base by base from the last, they follow the model's own
    fields of the base after it (``class X(OptionalDimensions, _XFields)``), as the contract orders them;
    a model may redeclare one (a touchpoint's required ``channel``) in place."""

    channel: Channel | None = None
    journey_step: DimensionStr | None = None
    segment: DimensionStr | None = None
    queue: DimensionStr | None = None
    team: DimensionStr | None = None
    agent_id: DimensionStr | None = None
    site: DimensionStr | None = None
    region: DimensionStr | None = None
