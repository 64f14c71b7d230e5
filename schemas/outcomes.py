"""The business-outcome API contract: GET /v1/outcomes, PUT and GET /v1/costs, GET /v1/roi.

Formulas are stated once, in ``kpi.business`` and the README ("Business outcomes"); the fields
below name them.
"""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from schemas.events import Currency

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
#: Largest monthly program cost: 10^12 (fits the ``Decimal(18, 4)`` column with 4 decimal places).
MAX_COST = 10 ** 12


class Estimate(BaseModel):
    value: float | None = Field(description="The figure; null when n = 0")
    ci_low: float | None = Field(description="Lower bound of its confidence interval (null below the n it needs)")
    ci_high: float | None = Field(description="Upper bound of its confidence interval")
    n: int = Field(description="Customers behind it (customers with a renewal decision for retention)")


class OutcomeGroup(BaseModel):
    group: dict[str, str] = Field(description="Values of the group_by names ('' = not known)")
    customers: int = Field(description="Customers with at least one outcome in the period")
    churn_rate: Estimate = Field(description="churned / customers; Wilson interval")
    retention: Estimate = Field(description="renewed and not churned / customers with a renewal or churn; Wilson")
    conversion: Estimate = Field(description="customers with a purchase or upgrade / customers; Wilson")
    revenue_per_customer: Estimate = Field(description="Σ revenue / customers (`currency`); Student t interval; "
                                           "null when no single currency")
    revenue: float | None = Field(description="Σ revenue of the group's customers in `currency`")


class Difference(BaseModel):
    metric: str = Field(description="churn_rate | retention | conversion | revenue_per_customer")
    difference: float = Field(description="promoters − detractors (a proportion 0..1 for rates)")
    ci_low: float
    ci_high: float
    p_value: float = Field(description="Two-sided: pooled z (rates), Welch t (revenue per customer)")
    significant: bool = Field(description="p_value < 1 − confidence")
    n_promoters: int
    n_detractors: int


class RevenueAtRisk(BaseModel):
    value: float = Field(description="detractor_revenue × max(0, detractor_churn_rate − promoter_churn_rate)")
    ci_low: float = Field(description="detractor_revenue × max(0, lower bound of the excess churn)")
    ci_high: float = Field(description="detractor_revenue × max(0, upper bound of the excess churn)")
    detractor_revenue: float
    detractor_churn_rate: float
    promoter_churn_rate: float
    excess_churn: float
    n_promoters: int
    n_detractors: int


class OutcomeComparison(BaseModel):
    group: dict[str, str] = Field(description="The group_by values (without nps_category) compared within")
    promoters_vs_detractors: list[Difference]
    revenue_at_risk: RevenueAtRisk | None = Field(description="Null unless both promoters and detractors have "
                                                  "customers, or without a single currency")


class OutcomeReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "from": "2026-07-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "horizon_days": 90.0, "confidence": 0.95,
        "currency": "EUR", "currencies": ["EUR"], "group_by": ["nps_category"], "filters": {},
        "data": [{"group": {"nps_category": "promoter"}, "customers": 120,
                  "churn_rate": {"value": 0.05, "ci_low": 0.023, "ci_high": 0.105, "n": 120},
                  "retention": {"value": 0.93, "ci_low": 0.86, "ci_high": 0.97, "n": 90},
                  "conversion": {"value": 0.3, "ci_low": 0.226, "ci_high": 0.386, "n": 120},
                  "revenue_per_customer": {"value": 410.0, "ci_low": 380.2, "ci_high": 439.8, "n": 120},
                  "revenue": 49200.0}],
        "count": 1, "comparisons": [],
    }]})

    from_: datetime = Field(alias="from")
    to: datetime
    horizon_days: float = Field(description="Experience horizon of the join (`outcomes.horizon_days`)")
    confidence: float
    currency: str | None = Field(description="Currency of every revenue figure; null when the period has "
                                 "several and none was chosen (revenue figures are then null)")
    currencies: list[str] = Field(description="Currencies of the period's outcomes")
    group_by: list[str]
    filters: dict[str, str]
    data: list[OutcomeGroup]
    count: int
    comparisons: list[OutcomeComparison] = Field(
        description="Per group (group_by without nps_category): promoters vs detractors and the revenue at risk")


def _strict_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a JSON number")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return Decimal(repr(value))
    return Decimal(value)


_COST_DOC = f"What the program cost in the month, 0 to {MAX_COST:,}, at most 4 decimal places"
CostAmount = Annotated[Decimal, BeforeValidator(_strict_number),
                       Field(ge=0, le=MAX_COST, decimal_places=4, description=_COST_DOC),
                       WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_COST, "description": _COST_DOC})]


class ProgramCostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(description="Calendar month, `YYYY-MM`", json_schema_extra={"pattern": _MONTH.pattern})
    amount: CostAmount
    currency: Currency
    note: str = Field(default="", max_length=500, description="Free text (what the cost covers)")

    @field_validator("period")
    @classmethod
    def _month(cls, v: str) -> str:
        if not _MONTH.fullmatch(v):
            raise ValueError("must be a calendar month YYYY-MM")
        return v


class ProgramCostsIn(BaseModel):
    """Body of PUT /v1/costs: each month given replaces that month's cost; other months are kept."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"costs": [{"period": "2026-09", "amount": 12000, "currency": "EUR", "note": "survey platform + 1 FTE"}]}]})

    costs: list[ProgramCostIn] = Field(min_length=1, max_length=120)

    @field_validator("costs")
    @classmethod
    def _distinct(cls, v: list[ProgramCostIn]) -> list[ProgramCostIn]:
        months = [c.period for c in v]
        if len(set(months)) != len(months):
            raise ValueError("each period at most once")
        return v


class ProgramCostPublic(BaseModel):
    period: str
    amount: float
    currency: str
    note: str


class ProgramCostList(BaseModel):
    data: list[ProgramCostPublic]
    count: int


class RoiTerm(BaseModel):
    category: str = Field(description="promoter | passive | detractor")
    share: float = Field(description="s_k: the category's share of the period's answered customers")
    baseline_share: float = Field(description="s_k(B): its share in the baseline period")
    churn_rate: float = Field(description="c_k in the period")
    lost_per_churned_customer: float = Field(description="v_k: mean `amount` of the category's churn outcomes "
                                             "per churned customer in the period (0 without churn)")
    retained_revenue: float = Field(description="N × (s_k(B) − s_k) × c_k × v_k")


class RoiReport(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    baseline_from: datetime
    baseline_to: datetime
    currency: str | None
    customers: int = Field(description="N: answered customers (with an NPS category) in the period")
    baseline_customers: int
    retained_revenue: float | None = Field(description="Σ of the terms; null when a category has no customer "
                                           "in the period or a period has no answered customer")
    cost: float = Field(description="Program costs of the period in `currency`, months prorated by overlap")
    roi: float | None = Field(description="(retained_revenue − cost) / cost; null when cost = 0")
    terms: list[RoiTerm]
    method: str = Field(description="How the figures are computed")
    assumptions: list[str] = Field(description="What the attribution assumes")
    ignored_costs: list[str] = Field(description="Months whose cost is in another currency (not counted)")
