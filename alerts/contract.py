"""The alerts API contract: rules, alerts (current and history) and silences.

It lives beside its domain, not in ``schemas/``: its models extend the alert models
(``alerts.rules``/``silences``/``state``), which validate against ``gaps.detect``, a higher layer
than ``schemas``.

Variants per direction (STYLE pattern 8): ``RuleCreate`` (POST; ``id``
optional), ``RuleSpec`` (PUT body), ``RulePublic`` (responses); lists are
``data`` + ``count``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar

from pydantic import BaseModel, Field

from alerts.rules import RuleId, RuleSpec
from alerts.silences import SilenceSpec
from alerts.state import Status

__all__ = ["AlertEvent", "AlertEventList", "AlertPublic", "GamingEvidence", "AlertPublicList", "RuleCreate", "RuleList", "RulePublic",
           "RuleSpec", "SilenceCreate", "SilenceList", "SilencePublic"]


class RuleCreate(RuleSpec):
    id: RuleId | None = Field(default=None, description="Unique per tenant; generated when omitted.")


class RulePublic(RuleSpec):
    check_aspects: ClassVar[bool] = False
    id: str
    fingerprint: str
    updated_at: datetime


class RuleList(BaseModel):
    data: list[RulePublic]
    count: int


class GamingEvidence(BaseModel):
    """The gaming test behind an alert of a ``gaming`` gap rule (``gaps.gaming``), at its last evaluation."""

    p_value: float = Field(description="max(p_share, p_score): the intersection-union test")
    p_adjusted: float = Field(description="Holm-adjusted over the values tested; significant iff < alpha")
    p_share: float = Field(description="One-sided: the surveyed share (invitations / touchpoints) is below the peers'")
    p_score: float = Field(description="One-sided: the score is above the peers'")
    alpha: float
    comparisons: int = Field(description="Values tested (m of Holm's correction)")
    surveyed_share: float
    peer_surveyed_share: float
    peer_value: float | None = Field(description="The peers' score (scope minus the value)")
    peer_n: int | None
    period_start: datetime
    period_end: datetime

    @classmethod
    def of(cls, e: dict[str, float]) -> "GamingEvidence":
        def at(ms: float) -> datetime:
            return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)

        return cls(**{k: v for k, v in e.items() if not k.endswith("_ms")},
                   period_start=at(e["period_start_ms"]), period_end=at(e["period_end_ms"]))


class AlertPublic(BaseModel):
    """Current state of one alert (``GET /v1/alerts?current=true``)."""

    fingerprint: str
    rule_id: str
    rule_name: str
    status: Status
    severity: str
    scope: dict[str, str]
    labels: dict[str, str]
    threshold: float | None = Field(description="None for gap rules")
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    active_at: datetime | None = Field(description="Start of the current breach (pending since)")
    starts_at: datetime | None = Field(description="Firing since")
    ends_at: datetime | None = Field(description="Resolved at")
    evaluated_at: datetime | None
    evidence: GamingEvidence | None = Field(default=None, description="Gaming gap rules: the test's results")


class AlertPublicList(BaseModel):
    data: list[AlertPublic]
    count: int


class AlertEvent(BaseModel):
    """One status change of an alert (``GET /v1/alerts``, the history)."""

    fingerprint: str
    at: datetime
    status: Status
    prev_status: Status
    rule_id: str
    rule_name: str
    metric: str
    window: str
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    threshold: float | None = Field(description="None for gap rules")
    severity: str
    scope: dict[str, str]
    labels: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    silenced: bool = Field(description="Notifications of this change were muted by a silence")


class AlertEventList(BaseModel):
    data: list[AlertEvent]
    count: int


SilenceCreate = SilenceSpec


class SilencePublic(BaseModel):
    id: str
    rule_id: str | None
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    active: bool


class SilenceList(BaseModel):
    data: list[SilencePublic]
    count: int
