"""Alert rules: the validated model, the threshold predicates and the fingerprint.

A rule watches one KPI (``kpi.measures.Metric``, or a configured rated aspect: ``aspect:<name>``,
its mean, or ``aspect_top2:<name>``, its top-2-box %; ``Rule.measured``) in one scope (dimension ->
value, dimensions from ``core.dimensions.DIMENSIONS`` only) over one window
(tumbling ``1m``/``1h``/``1d`` or rolling ``24h``/``7d``/``28d``, the windows
``GET /v1/kpis`` serves). It breaches when the value is strictly ``below`` or
``above`` ``threshold``.

A ``gap`` rule instead fires on a significant live gap (:mod:`gaps.live`):
``gap.kind`` ``baseline`` (the KPI, or a rated aspect, of the last minutes vs
the scope's own history) or ``data`` (volume far below its usual level for the time of
day), fanned out over ``gap.dimensions``: one alert per value (or value
combination) of those dimensions inside ``scope``, each with its own
fingerprint. Sample sizes and significance are the detector's
(``min_n``, ``gap.alpha``, ``gap.min_effect``); ``threshold`` is unused.

``gap.kind`` ``gaming`` runs the gaming test (:mod:`gaps.gaming`) instead, on the trailing
``gap.period_days`` × 24 complete hours: ``gap.dimensions`` is exactly one of ``agent_id`` or
``team``, each value of it tested against its peers inside ``scope`` (Holm over the values,
significant when the adjusted p < ``gap.alpha``, ``min_n`` answers on both sides), one alert per
value. A scope that also fixes that dimension watches the one value (against the same peers).

Resolution (Alertmanager/Grafana semantics, see ``alerts.state``):

* ``recovery`` (hysteresis): a firing alert resolves only once the value is
  past this level (>= recovery for ``below``, <= recovery for ``above``);
  values between threshold and recovery keep it firing.
* ``keep_firing_s``: the value must stay recovered this long before resolving.
* Neither: it resolves at the first evaluation that does not breach.
"""
from __future__ import annotations

import hashlib
import re
from enum import Enum
from typing import Annotated, ClassVar

import orjson
from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo,
                      field_validator, model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gaps.detect import GAP_METRICS, VOLUME_METRICS
from kpi.measures import COUNT_METRICS, AspectMetric, Metric
from core import aspects as aspect_config
from core.dimensions import DIMENSIONS, all_dimensions

__all__ = ["DEFAULT_GAMING_PERIOD_DAYS", "GAMING_DIMENSIONS", "RULE_METRIC_PATTERN", "RULE_WINDOWS", "Condition",
           "GapKindName", "GapRuleSpec", "Rule", "RuleSpec", "Severity", "fingerprint"]

#: Windows a rule may watch (the same names as ``GET /v1/kpis?window=``).
RULE_WINDOWS = ("1m", "1h", "1d", "24h", "7d", "28d")

#: ``metric`` of a rule: a KPI, or a rated aspect (``aspect:<name>``, ``aspect_top2:<name>``) that must be
#: configured (``core.aspects``) when the rule is written. Validation context ``core.aspects.UNCHECKED``
#: skips that check: a stored rule whose aspect is no longer configured still loads (it reads no answers:
#: n = 0, never evaluated), and ``cxpulse rules`` (a client without the server's configuration) leaves
#: the check to the API.
_ASPECT_NAME = "[a-z][a-z0-9_]{0,62}"
RULE_METRIC_PATTERN = ("^(" + "|".join(m.value for m in Metric)
                       + f"|aspect:{_ASPECT_NAME}|aspect_top2:{_ASPECT_NAME})$")
_RULE_METRIC = re.compile(RULE_METRIC_PATTERN)
AspectMetricName = Annotated[str, StringConstraints(pattern=f"^(aspect|aspect_top2):{_ASPECT_NAME}$")]

RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class Condition(str, Enum):
    below = "below"
    above = "above"
    gap = "gap"


class GapKindName(str, Enum):
    """Gap kinds a rule can watch: live (``gaps.live``: baseline, data) or over a trailing period (gaming)."""

    baseline = "baseline"
    data = "data"
    gaming = "gaming"


#: The dimensions a ``gaming`` rule tests (who chooses which contacts are surveyed).
GAMING_DIMENSIONS = ("agent_id", "team")
DEFAULT_GAMING_PERIOD_DAYS = 7
#: Fields of the live detector a ``gaming`` rule does not use (they must keep their defaults there).
_LIVE_ONLY = ("lengths_min", "baseline_days", "min_effect", "max_volume_ratio", "min_expected_volume")


def _invalid(model: str, loc: tuple[str, ...], message: str, value: object) -> ValidationError:
    """A validation error at ``loc`` (relative to the model validated), so the API answers its exact path."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(
        type=PydanticCustomError("value_error", message.replace("{", "(").replace("}", ")")), loc=loc, input=value)])


class GapRuleSpec(BaseModel):
    """The live detector of a ``gap`` rule (defaults: ``gaps.live.LiveSpec``)."""

    model_config = ConfigDict(extra="forbid")

    kind: GapKindName = Field(description="`baseline`: KPI drop vs the scope's own history; `data`: volume drop; "
                              "`gaming`: agents or teams surveying few contacts while scoring above their peers "
                              "(`period_days`).")
    dimensions: list[str] = Field(
        default_factory=list, max_length=3,
        description="Fan out: one alert per value of these dimensions inside `scope` (e.g. [journey_step, segment]). "
        "`gaming`: exactly one of agent_id, team (the values tested against their peers).")
    lengths_min: list[Annotated[int, Field(strict=True, ge=1, le=1440)]] = Field(
        default=[10, 20, 30, 60], min_length=1, max_length=8,
        description="Rolling lengths (minutes) tested; the most significant one is reported.")
    baseline_days: int = Field(strict=True, default=7, ge=1, le=28, description="Days of history the baseline spans.")
    alpha: float = Field(strict=True, default=1e-4, gt=0, lt=1,
                         description="Family-wise false-gap level per evaluation (Bonferroni over scopes x lengths).")
    min_effect: float | None = Field(strict=True, default=None, ge=0,
                                     description="Smallest drop that counts, KPI units; default per metric.")
    max_volume_ratio: float = Field(strict=True, default=0.1, gt=0, le=1,
                                    description="Data gaps: the count must be below this share of expected.")
    min_expected_volume: float = Field(strict=True, default=50.0, gt=0,
                                       description="Data gaps: not checked below this expected count.")
    period_days: int | None = Field(
        strict=True, default=None, ge=1, le=28,
        description=f"`gaming` only: the trailing period tested, in days (its complete hours before the evaluation); "
        f"default {DEFAULT_GAMING_PERIOD_DAYS}.")

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(all_dimensions()))
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; allowed: {list(all_dimensions())}")
        if len(set(v)) != len(v):
            raise ValueError("dimensions must be distinct")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> "GapRuleSpec":
        if self.kind is not GapKindName.gaming:
            if self.period_days is not None:
                raise _invalid("GapRuleSpec", ("period_days",), "`period_days` is only for kind `gaming`",
                               self.period_days)
            return self
        if len(self.dimensions) != 1 or self.dimensions[0] not in GAMING_DIMENSIONS:
            raise _invalid("GapRuleSpec", ("dimensions",),
                           f"a gaming gap rule tests exactly one of {list(GAMING_DIMENSIONS)}", self.dimensions)
        for name in _LIVE_ONLY:
            value = getattr(self, name)
            if value != GapRuleSpec.model_fields[name].get_default(call_default_factory=True):
                raise _invalid("GapRuleSpec", (name,), f"`{name}` is for the live kinds (baseline, data), not gaming",
                               value)
        return self

    @property
    def gaming_period_days(self) -> int:
        return self.period_days if self.period_days is not None else DEFAULT_GAMING_PERIOD_DAYS


class Severity(str, Enum):
    critical = "critical"
    warning = "warning"
    info = "info"


class RuleSpec(BaseModel):
    """Everything of a rule but its id (the body of ``PUT /v1/alert-rules/{id}``)."""

    # Numbers and flags are strict (as in ``GapRuleSpec``): `false` is no interval and `0` no flag.

    model_config = ConfigDict(extra="forbid", use_enum_values=False, json_schema_extra={"examples": [
        {"name": "Phone NPS below 20", "metric": "nps", "scope": {"channel": "phone"}, "condition": "below",
         "threshold": 20, "window": "24h", "min_n": 50, "for_s": 600, "severity": "critical"}]})

    #: Whether an aspect metric must be configured (not in responses: a stored rule may outlive its aspect).
    check_aspects: ClassVar[bool] = True

    name: str = Field(min_length=1, max_length=200, description="Human-readable name (the alert name).")
    metric: Metric | AspectMetricName = Field(
        description="KPI watched, as in `GET /v1/kpis?metric=`, or a configured rated aspect: `aspect:<name>` "
        "(mean score) or `aspect_top2:<name>` (top-2-box %).")
    scope: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=dict,
        description=f"Dimension -> value the KPI is filtered on ({', '.join(DIMENSIONS)}); `{{}}` = whole tenant.",
    )
    condition: Condition = Field(
        description="`below`: fires when value < threshold; `above`: value > threshold; `gap`: see `gap`.")
    threshold: float | None = Field(strict=True, default=None, description="Required for `below` and `above`.")
    gap: GapRuleSpec | None = Field(default=None, description="Required for `gap`: the live gap detector.")
    window: str = Field(default="1h", description=f"One of {', '.join(RULE_WINDOWS)}.")
    min_n: int = Field(strict=True, default=30, ge=1, description="Below this sample size the rule is not evaluated.")
    for_s: int = Field(strict=True, default=0, ge=0,
                       description="Pending period: the condition must hold this long to fire.")
    recovery: float | None = Field(strict=True,
        default=None, description="Hysteresis: resolve only once the value is past this level.")
    keep_firing_s: int = Field(strict=True, default=0, ge=0, description="Resolve only after recovering for this long.")
    severity: Severity = Severity.warning
    labels: dict[LabelName, Annotated[str, StringConstraints(max_length=256)]] = Field(default_factory=dict)
    routes: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        description="Webhook subscription ids notified of this rule's alerts; empty: every subscription whose "
        "event types and filters match.")
    repeat_interval_s: int = Field(strict=True,
        default=14_400, ge=0, description="Re-notify while firing this often; 0 = never re-notify.")
    group_by: list[LabelName] = Field(
        default_factory=list,
        description="Group this rule's alerts by these labels (scope dimensions, rule labels, `rule_id`): the "
        "changes of one evaluation that share their values go out as one notification listing every alert "
        "(`data.alerts`). Empty: one notification per alert.")
    enabled: bool = Field(default=True, strict=True)

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, Metric):
            return v
        if not isinstance(v, str) or not _RULE_METRIC.fullmatch(v):
            raise ValueError("Input should be one of " + ", ".join(f"'{m.value}'" for m in Metric)
                             + ", or 'aspect:<name>' / 'aspect_top2:<name>' of a configured aspect")
        aspect = AspectMetric.parse(v)
        if (aspect is not None and cls.check_aspects and aspect_config.checks_aspects(info.context)
                and aspect_config.spec(aspect.name) is None):
            known = ", ".join(sorted(aspect_config.aspects())) or "none configured"
            raise ValueError(f"unknown aspect {aspect.name!r}; configured: {known}")
        return v if aspect is not None else Metric(v)

    @property
    def measured(self) -> Metric | AspectMetric:
        """What ``kpi.measures.measure`` computes: the :class:`Metric` or the :class:`AspectMetric`."""
        return self.metric if isinstance(self.metric, Metric) else AspectMetric.parse(self.metric)  # type: ignore[return-value]

    @property
    def metric_name(self) -> str:
        """``metric`` as the API spells it (``nps``, ``aspect:wait_time``)."""
        return self.metric.value if isinstance(self.metric, Metric) else self.metric

    @field_validator("scope")
    @classmethod
    def _known_dimensions(cls, v: dict[str, str]) -> dict[str, str]:
        known = all_dimensions()  # built-in and custom (``custom_dimensions``)
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; allowed: {list(known)}")
        return {d: v[d] for d in known if d in v}

    @field_validator("window")
    @classmethod
    def _known_window(cls, v: str) -> str:
        if v not in RULE_WINDOWS:
            raise ValueError(f"unknown window {v!r}; allowed: {list(RULE_WINDOWS)}")
        return v

    @model_validator(mode="after")
    def _recovery_side(self) -> "RuleSpec":
        if self.condition is Condition.gap:
            self._check_gap_rule()
            return self
        if self.threshold is None:
            raise ValueError(f"a `{self.condition.value}` rule needs a threshold")
        if self.gap is not None:
            raise ValueError("`gap` is only for condition `gap`")
        if self.recovery is not None:
            if self.condition is Condition.below and self.recovery < self.threshold:
                raise ValueError("recovery must be >= threshold for a `below` rule")
            if self.condition is Condition.above and self.recovery > self.threshold:
                raise ValueError("recovery must be <= threshold for an `above` rule")
        return self

    def _check_gap_rule(self) -> None:
        if self.gap is None:
            raise ValueError("a `gap` rule needs `gap` (kind, dimensions, ...)")
        if self.threshold is not None or self.recovery is not None:
            raise ValueError("a `gap` rule takes no threshold or recovery (significance decides)")
        allowed = VOLUME_METRICS if self.gap.kind is GapKindName.data else tuple(GAP_METRICS)
        baseline = self.gap.kind is GapKindName.baseline
        # A baseline gap rule may watch a rated aspect too (the live frame then reads its counters).
        if not (baseline and AspectMetric.parse(self.metric_name)) and self.metric not in {m.value for m in allowed}:
            extra = " or a rated aspect (aspect:<name>, aspect_top2:<name>)" if baseline else ""
            message = f"a {self.gap.kind.value} gap rule watches one of {[m.value for m in allowed]}{extra}"
            if self.gap.kind is GapKindName.gaming:
                raise _invalid("RuleSpec", ("metric",), message, self.metric_name)
            raise ValueError(message)
        if self.gap.kind is GapKindName.gaming:
            return  # its dimension fixed in scope too: that one value watched against its peers
        overlap = sorted(set(self.gap.dimensions) & set(self.scope))
        if overlap:
            raise ValueError(f"dimension(s) {overlap} are both fixed in scope and fanned out")

    # -- predicates ------------------------------------------------------------
    @property
    def has_sample_size(self) -> bool:
        """Whether ``min_n`` guards the metric: a count (volume, responses, signal volume, engagement) is
        never a small sample, and "volume below 1" must be able to fire on silence."""
        return self.metric not in COUNT_METRICS

    def breaching(self, value: float) -> bool:
        return value < self.threshold if self.condition is Condition.below else value > self.threshold

    def recovered(self, value: float) -> bool:
        """Past the recovery level (or simply not breaching without hysteresis)."""
        if self.recovery is None:
            return not self.breaching(value)
        return value >= self.recovery if self.condition is Condition.below else value <= self.recovery


class Rule(RuleSpec):
    """A rule with its id (the id is unique per tenant; rules files key on it)."""

    id: RuleId

    def fingerprint(self) -> str:
        return fingerprint(self.id, self.scope, self.labels)

    def spec_json(self) -> bytes:
        """Canonical JSON of the rule (sorted keys): what is stored and compared by rules files."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def fingerprint(rule_id: str, scope: dict[str, str], labels: dict[str, str]) -> str:
    """Stable identity of one alert: the same rule, scope and labels give the same 16 hex digits."""
    canonical = orjson.dumps({"rule": rule_id, "scope": scope, "labels": labels}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]
