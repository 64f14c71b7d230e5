"""kpi.business: outcome KPIs by experience, revenue at risk, retained revenue and prorated costs.

Every expectation is computed here from generated customers, independently of the module."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi import business
from kpi.business import ANSWERED_CATEGORIES, GroupCounts

KINDS = ("purchase", "renewal", "upgrade", "downgrade", "churn", "refund")

# A customer: the kinds of their outcomes and the amounts (cents, so sums are exact).
customers_st = st.lists(
    st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000_00)), min_size=1, max_size=6),
    min_size=0, max_size=40)


def _counts(customers: list[list[tuple[str, int]]]) -> GroupCounts:
    """GroupCounts of customers, built by the definitions (README "Business outcomes")."""
    c = GroupCounts()
    for outcomes in customers:
        kinds = {k for k, _ in outcomes}
        revenue = Decimal(sum(a for k, a in outcomes if k not in ("churn", "refund"))
                          - sum(a for k, a in outcomes if k == "refund")) / 100
        c = GroupCounts(
            customers=c.customers + 1, churned=c.churned + ("churn" in kinds),
            decided=c.decided + bool(kinds & {"renewal", "churn"}),
            retained=c.retained + ("renewal" in kinds and "churn" not in kinds),
            converted=c.converted + bool(kinds & {"purchase", "upgrade"}),
            revenue=c.revenue + revenue, revenue_sumsq=c.revenue_sumsq + float(revenue) ** 2,
            lost_revenue=c.lost_revenue + Decimal(sum(a for k, a in outcomes if k == "churn")) / 100)
    return c


@given(customers_st)
def test_kpis_are_the_defined_ratios_with_intervals_around_them(customers) -> None:
    c = _counts(customers)
    k = business.kpis(c)
    n = len(customers)
    churned = sum(any(kind == "churn" for kind, _ in o) for o in customers)
    decided = sum(any(kind in ("renewal", "churn") for kind, _ in o) for o in customers)
    if n == 0:
        assert k.churn_rate.value is None and k.churn_rate.n == 0 and k.revenue_per_customer.value is None
        return
    assert k.churn_rate.value == churned / n and k.churn_rate.n == n
    assert k.churn_rate.ci_low <= k.churn_rate.value <= k.churn_rate.ci_high
    assert k.retention.n == decided
    revenues = [float(sum(a for kd, a in o if kd not in ("churn", "refund")) - sum(a for kd, a in o if kd == "refund"))
                / 100 for o in customers]
    mean = sum(revenues) / n
    assert math.isclose(k.revenue_per_customer.value, mean, rel_tol=1e-9, abs_tol=1e-9)
    if n >= 2:
        sd = math.sqrt(sum((r - mean) ** 2 for r in revenues) / (n - 1))
        half = (k.revenue_per_customer.ci_high - k.revenue_per_customer.ci_low) / 2
        # t(0.975, n - 1) lies between z (1.96) and t(0.975, 1) (12.71)
        assert 1.959 * sd / math.sqrt(n) - 1e-6 <= half <= 12.71 * sd / math.sqrt(n) + 1e-6
    else:
        assert k.revenue_per_customer.ci_low is None


@given(customers_st, customers_st)
def test_counts_add_like_the_union_of_their_customers(a, b) -> None:
    added, union = _counts(a) + _counts(b), _counts(a + b)
    assert (added.customers, added.churned, added.decided, added.retained, added.converted, added.revenue) == (
        union.customers, union.churned, union.decided, union.retained, union.converted, union.revenue)
    assert math.isclose(added.revenue_sumsq, union.revenue_sumsq, rel_tol=1e-12)
    assert business.total([_counts(a), _counts(b)]).customers == len(a) + len(b)


@given(st.integers(1, 300), st.integers(1, 300), st.data(), st.integers(0, 10 ** 7))
def test_revenue_at_risk_is_detractor_revenue_times_excess_churn(n_p, n_d, data, revenue) -> None:
    churn_p, churn_d = data.draw(st.integers(0, n_p)), data.draw(st.integers(0, n_d))
    p = GroupCounts(customers=n_p, churned=churn_p)
    d = GroupCounts(customers=n_d, churned=churn_d, revenue=Decimal(revenue))
    rar = business.revenue_at_risk(p, d)
    expected = revenue * max(0.0, churn_d / n_d - churn_p / n_p)
    assert math.isclose(rar.value, expected, rel_tol=1e-12, abs_tol=1e-9)
    assert rar.ci_low <= rar.value + 1e-9 and rar.value <= rar.ci_high + 1e-9
    assert rar.ci_high <= revenue + 1e-6  # an excess churn is at most 1
    assert rar.n_promoters == n_p and rar.n_detractors == n_d


def test_no_revenue_at_risk_without_both_groups() -> None:
    assert business.revenue_at_risk(GroupCounts(), GroupCounts(customers=3, churned=1)) is None


def test_promoters_vs_detractors_names_a_planted_churn_difference_significant() -> None:
    promoters = GroupCounts(customers=400, churned=20, decided=400, retained=380, converted=120,
                            revenue=Decimal(400 * 500), revenue_sumsq=400 * 500.0 ** 2 + 399 * 100.0 ** 2)
    detractors = GroupCounts(customers=300, churned=90, decided=300, retained=210, converted=30,
                             revenue=Decimal(300 * 300), revenue_sumsq=300 * 300.0 ** 2 + 299 * 100.0 ** 2)
    diffs = {d.metric: d for d in business.compare(promoters, detractors)}
    assert set(diffs) == {"churn_rate", "retention", "conversion", "revenue_per_customer"}
    churn = diffs["churn_rate"]
    assert math.isclose(churn.difference, 20 / 400 - 90 / 300)
    # the pooled z statistic, computed here
    pooled = 110 / 700
    z = churn.difference / math.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 300))
    assert math.isclose(churn.p_value, math.erfc(abs(z) / math.sqrt(2)), rel_tol=1e-6)
    assert churn.significant and churn.ci_low <= churn.difference <= churn.ci_high
    assert math.isclose(diffs["revenue_per_customer"].difference, 200.0)
    same = business.compare(promoters, promoters)
    assert not any(d.significant for d in same)


@st.composite
def _mix(draw):
    period = {k: GroupCounts(customers=draw(st.integers(1, 500))) for k in ANSWERED_CATEGORIES}
    period = {k: GroupCounts(customers=c.customers, churned=draw(st.integers(0, c.customers)))
              for k, c in period.items()}
    # each churned customer lost a contract of its own value
    period = {k: GroupCounts(customers=c.customers, churned=c.churned,
                             lost_revenue=Decimal(sum(draw(st.lists(st.integers(0, 10 ** 5), min_size=c.churned,
                                                                    max_size=c.churned)))))
              for k, c in period.items()}
    baseline = {k: GroupCounts(customers=draw(st.integers(0, 500))) for k in ANSWERED_CATEGORIES}
    return period, baseline


@given(_mix())
def test_retained_revenue_is_the_expected_loss_avoided_by_the_mix(mix) -> None:
    period, baseline = mix
    n_b = sum(c.customers for c in baseline.values())
    retained = business.retained_revenue(period, baseline)
    if n_b == 0:
        assert retained is None
        return
    n = sum(c.customers for c in period.values())

    def expected_loss(shares: dict[str, float]) -> float:
        """Revenue lost to churn per customer with these shares: Σ share × churn rate × value per churner."""
        total = 0.0
        for k in ANSWERED_CATEGORIES:
            c = period[k]
            if c.churned:
                total += shares[k] * (c.churned / c.customers) * (float(c.lost_revenue) / c.churned)
        return total

    loss_b = expected_loss({k: baseline[k].customers / n_b for k in ANSWERED_CATEGORIES})
    loss_p = expected_loss({k: period[k].customers / n for k in ANSWERED_CATEGORIES})
    assert math.isclose(retained.value, n * (loss_b - loss_p), rel_tol=1e-9, abs_tol=1e-6)
    assert retained.customers == n and retained.baseline_customers == n_b


@given(_mix(), st.integers(0, 10))
def test_with_equal_contract_values_only_churn_differentials_count(mix, extra_tenths) -> None:
    """Every churner loses 100; raising every category's churn rate by the same amount changes nothing."""
    period, baseline = mix
    if sum(c.customers for c in baseline.values()) == 0:
        return
    scale = 10  # a 10x larger period, so a rise of extra_tenths / 10 ... of the *base* size is whole
    base = {k: GroupCounts(customers=scale * c.customers, churned=scale * c.churned,
                           lost_revenue=Decimal(100 * scale * c.churned)) for k, c in period.items()}
    rise = {k: min(c.customers * extra_tenths, c.customers * scale - c.churned * scale) for k, c in period.items()}
    if len({rise[k] / base[k].customers for k in rise}) != 1:
        return  # capped at a churn rate of 1 somewhere: not the same rise everywhere
    raised = {k: GroupCounts(customers=c.customers, churned=c.churned + rise[k],
                             lost_revenue=c.lost_revenue + 100 * rise[k]) for k, c in base.items()}
    a = business.retained_revenue(base, baseline)
    b = business.retained_revenue(raised, baseline)
    assert math.isclose(b.value, a.value, rel_tol=1e-9, abs_tol=1e-6)


def test_retained_revenue_needs_every_answered_category_in_the_period() -> None:
    period = {"promoter": GroupCounts(customers=5), "detractor": GroupCounts(customers=5)}
    assert business.retained_revenue(period, {"promoter": GroupCounts(customers=3)}) is None


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def test_month_bounds_include_leap_days() -> None:
    assert business.month_bounds_ms("2028-02") == (_ms(2028, 2, 1), _ms(2028, 3, 1))
    assert business.month_bounds_ms("2026-12") == (_ms(2026, 12, 1), _ms(2027, 1, 1))
    for bad in ("2026-13", "2026-1", "26-01", "2026-00"):
        with pytest.raises(ValueError):
            business.month_bounds_ms(bad)


@given(st.lists(st.tuples(st.integers(2025, 2027), st.integers(1, 12), st.integers(0, 10 ** 9)), max_size=12,
                unique_by=lambda t: (t[0], t[1])),
       st.integers(_ms(2024, 6, 1), _ms(2028, 6, 1)), st.integers(_ms(2024, 6, 1), _ms(2028, 6, 1)))
def test_prorated_cost_splits_exactly(costs, a, b) -> None:
    items = [(f"{y:04d}-{m:02d}", Decimal(c) / 100) for y, m, c in costs]
    whole = business.prorated_cost(items, _ms(2024, 1, 1), _ms(2029, 1, 1))
    assert whole == sum((c for _, c in items), Decimal(0))
    lo, hi = sorted((a, b))
    left = business.prorated_cost(items, _ms(2024, 1, 1), lo)
    mid = business.prorated_cost(items, lo, hi)
    right = business.prorated_cost(items, hi, _ms(2029, 1, 1))
    assert abs(left + mid + right - whole) <= Decimal("1e-20")


def test_half_a_thirty_day_month_costs_half() -> None:
    assert business.prorated_cost([("2026-09", Decimal("3000"))], _ms(2026, 9, 1), _ms(2026, 9, 16)) == 1500
