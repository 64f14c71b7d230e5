"""Panel health: the respondent rule, the quality flags of answers and the contact-fatigue rules.

Per tenant like retention (``core.privacy_settings``): ``tenants`` overrides any value for one
tenant; a value left out is the deployment's default. The rules themselves are pure functions in
``kpi.panel``; this is only their configuration. (Gaming detection, ``gaps.gaming``, uses the gap
settings' confidence.)
"""
from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from core.tenants import TENANT_PATTERN

__all__ = ["PanelOverrides", "PanelSettings"]


class PanelOverrides(BaseModel):
    """One tenant's overrides; a value left out is the deployment's default."""

    cooldown_days: float | None = Field(default=None, ge=0, le=3660)
    min_duration_s: float | None = Field(default=None, ge=0, le=86_400)
    max_invitations: int | None = Field(default=None, ge=0, le=10_000)
    invitation_days: float | None = Field(default=None, gt=0, le=3660)
    complaint_quiet_days: float | None = Field(default=None, ge=0, le=3660)


class PanelSettings(BaseModel):
    """Respondent rule and quality flags of answers, contact-fatigue rules of invitations (``kpi.panel``)."""

    cooldown_days: float = Field(
        default=0.0, ge=0, le=3660,
        description="Respondent rule: an answer of a customer to a survey less than this many days (event time) "
        "after the same customer's previous answer to the same survey is a *repeat*: kept in the ledger with "
        "flag `repeat` and not counted in any KPI. 0 (the default) turns the rule off; e.g. 30 turns it on. "
        "Changing it applies to answers committed afterwards (stored flags are not recomputed). Exact with one "
        "worker holding every partition (`cxpulse up`, one `cxpulse worker`); not supported with several workers yet: "
        "a worker holding only some partitions while the rule is on (here or in any `tenants` override) logs an "
        "ERROR at each rebalance and sets `cxpulse_panel_respondent_rule_inexact` to 1.",
    )
    min_duration_s: float = Field(
        default=10.0, ge=0, le=86_400,
        description="Quality flag `too_fast`: an answer sending `duration_s` below this many seconds.",
    )
    straight_lining_min_aspects: int = Field(
        default=3, ge=2, le=100,
        description="Quality flag `straight_lining`: an answer rating at least this many aspects, all with the same score.",
    )
    max_invitations: int = Field(
        default=3, ge=0, le=10_000,
        description="Contact fatigue (`GET /v1/invitations/check`): a customer may be invited while fewer than this "
        "many invitations (`cx.survey.invitation.v1`, event time) were sent to them in the last `invitation_days`.",
    )
    invitation_days: float = Field(default=30.0, gt=0, le=3660, description="The period of `max_invitations`, days.")
    complaint_quiet_days: float = Field(
        default=14.0, ge=0, le=3660,
        description="Contact fatigue: no invitation within this many days after the customer's last complaint, a "
        "touchpoint whose `journey_step` is one of `complaint_journey_steps`. 0 turns the rule off.",
    )
    complaint_journey_steps: list[str] = Field(
        default=["complaint"], description="The `journey_step` values of touchpoints that are complaints.")
    tenants: dict[str, PanelOverrides] = Field(
        default={},
        description='Per-tenant overrides, e.g. `{"acme": {"cooldown_days": 90}}`; a value left out is the default above.',
    )

    @field_validator("tenants")
    @classmethod
    def _valid_tenants(cls, v: dict[str, PanelOverrides]) -> dict[str, PanelOverrides]:
        for tenant in v:
            if not TENANT_PATTERN.match(tenant):
                raise ValueError(f"{tenant!r} is not a tenant id ({TENANT_PATTERN.pattern})")
        return v

    def respondent_rule_on(self) -> bool:
        """Whether the respondent rule applies to any tenant: the default or one override above 0."""
        return self.cooldown_days > 0 or any((o.cooldown_days or 0) > 0 for o in self.tenants.values())

    def value(self, name: str, tenant: str | None = None):
        """``name`` (``cooldown_days`` …) of ``tenant``, or the default when it has no override."""
        override = self.tenants.get(tenant) if tenant is not None else None
        got = getattr(override, name, None) if override is not None else None
        return getattr(self, name) if got is None else got
