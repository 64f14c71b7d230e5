"""Business-outcome KPIs by experience: churn, retention, conversion, revenue, revenue at risk, ROI.

Pure maths over additive per-group counts of *customers* (``GroupCounts``; the warehouse builds
them from the experience -> outcome join, ``warehouse.outcome_queries``). A customer of a period
is one with at least one outcome (``cx.outcome.v1``) in it; their group (NPS category, CSAT or CES
band, dimensions) is that of their latest outcome of the period.

Formulas (n = customers of the group; intervals two-sided at ``confidence``):

* churn rate = churned / n, a churned customer having a ``churn`` outcome; Wilson interval.
* retention = retained / decided: of the customers with a renewal decision (a ``renewal`` or a
  ``churn``), those who renewed and did not churn; Wilson interval, n = decided.
* conversion = converted / n, a converted customer having a ``purchase`` or an ``upgrade``; Wilson.
* revenue per customer = Σ revenue / n, a customer's revenue being Σ amount of their
  purchases, renewals, upgrades and downgrades minus their refunds (one currency); Student t
  interval from (n, Σ, Σ²).
* promoters vs detractors: each difference (promoters − detractors) with its interval and
  two-sided p-value: Newcombe hybrid score interval and pooled z for the rates
  (``stats.proportion_diff_test``), Welch's t for revenue per customer (``stats.welch_t_test``).
* revenue at risk = R_D × max(0, c_D − c_P): the detractors' revenue R_D times their excess churn
  rate over promoters; its interval is R_D × max(0, ·) of the Newcombe interval of c_D − c_P.
* retained revenue (ROI) = N × Σ_k (s_k(B) − s_k) × c_k × v_k over k in promoter, passive,
  detractor: the revenue the period did not lose to churn because its NPS mix (shares s_k of its N
  answered customers) differs from the baseline's (s_k(B)), at the period's churn rate c_k and mean
  lost value per churned customer v_k (the ``amount`` of their ``churn`` outcomes) of each
  category; c_k × v_k is the category's lost revenue per customer. Because Σ_k (s_k(B) − s_k) = 0,
  only the *differentials* between categories matter (adding a constant to every c_k changes
  nothing when the v_k are equal). ROI = (retained revenue − cost) / cost.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Mapping

from kpi import stats

__all__ = ["ANSWERED_CATEGORIES", "NPS_CATEGORIES", "Difference", "Estimate", "GroupCounts", "OutcomeKpis",
           "RevenueAtRisk", "Retained", "compare", "kpis", "mean", "month_bounds_ms", "prorated_cost", "rate",
           "retained_revenue", "revenue_at_risk", "total"]

NPS_CATEGORIES = ("promoter", "passive", "detractor", "no_answer")
ANSWERED_CATEGORIES = ("promoter", "passive", "detractor")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """Additive counts of the customers of one group."""

    customers: int = 0
    churned: int = 0
    #: customers with a renewal decision: a ``renewal`` or a ``churn`` outcome
    decided: int = 0
    #: of those, the ones with a renewal and no churn
    retained: int = 0
    converted: int = 0
    revenue: Decimal = Decimal(0)
    #: Σ of each customer's revenue squared (for the t interval)
    revenue_sumsq: float = 0.0
    #: Σ amount of the customers' ``churn`` outcomes: the contract value lost
    lost_revenue: Decimal = Decimal(0)

    def __add__(self, other: "GroupCounts") -> "GroupCounts":
        return GroupCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def total(counts: Iterable[GroupCounts]) -> GroupCounts:
    out = GroupCounts()
    for c in counts:
        out = out + c
    return out


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure with its sample size and interval; ``value`` is None when n = 0."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


def rate(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """successes / n with its Wilson interval."""
    if n <= 0:
        return Estimate(None, None, None, 0)
    low, high = stats.wilson_interval(successes, n, confidence)
    return Estimate(successes / n, low, high, n)


def mean(n: int, total_: float, sumsq: float, confidence: float = 0.95) -> Estimate:
    """total / n with its Student t interval (no interval below n = 2)."""
    if n <= 0:
        return Estimate(None, None, None, 0)
    if n < 2:
        return Estimate(total_ / n, None, None, n)
    low, high = stats.mean_interval(n, total_, sumsq, confidence)
    return Estimate(total_ / n, low, high, n)


@dataclass(frozen=True, slots=True)
class OutcomeKpis:
    customers: int
    churn_rate: Estimate
    retention: Estimate
    conversion: Estimate
    revenue_per_customer: Estimate
    revenue: Decimal


def kpis(c: GroupCounts, confidence: float = 0.95) -> OutcomeKpis:
    return OutcomeKpis(
        customers=c.customers,
        churn_rate=rate(c.churned, c.customers, confidence),
        retention=rate(c.retained, c.decided, confidence),
        conversion=rate(c.converted, c.customers, confidence),
        revenue_per_customer=mean(c.customers, float(c.revenue), c.revenue_sumsq, confidence),
        revenue=c.revenue,
    )


@dataclass(frozen=True, slots=True)
class Difference:
    """promoters − detractors on one KPI, with its interval and two-sided p-value."""

    metric: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    n_promoters: int
    n_detractors: int


def compare(promoters: GroupCounts, detractors: GroupCounts, confidence: float = 0.95) -> list[Difference]:
    """Each KPI both groups can measure (rates: n >= 1 each; revenue: n >= 2 each)."""
    out: list[Difference] = []
    alpha = 1.0 - confidence

    def add(metric: str, test: stats.TwoSampleTest, n1: int, n2: int) -> None:
        out.append(Difference(metric, test.difference, test.ci_low, test.ci_high, test.p_value,
                              test.p_value < alpha, n1, n2))

    p, d = promoters, detractors
    for metric, x1, n1, x2, n2 in (("churn_rate", p.churned, p.customers, d.churned, d.customers),
                                   ("retention", p.retained, p.decided, d.retained, d.decided),
                                   ("conversion", p.converted, p.customers, d.converted, d.customers)):
        if n1 > 0 and n2 > 0:
            add(metric, stats.proportion_diff_test(x1, n1, x2, n2, confidence), n1, n2)
    if p.customers >= 2 and d.customers >= 2:
        test = stats.welch_t_test((p.customers, float(p.revenue), p.revenue_sumsq),
                                  (d.customers, float(d.revenue), d.revenue_sumsq), confidence)
        add("revenue_per_customer", test, p.customers, d.customers)
    return out


@dataclass(frozen=True, slots=True)
class RevenueAtRisk:
    """R_D × max(0, c_D − c_P), with the interval of the excess churn carried through."""

    value: float
    ci_low: float
    ci_high: float
    detractor_revenue: float
    detractor_churn_rate: float
    promoter_churn_rate: float
    excess_churn: float
    n_promoters: int
    n_detractors: int


def revenue_at_risk(promoters: GroupCounts, detractors: GroupCounts,
                    confidence: float = 0.95) -> RevenueAtRisk | None:
    """None unless both groups have customers."""
    if promoters.customers <= 0 or detractors.customers <= 0:
        return None
    test = stats.proportion_diff_test(detractors.churned, detractors.customers,
                                      promoters.churned, promoters.customers, confidence)
    r_d = float(detractors.revenue)
    base = max(r_d, 0.0)  # a group refunded more than it paid puts nothing at risk
    return RevenueAtRisk(
        value=base * max(0.0, test.difference), ci_low=base * max(0.0, test.ci_low),
        ci_high=base * max(0.0, test.ci_high), detractor_revenue=r_d,
        detractor_churn_rate=detractors.churned / detractors.customers,
        promoter_churn_rate=promoters.churned / promoters.customers, excess_churn=test.difference,
        n_promoters=promoters.customers, n_detractors=detractors.customers)


@dataclass(frozen=True, slots=True)
class Retained:
    """Retained revenue attributable to the change of NPS mix, per category and in all."""

    value: float
    customers: int
    baseline_customers: int
    #: category -> (share in the period, share in the baseline, churn rate, lost value per churned customer,
    #: term)
    terms: dict[str, tuple[float, float, float, float, float]]


def retained_revenue(period: Mapping[str, GroupCounts], baseline: Mapping[str, GroupCounts]) -> Retained | None:
    """N × Σ_k (s_k(B) − s_k) × c_k × v_k over the answered categories; None unless every answered
    category has customers in the period (its c_k and v_k) and both periods have answered customers.
    A category without churn has c_k = 0 (v_k is then reported as 0)."""
    n = sum(period.get(k, GroupCounts()).customers for k in ANSWERED_CATEGORIES)
    n_b = sum(baseline.get(k, GroupCounts()).customers for k in ANSWERED_CATEGORIES)
    if n <= 0 or n_b <= 0 or any(period.get(k, GroupCounts()).customers <= 0 for k in ANSWERED_CATEGORIES):
        return None
    terms: dict[str, tuple[float, float, float, float, float]] = {}
    value = 0.0
    for k in ANSWERED_CATEGORIES:
        c = period[k]
        share, share_b = c.customers / n, baseline.get(k, GroupCounts()).customers / n_b
        churn = c.churned / c.customers
        lost_per_churner = float(c.lost_revenue) / c.churned if c.churned else 0.0
        term = n * (share_b - share) * float(c.lost_revenue) / c.customers  # = N Δs c_k v_k
        terms[k] = (share, share_b, churn, lost_per_churner, term)
        value += term
    return Retained(value, n, n_b, terms)


def month_bounds_ms(period: str) -> tuple[int, int]:
    """[start, end) of calendar month ``YYYY-MM`` in UTC epoch ms; ValueError if not a month."""
    m = _MONTH.fullmatch(period)
    if m is None:
        raise ValueError(f"period {period!r} must be a calendar month YYYY-MM")
    year, month = int(m[1]), int(m[2])
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    days = calendar.monthrange(year, month)[1]
    return int(start.timestamp() * 1000), int(start.timestamp() * 1000) + days * 86_400_000


def prorated_cost(costs: Iterable[tuple[str, Decimal]], from_ms: int, to_ms: int) -> Decimal:
    """Σ over months of cost × (overlap of the month with [from, to)) / (month length); exact."""
    out = Decimal(0)
    for period, amount in costs:
        start, end = month_bounds_ms(period)
        overlap = min(end, to_ms) - max(start, from_ms)
        if overlap > 0:
            out += amount * Decimal(overlap) / Decimal(end - start)
    return out
