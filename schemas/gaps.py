"""The gap and target API contract (GET /v1/gaps, PUT/GET /v1/targets)."""
from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from core import aspects as aspect_config

from core.dimensions import all_dimensions
from core.isotime import IsoAwareDateTime


class GapMetric(str, Enum):
    """KPIs gaps and targets are defined on (``gaps.detect.GAP_METRICS``)."""

    nps = "nps"
    csat = "csat"
    ces = "ces"
    fcr = "fcr"
    fcr_operational = "fcr_operational"
    response_rate = "response_rate"
    conversion_rate = "conversion_rate"
    abandonment_rate = "abandonment_rate"  # lower is better, like transfer_rate, wait_time and handle_time
    transfer_rate = "transfer_rate"
    wait_time = "wait_time"
    handle_time = "handle_time"
    pos_neg_ratio = "pos_neg_ratio"
    review_rating = "review_rating"  # cx.signal.v1: mean review rating 1..5
    signal_negative_share = "signal_negative_share"  # % of reviews and mentions that are negative; lower is better


# The rest are percentages. Durations in seconds up to the 30 days a touchpoint may carry.
_RANGE = {GapMetric.nps: (-100.0, 100.0), GapMetric.ces: (1.0, 7.0), GapMetric.wait_time: (0.0, 2_592_000.0),
          GapMetric.handle_time: (0.0, 2_592_000.0), GapMetric.pos_neg_ratio: (0.0, 1_000_000.0),
          GapMetric.review_rating: (1.0, 5.0)}

#: A rated aspect as a gap metric and target (``aspect:<name>``: mean; ``aspect_top2:<name>``: top-2-box %).
ASPECT_METRIC_PATTERN = "^(aspect|aspect_top2):[a-z][a-z0-9_]{0,62}$"
AspectMetricName = Annotated[str, StringConstraints(pattern=ASPECT_METRIC_PATTERN)]


def metric_range(metric: GapMetric | str) -> tuple[float, float]:
    """The scale a target of ``metric`` lies on (an aspect's mean: its configured min..max)."""
    if isinstance(metric, GapMetric):
        return _RANGE.get(metric, (0.0, 100.0))
    parsed = aspect_config.aspect_metric_name(metric)
    spec = aspect_config.spec(parsed[1]) if parsed and parsed[0] == "mean" else None
    return (float(spec.min), float(spec.max)) if spec is not None else (0.0, 100.0)


ScopeValue = Annotated[str, Field(min_length=1, max_length=128)]


def _known_dimension(name: str) -> str:
    if name not in all_dimensions():
        raise ValueError(f"unknown dimension {name!r}; allowed: {list(all_dimensions())}")
    return name


#: A built-in or custom dimension (``core.dimensions``), checked when read: the error names the key.
DimensionName = Annotated[str, AfterValidator(_known_dimension)]


class TargetBase(BaseModel):
    #: Whether an aspect metric must be configured (not in responses: a stored target may outlive its aspect).
    check_aspects: ClassVar[bool] = True
    metric: GapMetric | AspectMetricName = Field(description="A gap metric, or a configured rated aspect: "
                                                "`aspect:<name>` (mean score) or `aspect_top2:<name>` (top-2-box %)")
    scope: dict[DimensionName, ScopeValue] = Field(
        default={}, description="Dimension values (built-in or custom) the target applies to; {} = the whole tenant")
    value: float = Field(strict=True, allow_inf_nan=False, description="Target on the metric's scale (NPS -100..100, "
                         "percentages 0..100, CES 1..7, review rating 1..5, wait and handle time in seconds, pos_neg_ratio "
                         "as positive experiences per negative one, default 3; an aspect's mean on its configured "
                         "min..max, its top-2-box 0..100)")
    valid_from: IsoAwareDateTime
    valid_to: IsoAwareDateTime | None = Field(default=None, description="Exclusive; null = open-ended")

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, GapMetric):
            return v
        parsed = aspect_config.aspect_metric_name(v) if isinstance(v, str) else None
        if parsed is None:
            try:
                return GapMetric(v)
            except ValueError:
                raise ValueError("Input should be one of " + ", ".join(f"'{m.value}'" for m in GapMetric)
                                 + ", or 'aspect:<name>' / 'aspect_top2:<name>' of a configured aspect") from None
        if (not re.fullmatch(ASPECT_METRIC_PATTERN, v)  # type: ignore[arg-type]
                or (cls.check_aspects and aspect_config.checks_aspects(info.context)
                    and aspect_config.spec(parsed[1]) is None)):
            known = ", ".join(sorted(aspect_config.aspects())) or "none configured"
            raise ValueError(f"unknown aspect {parsed[1]!r}; configured: {known}")
        return v

    @field_validator("value")
    @classmethod
    def _in_range(cls, v: float, info: ValidationInfo) -> float:
        metric = info.data.get("metric")
        if metric is not None:
            low, high = metric_range(metric)
            if not low <= v <= high:
                name = metric.value if isinstance(metric, GapMetric) else metric
                raise ValueError(f"{name} targets lie in [{low:g}, {high:g}]")
        return v

    @field_validator("valid_to")
    @classmethod
    def _after_start(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("valid_from")
        if v is not None and start is not None and v <= start:
            raise ValueError("must be after valid_from")
        return v


class TargetIn(TargetBase):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"metric": "nps", "scope": {"channel": "phone"}, "value": 40, "valid_from": "2026-01-01T00:00:00Z"}]})
    """Body of PUT /v1/targets; the same (metric, scope, valid_from) replaces the earlier one."""


class TargetPublic(TargetBase):
    check_aspects: ClassVar[bool] = False
    scope: dict[str, str]


class TargetList(BaseModel):
    data: list[TargetPublic]
    count: int


class ObservedValue(BaseModel):
    value: float | None = Field(description="KPI value (counts for data gaps); null when n = 0")
    n: int
    ci_low: float | None
    ci_high: float | None
    low_sample: bool
    counts: dict[str, float]


class ReferenceValue(BaseModel):
    kind: str = Field(description="target | rest (scope minus the segment) | peers (gaming: the same) | baseline (past periods summed) | "
                      "expected (mean volume per baseline period)")
    value: float | None
    n: int | None = Field(description="Answers behind the reference (total events for `expected`)")
    ci_low: float | None
    ci_high: float | None
    periods: int | None = Field(description="Baseline periods used")


class AspectExplanation(BaseModel):
    """How much a rated aspect's change accounts for an NPS or CSAT gap (``gaps.aspect_explain``)."""

    aspect: str
    label: str
    mean_observed: float = Field(description="The aspect's mean score in the observed answers")
    mean_reference: float = Field(description="... in the reference answers (the rest of the scope, or the baseline)")
    change: float = Field(description="mean_observed − mean_reference, in aspect points (e.g. wait_time −1.8)")
    slope: float = Field(description="Outcome score points per aspect point in the observed answers (least squares)")
    explained: float = Field(description="change × slope: the outcome score change the aspect accounts for "
                             "(NPS 0-10 or CSAT 1-5 score points, not NPS points)")
    n_observed: int = Field(description="Observed answers carrying the aspect and the outcome")
    n_reference: int = Field(description="Reference answers carrying the aspect and the outcome")


class GapPublic(BaseModel):
    kind: str = Field(description="target | segment | baseline | data | gaming")
    metric: str
    scope: dict[str, str]
    window_start: datetime
    window_end: datetime
    observed: ObservedValue
    reference: ReferenceValue
    gap: float | None = Field(description="observed − reference in KPI units; negative = worse")
    p_value: float | None
    alpha: float | None = Field(description="Level p_value is compared with, after the Bonferroni guard")
    significant: bool
    low_sample: bool
    severity: float = Field(description="0 unless significant; shortfall as a fraction of the metric's range "
                            "(data gaps: of the expected volume)")
    dimension: str | None = None
    segment: str | None = None
    comparisons: int | None = None
    status: str | None = Field(default=None, description="Data gaps: ok | low | silent")
    surveyed_share: float | None = Field(default=None, description="Gaming gaps: invitations / touchpoints of the segment")
    peer_surveyed_share: float | None = Field(default=None, description="Gaming gaps: the same share of its peers")
    p_share: float | None = Field(default=None, description="Gaming gaps: one-sided p of a lower surveyed share")
    p_score: float | None = Field(default=None, description="Gaming gaps: one-sided p of a higher score")
    p_adjusted: float | None = Field(default=None, description="Gaming gaps: Holm-adjusted p_value")
    correction: str | None = Field(default=None, description="Gaming gaps: the multiple-testing correction (holm)")
    explained_by_aspects: list[AspectExplanation] | None = Field(
        default=None, description="NPS and CSAT segment and baseline gaps (`1h`, `1d`), when rated aspects are "
        "configured: the aspects whose change between the observed and the reference answers accounts for the "
        "most of the outcome's change, largest |explained| first (at most 3)")


class GapList(BaseModel):
    metric: str
    window: str
    window_start: datetime
    window_end: datetime
    confidence: float
    kinds: list[str]
    dimension: str | None
    filters: dict[str, str]
    source: str = Field(description="What answered: `view:<name>` (stored windows) or `ledger` (a crossing no "
                        "stored view holds, counted from the stored events)")
    data: list[GapPublic]
    count: int
