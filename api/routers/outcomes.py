"""/v1/outcomes (business KPIs by experience), /v1/costs (program costs per month), /v1/roi.

The join of outcomes to the experience before them is made on read (``warehouse.outcome_queries``);
the maths is ``kpi.business``. No SQL here.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.params import FiltersDep, IsoDateTime, from_ms, time_range, to_ms, unprocessable, utc
from api.responses import SCOPED, errors
from core.dimensions import MAX_GROUP_BY, all_dimensions
from kpi import business
from kpi.business import ANSWERED_CATEGORIES, GroupCounts
from schemas.outcomes import (
    Difference,
    Estimate,
    OutcomeComparison,
    OutcomeGroup,
    OutcomeReport,
    ProgramCostList,
    ProgramCostPublic,
    ProgramCostsIn,
    RevenueAtRisk,
    RoiReport,
    RoiTerm,
)
from warehouse import outcome_queries
from warehouse.outcome_queries import ProgramCost, group_columns

router = APIRouter(prefix="/v1", tags=["outcomes"], responses=errors(*SCOPED))

_DAY_MS = 86_400_000
_DEFAULT_SPAN = timedelta(days=90)
CurrencyParam = Annotated[str | None, Query(pattern="^[A-Z]{3}$", description="ISO 4217 currency of the revenue "
                                            "figures; default: the period's only currency")]
ConfidenceParam = Annotated[float | None, Query(gt=0.5, lt=1.0, description="Default `outcomes.confidence`")]


def _group_by(text: str) -> tuple[str, ...]:
    names = [g for g in text.split(",") if g]
    allowed = group_columns()
    unknown = [g for g in names if g not in allowed]
    if unknown:
        raise unprocessable("group_by", f"unknown name(s) {unknown}; allowed: {list(allowed)}")
    if len(set(names)) != len(names):
        raise unprocessable("group_by", f"repeated name in {names}")
    if len(names) > MAX_GROUP_BY:
        raise unprocessable("group_by", f"at most {MAX_GROUP_BY} names")
    return tuple(names)


async def _currency(services, tenant: str, chosen: str | None, from_ms_: int, to_ms_: int) -> tuple[str | None, list[str]]:
    present = await outcome_queries.currencies_in(services.warehouse, tenant, from_ms_, to_ms_)
    if chosen is not None:
        return chosen, present
    return (present[0] if len(present) == 1 else None), present


def _estimate(e: business.Estimate) -> Estimate:
    return Estimate(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n)


def _group_public(group: dict[str, str], c: GroupCounts, currency: str | None, confidence: float) -> OutcomeGroup:
    k = business.kpis(c, confidence)
    revenue = _estimate(k.revenue_per_customer) if currency else Estimate(value=None, ci_low=None, ci_high=None,
                                                                            n=c.customers)
    return OutcomeGroup(group=group, customers=c.customers, churn_rate=_estimate(k.churn_rate),
                        retention=_estimate(k.retention), conversion=_estimate(k.conversion),
                        revenue_per_customer=revenue, revenue=float(c.revenue) if currency else None)


@router.get(
    "/outcomes",
    response_model=OutcomeReport,
    summary="Churn, retention, conversion and revenue per customer by experience",
    description=(
        "Customers with at least one business outcome (`cx.outcome.v1`) in [`from`, `to`), each linked to the "
        "experience before it (latest NPS, CSAT and CES answer and touchpoint of the same customer within "
        "`outcomes.horizon_days`), joined on read over the deduplicated ledgers: each outcome counts once, "
        "late outcomes and late answers included. A customer's group is that of their latest outcome of the "
        "period. `group_by` takes up to 4 of: the dimensions, `nps_category` (promoter | passive | detractor "
        "| no_answer), `csat_band` (satisfied | neutral | dissatisfied | no_answer), `ces_band` (low_effort | "
        "medium_effort | high_effort | no_answer), `last_channel`, `last_journey_step`, `product`, `currency`. "
        f"Any query parameter named like a dimension ({', '.join(all_dimensions())}) filters the outcomes. "
        "`comparisons` give, within each group, promoters − detractors on every KPI with its significance, and "
        "the revenue at risk = detractors' revenue × max(0, their churn rate − promoters')."),
)
async def get_outcomes(
    caller: ReadCaller, services: ServicesDep, filters: FiltersDep,
    from_: Annotated[IsoDateTime | None, Query(alias="from", description="ISO-8601; default `to` − 90 days")] = None,
    to: Annotated[IsoDateTime | None, Query(description="ISO-8601, exclusive; default now")] = None,
    group_by: Annotated[str, Query(description="Comma-separated names (see the description)")] = "",
    currency: CurrencyParam = None,
    confidence: ConfidenceParam = None,
) -> OutcomeReport:
    groups = _group_by(group_by)
    from_dt, to_dt = time_range(from_, to, _DEFAULT_SPAN)
    cfg = services.settings.outcomes
    conf = cfg.confidence if confidence is None else confidence
    f_ms, t_ms = to_ms(from_dt), to_ms(to_dt)
    chosen, present = await _currency(services, caller.tenant, currency, f_ms, t_ms)
    counts = await outcome_queries.customers_by_group(
        services.warehouse, caller.tenant, f_ms, t_ms, round(cfg.horizon_days * _DAY_MS), groups, filters, chosen)
    keys = [g for g in groups if g != "nps_category"]
    by_keys: dict[tuple[str, ...], dict[str, GroupCounts]] = {}
    for (values, category), c in counts.items():
        by_keys.setdefault(values, {})[category] = c

    data: list[OutcomeGroup] = []
    comparisons: list[OutcomeComparison] = []
    for values in sorted(by_keys):
        cats = by_keys[values]
        named = dict(zip(keys, values))
        if "nps_category" in groups:
            for category in sorted(cats):
                group = {g: (category if g == "nps_category" else named[g]) for g in groups}
                data.append(_group_public(group, cats[category], chosen, conf))
        else:
            data.append(_group_public({g: named[g] for g in groups}, business.total(cats.values()), chosen, conf))
        p, d = cats.get("promoter", GroupCounts()), cats.get("detractor", GroupCounts())
        diffs = [x for x in business.compare(p, d, conf) if chosen or x.metric != "revenue_per_customer"]
        rar = business.revenue_at_risk(p, d, conf) if chosen else None
        comparisons.append(OutcomeComparison(
            group=named, promoters_vs_detractors=[Difference(**_fields(x)) for x in diffs],
            revenue_at_risk=RevenueAtRisk(**_fields(rar)) if rar is not None else None))
    return OutcomeReport.model_validate({
        "from": from_dt, "to": to_dt, "horizon_days": cfg.horizon_days, "confidence": conf, "currency": chosen,
        "currencies": present, "group_by": list(groups), "filters": filters, "data": data, "count": len(data),
        "comparisons": comparisons})


def _fields(obj) -> dict:
    return {name: getattr(obj, name) for name in obj.__slots__}


# -- program costs --------------------------------------------------------------------------

@router.put("/costs", response_model=ProgramCostList, summary="Set the experience program's cost per month",
            responses=errors(400), description="Each month given replaces that month's cost (audited); the others are kept. "
            "The answer lists the tenant's costs.")
async def put_costs(body: ProgramCostsIn, caller: AdminCaller, services: ServicesDep) -> ProgramCostList:
    costs = [ProgramCost(c.period, c.amount, c.currency, c.note) for c in body.costs]
    await outcome_queries.put_program_costs(services.warehouse, caller.tenant, costs, caller.key_id)
    await audit(services, caller, "program_cost.put", ",".join(c.period for c in costs),
                periods=[c.period for c in costs], currencies=sorted({c.currency for c in costs}))
    return await _cost_list(services, caller.tenant)


@router.get("/costs", response_model=ProgramCostList, summary="The experience program's costs per month")
async def get_costs(caller: ReadCaller, services: ServicesDep) -> ProgramCostList:
    return await _cost_list(services, caller.tenant)


async def _cost_list(services, tenant: str) -> ProgramCostList:
    rows = await outcome_queries.program_costs(services.warehouse, tenant)
    data = [ProgramCostPublic(period=r.period, amount=float(r.amount), currency=r.currency, note=r.note) for r in rows]
    return ProgramCostList(data=data, count=len(data))


# -- ROI ------------------------------------------------------------------------------------

ROI_METHOD = (
    "retained_revenue = N × Σ_k (s_k(B) − s_k) × c_k × v_k over k in promoter, passive, detractor: N answered "
    "customers of the period (customers whose latest outcome has an NPS answer within the horizon), s_k and "
    "s_k(B) the category's share of them in the period and in the baseline (default: the period of the same "
    "length before `from`), c_k the period's churn rate of the category and v_k its mean lost value per "
    "churned customer (the `amount` of their churn outcomes). It is the revenue the period's churn would have "
    "cost with the baseline's NPS mix minus what it cost with its own; since the shares sum to 1 in both "
    "periods, only the differences between categories count. cost = Σ monthly program costs in `currency` × "
    "the share of each month inside [from, to). roi = (retained_revenue − cost) / cost."
)
ROI_ASSUMPTIONS = [
    "The churn and revenue differences between NPS categories are caused by the experience (not by what "
    "drives both, e.g. price or product), and hold in the baseline as in the period.",
    "Only the change of NPS mix is credited; customers without an answer in the horizon are left out of N.",
    "The answered customers of both periods are comparable populations (same sampling of who is surveyed).",
    "Churn outcomes carry the contract value lost as their `amount` (0 counts as nothing lost). Revenue "
    "and costs are in one currency; no discounting, no lag between the experience and the outcome beyond "
    "the join's horizon.",
    "A point estimate: no interval is given (it combines six proportions and three means); read it with the "
    "per-category n and the intervals of GET /v1/outcomes?group_by=nps_category.",
]


@router.get("/roi", response_model=RoiReport, summary="Revenue retained by the experience, program cost and ROI",
            description=ROI_METHOD)
async def get_roi(
    caller: ReadCaller, services: ServicesDep,
    from_: Annotated[IsoDateTime, Query(alias="from", description="ISO-8601, start of the period")],
    to: Annotated[IsoDateTime, Query(description="ISO-8601, exclusive end of the period")],
    baseline_from: Annotated[IsoDateTime | None, Query(description="Default: the period's length before `from`")] = None,
    baseline_to: Annotated[IsoDateTime | None, Query(description="Exclusive; default `from`")] = None,
    currency: CurrencyParam = None,
) -> RoiReport:
    from_dt, to_dt = time_range(from_, to, _DEFAULT_SPAN)
    b_to = utc(baseline_to) if baseline_to is not None else from_dt
    try:
        b_from = utc(baseline_from) if baseline_from is not None else b_to - (to_dt - from_dt)
    except OverflowError:
        raise unprocessable("baseline_from", "the default baseline (the period's length before it) starts "
                            "before year 1; give baseline_from") from None
    if b_from >= b_to:
        raise unprocessable("baseline_from", "must be before `baseline_to`")
    horizon = round(services.settings.outcomes.horizon_days * _DAY_MS)
    f_ms, t_ms = to_ms(from_dt), to_ms(to_dt)
    chosen, _ = await _currency(services, caller.tenant, currency, f_ms, t_ms)
    period = await _by_category(services, caller.tenant, f_ms, t_ms, horizon, chosen)
    baseline = await _by_category(services, caller.tenant, to_ms(b_from), to_ms(b_to), horizon, chosen)
    retained = business.retained_revenue(period, baseline) if chosen else None

    first, last = _month(f_ms), _month(t_ms - 1)
    costs = await outcome_queries.program_costs(services.warehouse, caller.tenant, first, last)
    counted = [(c.period, c.amount) for c in costs if c.currency == chosen]
    cost = business.prorated_cost(counted, f_ms, t_ms) if chosen else Decimal(0)
    value = retained.value if retained is not None else None
    roi = (value - float(cost)) / float(cost) if value is not None and cost > 0 else None
    terms = [] if retained is None else [
        RoiTerm(category=k, share=t[0], baseline_share=t[1], churn_rate=t[2], lost_per_churned_customer=t[3],
                retained_revenue=t[4]) for k, t in retained.terms.items()]
    return RoiReport.model_validate({
        "from": from_dt, "to": to_dt, "baseline_from": b_from, "baseline_to": b_to, "currency": chosen,
        "customers": sum(period.get(k, GroupCounts()).customers for k in ANSWERED_CATEGORIES),
        "baseline_customers": sum(baseline.get(k, GroupCounts()).customers for k in ANSWERED_CATEGORIES),
        "retained_revenue": value, "cost": float(cost), "roi": roi, "terms": terms, "method": ROI_METHOD,
        "assumptions": ROI_ASSUMPTIONS,
        "ignored_costs": [c.period for c in costs if c.currency != chosen]})


async def _by_category(services, tenant: str, f_ms: int, t_ms: int, horizon: int,
                       currency: str | None) -> dict[str, GroupCounts]:
    counts = await outcome_queries.customers_by_group(services.warehouse, tenant, f_ms, t_ms, horizon, (), {},
                                                      currency)
    return {category: c for ((), category), c in counts.items()}


def _month(ms: int) -> str:
    dt = from_ms(ms)
    assert dt is not None
    return f"{dt.year:04d}-{dt.month:02d}"
