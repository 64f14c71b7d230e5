"""The experience -> outcome join, made on read over the deduplicated ledgers; program costs.

Every outcome of the period (``outcomes`` ledger, read ``FINAL``: one row per (tenant, event key,
source, id) whatever number of times it was delivered) is linked to its customer's experience
*before* it, by ``ASOF LEFT JOIN`` on (customer, time): per score, the latest answer of the same
customer carrying it (NPS, CSAT, CES: ``survey_responses`` read ``FINAL``, repeats left out) at or before the
outcome's time, and the latest touchpoint likewise; an answer older than the horizon counts as
none. So:

* each outcome counts **once**: the ledger read is deduplicated and the join is a left join that
  keeps exactly one row per outcome (an ASOF join matches at most one right row);
* **late** outcomes and **late** answers are included: the join runs at read time on the event
  times stored, whatever order the events arrived in, so an answer that arrives after the
  outcome it precedes in event time links to it on the next read.

Then one row per customer: the customer's group is that of their **latest** outcome of the period
(its experience and its dimensions; ties at the same millisecond by event id), and their flags
and revenue sum all their outcomes (``kpi.business``). ``customers_by_group`` returns those
additive counts per group; rates, intervals and tests are ``kpi.business``'s.

Identifiers come from allowlists only (dimensions: ``core.dimensions.dim_sql``; the join
columns: ``GROUP_COLUMNS``); every value is bound.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from core.dimensions import all_dimensions, dim_sql
from core.experience import DEFAULT_BOUNDS
from kpi.business import GroupCounts
from warehouse.client import Warehouse
from warehouse.ledger_counts import counted_answers
from warehouse.tables import Table, next_version

__all__ = ["EXPERIENCE_GROUPS", "ProgramCost", "currencies_in", "customers_by_group", "group_columns",
           "program_costs", "put_program_costs"]

# The standard categories and bands (NPS: detractors 0-6, promoters 9-10; CSAT 1-2 / 4-5; CES 1-3 /
# 6-7), not the tenant's configurable positive/negative experience bounds: a promoter is a promoter
# in every program, so revenue by category compares across tenants and with the literature.
_NPS_NEG, _NPS_POS = DEFAULT_BOUNDS["nps"]
_CSAT_NEG, _CSAT_POS = DEFAULT_BOUNDS["csat"]
_CES_NEG, _CES_POS = DEFAULT_BOUNDS["ces"]

#: Groupable columns the join adds, besides the dimensions: name -> SQL over the joined row.
_JOIN_COLUMNS: dict[str, str] = {
    "nps_category": (f"if(nps_t >= 0, multiIf(nps <= {_NPS_NEG}, 'detractor', nps >= {_NPS_POS}, 'promoter', "
                     "'passive'), 'no_answer')"),
    "csat_band": (f"if(csat_t >= 0, multiIf(csat <= {_CSAT_NEG}, 'dissatisfied', csat >= {_CSAT_POS}, 'satisfied', "
                  "'neutral'), 'no_answer')"),
    "ces_band": (f"if(ces_t >= 0, multiIf(ces <= {_CES_NEG}, 'high_effort', ces >= {_CES_POS}, 'low_effort', "
                 "'medium_effort'), 'no_answer')"),
    "last_channel": "if(tp_t >= 0, tp_channel, 'none')",
    "last_journey_step": "if(tp_t >= 0, tp_journey_step, 'none')",
    "product": "product",
    "currency": "currency",
}
#: The experience groups (not dimensions of the outcome itself).
EXPERIENCE_GROUPS = ("nps_category", "csat_band", "ces_band", "last_channel", "last_journey_step")


def group_columns() -> tuple[str, ...]:
    """Every name ``group_by`` accepts: the dimensions (allowlist order), then the join's columns."""
    return (*all_dimensions(), *_JOIN_COLUMNS)


def _expr(name: str) -> str:
    """A group's SQL over the joined row (where every dimension is a column named as itself)."""
    if name in _JOIN_COLUMNS:
        return _JOIN_COLUMNS[name]
    if name in all_dimensions():
        return name
    raise ValueError(f"unknown group {name!r}")


def _answers(score: str) -> str:
    """Every answer carrying ``score`` that a period's outcome may link to, as an ASOF join's right side:
    a repeat under the respondent rule (``kpi.panel.REPEAT``) counts in no KPI, so it is no experience
    an outcome links to either (the customer's counted answer before it is)."""
    return (f"(SELECT customer AS r_customer, time_ms AS r_{score}_time, assumeNotNull({score}) AS r_{score} "
            f"FROM {Table.survey_responses.value} FINAL WHERE tenant = {{tenant:String}} "
            f"AND {score} IS NOT NULL AND customer != '' AND {counted_answers()} "
            f"AND time_ms < {{to:Int64}} "
            f"AND time_ms >= {{from:Int64}} - {{horizon:Int64}})")


_SCORES = ("nps", "csat", "ces")


def _joined(filters: dict[str, str]) -> str:
    """One row per deduplicated outcome of the period with its linked experience: ``<score>_t`` (the
    linked answer's time, -1 for none) and ``<score>``; ``tp_t``, ``tp_channel``, ``tp_journey_step``.

    Unmatched rows of an ASOF LEFT JOIN carry the column defaults (time 0), and a match older than the
    horizon is no match either (the ASOF match is the latest at or before the outcome, so no other
    answer could be inside the horizon)."""
    where = ["tenant = {tenant:String}", "time_ms >= {from:Int64}", "time_ms < {to:Int64}", "customer != ''"]
    for i, name in enumerate(filters):
        where.append(f"{dim_sql(name)} = {{f{i}:String}}")
    dims = ", ".join(dim_sql(d) + f" AS {d}" for d in all_dimensions())
    outcomes = (f"(SELECT customer, time_ms, event_id, kind, amount, currency, product, {dims} "
                f"FROM {Table.outcomes.value} FINAL WHERE {' AND '.join(where)})")
    touchpoints = (f"(SELECT customer AS r_customer, time_ms AS r_tp_time, channel AS r_tp_channel, "
                   f"journey_step AS r_tp_journey_step FROM {Table.touchpoints.value} FINAL "
                   "WHERE tenant = {tenant:String} AND customer != '' AND time_ms < {to:Int64} "
                   "AND time_ms >= {from:Int64} - {horizon:Int64})")
    own = ", ".join(f"o.{c} AS {c}" for c in ("customer", "time_ms", "event_id", "kind", "amount", "currency",
                                               "product", *all_dimensions()))
    inside = "j_{s}.r_{s}_time > 0 AND j_{s}.r_{s}_time >= o.time_ms - {{horizon:Int64}}"
    linked = ", ".join(
        f"if({inside.format(s=s)}, j_{s}.r_{s}_time, -1) AS {s}_t, j_{s}.r_{s} AS {s}" for s in (*_SCORES, "tp"))
    linked = linked.replace("j_tp.r_tp AS tp", "j_tp.r_tp_channel AS tp_channel, j_tp.r_tp_journey_step AS "
                            "tp_journey_step")
    joins = " ".join(
        f"ASOF LEFT JOIN {_answers(s) if s != 'tp' else touchpoints} AS j_{s} "
        f"ON o.customer = j_{s}.r_customer AND o.time_ms >= j_{s}.r_{s}_time" for s in (*_SCORES, "tp"))
    return f"SELECT {own}, {linked} FROM {outcomes} AS o {joins}"


_REVENUE_KINDS = ("purchase", "renewal", "upgrade", "downgrade")


async def customers_by_group(
    wh: Warehouse, tenant: str, from_ms: int, to_ms: int, horizon_ms: int, group_by: Sequence[str],
    filters: dict[str, str], currency: str | None,
) -> dict[tuple[tuple[str, ...], str], GroupCounts]:
    """Additive per-customer counts by (values of ``group_by``, NPS category of the customer).

    The NPS category is always a key so the caller can compare promoters with detractors and
    compute the revenue at risk within every group; summing over it gives the group."""
    keys = [n for n in group_by if n != "nps_category"]
    per_outcome = _joined(filters)
    attrs = ", ".join(f"{_expr(n)}" for n in (*keys, "nps_category"))
    latest = f"argMax(tuple({attrs}), tuple(time_ms, event_id))"
    kinds = ", ".join(f"'{k}'" for k in _REVENUE_KINDS)
    revenue = ("sumIf(amount, currency = {currency:String} AND kind IN (" + kinds + ")) "
               "- sumIf(amount, currency = {currency:String} AND kind = 'refund')")
    per_customer = (
        f"SELECT customer, {latest} AS g, "
        "countIf(kind = 'churn') > 0 AS churned, countIf(kind IN ('renewal', 'churn')) > 0 AS decided, "
        "countIf(kind = 'renewal') > 0 AND countIf(kind = 'churn') = 0 AS retained, "
        "countIf(kind IN ('purchase', 'upgrade')) > 0 AS converted, "
        f"toDecimal128({revenue}, 4) AS revenue, "
        "toDecimal128(sumIf(amount, currency = {currency:String} AND kind = 'churn'), 4) AS lost "
        f"FROM ({per_outcome}) GROUP BY customer"
    )
    sql = (f"SELECT g, count(), sum(churned), sum(decided), sum(retained), sum(converted), "
           f"toString(sum(revenue)), sum(toFloat64(revenue) * toFloat64(revenue)), toString(sum(lost)) "
           f"FROM ({per_customer}) GROUP BY g")
    params: dict[str, Any] = {"tenant": tenant, "from": from_ms, "to": to_ms, "horizon": horizon_ms,
                              "currency": currency or ""}
    for i, name in enumerate(filters):
        params[f"f{i}"] = filters[name]
    res = await wh.aquery(sql, params)
    out: dict[tuple[tuple[str, ...], str], GroupCounts] = {}
    for g, n, churned, decided, retained, converted, rev, rev2, lost in res.result_rows:
        values = tuple(str(v) for v in g)
        out[(values[:-1], values[-1])] = GroupCounts(
            customers=int(n), churned=int(churned), decided=int(decided), retained=int(retained),
            converted=int(converted), revenue=Decimal(rev), revenue_sumsq=float(rev2), lost_revenue=Decimal(lost))
    return out


async def currencies_in(wh: Warehouse, tenant: str, from_ms: int, to_ms: int) -> list[str]:
    """The currencies of the tenant's outcomes in the period, sorted."""
    res = await wh.aquery(
        f"SELECT DISTINCT currency FROM {Table.outcomes.value} WHERE tenant = {{tenant:String}} "
        "AND time_ms >= {from:Int64} AND time_ms < {to:Int64} ORDER BY currency",
        {"tenant": tenant, "from": from_ms, "to": to_ms})
    return [r[0] for r in res.result_rows]


# -- program costs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgramCost:
    """What the experience program cost in one calendar month (``period`` = ``YYYY-MM``)."""

    period: str
    amount: Decimal
    currency: str
    note: str = ""


async def put_program_costs(wh: Warehouse, tenant: str, costs: Sequence[ProgramCost], actor: str) -> None:
    """Set the costs of these months (a later write of a month replaces it)."""
    now = time.time_ns() // 1_000_000
    rows = [[tenant, c.period, c.amount, c.currency, c.note, actor, now, next_version()] for c in costs]
    if rows:
        await wh.ainsert(Table.program_costs.value, rows,
                         ("tenant", "period", "amount", "currency", "note", "actor", "updated_at_ms", "version"))


async def program_costs(wh: Warehouse, tenant: str, first: str | None = None,
                        last: str | None = None) -> list[ProgramCost]:
    """The tenant's monthly costs, oldest first, optionally from month ``first`` to ``last`` inclusive."""
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": tenant}
    if first is not None:
        where.append("period >= {first:String}")
        params["first"] = first
    if last is not None:
        where.append("period <= {last:String}")
        params["last"] = last
    res = await wh.aquery(
        f"SELECT period, toString(amount), currency, note FROM {Table.program_costs.value} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY period", params)
    return [ProgramCost(p, Decimal(a), c, n) for p, a, c, n in res.result_rows]
