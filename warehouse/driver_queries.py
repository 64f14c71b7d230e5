"""The per-answer pairs behind key drivers (``kpi.drivers``), summed from the ledger.

For an outcome (the NPS or CSAT score) and a scope (time range, dimension filters), one query over
``survey_responses`` (``FINAL``: each answer once, at its latest version, under the dimensions it
counts under) gives per configured rated aspect the sums ``n, Σx, Σy, Σx², Σy², Σxy`` over the
answers carrying both the aspect (x) and the outcome (y). Computed on read: pairs are not additive
window counters (a product of two answers' columns per aspect), and a scope's answers are few.

Values are bound; identifiers come from :data:`OUTCOMES` and the dimension allowlist.
"""
from __future__ import annotations

from typing import Any

from core.aspects import aspects as configured_aspects
from core.dimensions import dim_sql, validate_view
from kpi.drivers import PairSums
from warehouse.client import Warehouse
from warehouse.ledger_counts import counted_answers
from warehouse.tables import Table

__all__ = ["OUTCOMES", "driver_sums", "driver_sums_by", "driver_sums_sql"]

#: Outcome metric -> its ledger column (an integer score).
OUTCOMES = {"nps": "nps", "csat": "csat"}


def driver_sums_sql(tenant: str, outcome: str, from_ms: int, to_ms: int, filters: dict[str, str],
                    names: list[str], group_by: str | None = None) -> tuple[str, dict[str, Any]]:
    """The query of :func:`driver_sums` (``group_by``: one allowlisted dimension, its value first)."""
    column = OUTCOMES[outcome]
    # a repeat under the respondent rule (kpi.panel) is counted nowhere, so it drives nothing either
    where = ["tenant = {tenant:String}", f"{column} IS NOT NULL", "a_name IN {names:Array(String)}",
             counted_answers()]
    params: dict[str, Any] = {"tenant": tenant, "lo": int(from_ms), "hi": int(to_ms), "names": names}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        validate_view([dim])  # the only identifiers from a request
        where.append(f"{dim_sql(dim)} = {{f{i}:String}}")
        params[f"f{i}"] = value
    x, y = "toInt64(a_score)", f"toInt64(assumeNotNull({column}))"
    grouped = "" if group_by is None else f"{dim_sql(validate_view([group_by])[0])}, "
    sql = (f"SELECT {grouped}a_name, count(), sum({x}), sum({y}), sum({x} * {x}), sum({y} * {y}), sum({x} * {y}) "
           f"FROM {Table.survey_responses.value} FINAL "
           "ARRAY JOIN mapKeys(aspects) AS a_name, mapValues(aspects) AS a_score "
           "PREWHERE time_ms >= {lo:Int64} AND time_ms < {hi:Int64} "
           f"WHERE {' AND '.join(where)} GROUP BY {grouped}a_name "
           "SETTINGS do_not_merge_across_partitions_select_final = 1")
    return sql, params


async def driver_sums(wh: Warehouse, tenant: str, outcome: str, from_ms: int, to_ms: int,
                      filters: dict[str, str]) -> dict[str, PairSums]:
    """{aspect: PairSums} over the answers in [``from_ms``, ``to_ms``) matching ``filters`` that carry the
    outcome and the (configured) aspect; aspects without such an answer are absent."""
    names = sorted(configured_aspects())
    if not names:
        return {}
    res = await wh.aquery(*driver_sums_sql(tenant, outcome, from_ms, to_ms, filters, names))
    return {r[0]: PairSums(*(int(v) for v in r[1:])) for r in res.result_rows}


async def driver_sums_by(wh: Warehouse, tenant: str, outcome: str, from_ms: int, to_ms: int,
                         filters: dict[str, str], dimension: str) -> dict[str, dict[str, PairSums]]:
    """:func:`driver_sums` per value of ``dimension`` ('' = not known): {value: {aspect: PairSums}}."""
    names = sorted(configured_aspects())
    if not names:
        return {}
    res = await wh.aquery(*driver_sums_sql(tenant, outcome, from_ms, to_ms, filters, names, dimension))
    out: dict[str, dict[str, PairSums]] = {}
    for r in res.result_rows:
        out.setdefault(r[0], {})[r[1]] = PairSums(*(int(v) for v in r[2:]))
    return out
