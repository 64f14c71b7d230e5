"""The cases API contract (closed loop): ``CasePublic`` responses, ``CaseAck`` / ``CaseClose`` bodies,
``CaseStats`` (time-to-acknowledge and time-to-close as KPIs of their own). Lists are ``data`` + ``count``."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cases.state import CaseState

__all__ = ["CaseAck", "CaseClose", "CaseList", "CasePublic", "CaseStats", "DurationStats"]


class CasePublic(BaseModel):
    id: str
    state: CaseState
    escalated: bool
    owner: str
    severity: str
    reasons: list[str]
    scope: dict[str, str] = Field(description="Dimension values of the response that opened the case.")
    customer: str = Field(description="Customer pseudonym (keyed hash), empty when anonymous.")
    interaction_id: str
    survey_id: str
    response_id: str
    answers: dict[str, int | bool]
    comment: str | None
    absorbed: int = Field(description="Later responses of the customer and scope suppressed into this case.")
    opened_at: datetime
    due_at: datetime
    responded_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str
    closed_at: datetime | None
    closed_by: str
    resolution: str | None
    escalated_at: datetime | None
    breached: bool = Field(description="Closed after its due time, or still open past it.")


class CaseList(BaseModel):
    data: list[CasePublic]
    count: int


class CaseAck(BaseModel):
    by: str = Field(default="", max_length=200, description="Who acknowledges (free text, e.g. an e-mail).")


class CaseClose(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000, description="Resolution note (required).")
    by: str = Field(default="", max_length=200, description="Who closes (free text).")


class DurationStats(BaseModel):
    n: int
    mean_s: float | None
    p50_s: float | None
    p90_s: float | None


class CaseStats(BaseModel):
    """KPIs of the cases opened in [from, to)."""

    from_: datetime = Field(alias="from")
    to: datetime
    opened: int
    open: int
    acknowledged: int
    closed: int
    escalated: int
    breached: int = Field(description="Closed after the SLA, or not closed and past it now.")
    breached_open: int = Field(description="Not closed and past the SLA now.")
    time_to_acknowledge: DurationStats
    time_to_close: DurationStats

    model_config = {"populate_by_name": True}
