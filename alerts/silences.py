"""Time-boxed silences (Alertmanager semantics): they mute notifications, never state.

A silence is active for ``starts_at <= now < ends_at``. It matches an alert when
its ``rule_id`` (if set) is the alert's rule and every matcher equals the
alert's label set: the rule's ``labels`` and ``scope`` plus ``alertname`` (the
rule name), ``rule_id``, ``metric`` and ``severity``. A silence needs a rule id
or at least one matcher, so it never mutes a whole tenant by accident.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.rules import Rule
from core.isotime import IsoDateTime

__all__ = ["Silence", "SilenceSpec", "alert_labels", "is_silenced"]


class SilenceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"matchers": {"channel": "phone"}, "ends_at": "2027-01-01T06:00:00Z", "comment": "PBX maintenance",
         "created_by": "ops"}]})

    rule_id: str | None = Field(default=None, description="Mute this rule's alerts (combined with matchers).")
    matchers: dict[str, str] = Field(
        default_factory=dict, description="Label -> value, all must be equal (labels, scope dimensions, "
        "`alertname`, `rule_id`, `metric`, `severity`).")
    starts_at: IsoDateTime | None = Field(default=None, description="Default: now.")
    ends_at: IsoDateTime
    comment: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _something_to_match(self) -> "SilenceSpec":
        if not self.rule_id and not self.matchers:
            raise ValueError("a silence needs rule_id or at least one matcher")
        return self


class Silence(BaseModel):
    id: str
    rule_id: str | None = None
    matchers: dict[str, str] = Field(default_factory=dict)
    starts_at_ms: int
    ends_at_ms: int
    comment: str = ""
    created_by: str = ""

    def active(self, now_ms: int) -> bool:
        return self.starts_at_ms <= now_ms < self.ends_at_ms

    def matches(self, rule: Rule) -> bool:
        if self.rule_id is not None and self.rule_id != rule.id:
            return False
        labels = alert_labels(rule)
        return all(labels.get(k) == v for k, v in self.matchers.items())


def alert_labels(rule: Rule) -> dict[str, str]:
    """The label set silences match on."""
    return {**rule.scope, **rule.labels, "alertname": rule.name, "rule_id": rule.id,
            "metric": rule.metric_name, "severity": rule.severity.value}


def is_silenced(rule: Rule, silences: list[Silence], now_ms: int) -> bool:
    return any(s.active(now_ms) and s.matches(rule) for s in silences)
