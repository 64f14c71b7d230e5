"""Panel health contract: answer flag counts per scope (``GET /v1/panel/quality``), contact-fatigue
checks (``GET /v1/invitations/check``) and opt-outs (``PUT|DELETE /v1/opt-outs/{customer_id}``)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FlagShare(BaseModel):
    count: int = Field(description="Answers carrying the flag")
    share: float | None = Field(description="count / answers; null without answers")
    ci_low: float | None = Field(description="Wilson 95% interval of the share")
    ci_high: float | None


class QualityGroup(BaseModel):
    group: dict[str, str] = Field(description="Values of the `group_by` dimensions")
    answers: int = Field(description="Survey answers in the range and scope (n), repeats included")
    repeat: FlagShare = Field(description="Repeats under the respondent rule (counted in no KPI)")
    straight_lining: FlagShare = Field(description="At least `panel.straight_lining_min_aspects` aspects, one score")
    too_fast: FlagShare = Field(description="`duration_s` below `panel.min_duration_s`")
    contradictory: FlagShare = Field(description="NPS >= 9 with CSAT 1, or NPS <= 1 with CSAT 5")
    any_quality: FlagShare = Field(description="Any of the three quality flags (what `exclude_flagged` leaves out)")


class QualityReport(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: list[str]
    filters: dict[str, str]
    confidence: float
    data: list[QualityGroup]
    count: int

    model_config = {"populate_by_name": True}


class RuleVerdictPublic(BaseModel):
    rule: str = Field(description="max_invitations | complaint_quiet | opt_out")
    allowed: bool
    count: int | None = Field(description="Invitations (max_invitations) or complaints (complaint_quiet) in the period")
    limit: int | None = Field(description="max_invitations: the most invitations allowed in the period")
    days: float | None = Field(description="The rule's period, days before `at`")
    last: datetime | None = Field(description="Latest invitation / complaint in the period, or when the customer opted out")


class InvitationCheck(BaseModel):
    customer: str = Field(description="The customer's pseudonym (as ingest stores it), never the raw id")
    at: datetime
    allowed: bool = Field(description="Whether the customer may be surveyed now: every rule allows it")
    rules: list[RuleVerdictPublic]


class OptOutPublic(BaseModel):
    customer: str = Field(description="The customer's pseudonym")
    opted_out: bool
    at: datetime | None = Field(description="When the customer opted out")
