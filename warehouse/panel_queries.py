"""Panel health reads from the ledger: answers and their flags (``kpi.panel``) per group.

One query over ``survey_responses FINAL`` (the latest version of each answer: a flag a late
earlier answer set is the one read). Values are bound; identifiers come from the dimension
allowlist and the fixed flag bits.
"""
from __future__ import annotations

from typing import Any

from core.dimensions import MAX_GROUP_BY, dim_sql, validate_view
from kpi.panel import FLAG_BITS, QUALITY
from warehouse.client import Warehouse
from warehouse.tables import Table

__all__ = ["flag_counts", "flag_counts_sql"]


def flag_counts_sql(tenant: str, group_by: tuple[str, ...], filters: dict[str, str], from_ms: int,
                    to_ms: int) -> tuple[str, dict[str, Any]]:
    """Per group: answers, answers carrying each flag (``FLAG_BITS`` order), answers with any quality flag."""
    group_by = validate_view(list(group_by))
    if len(group_by) > MAX_GROUP_BY:
        raise ValueError(f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    where = ["tenant = {tenant:String}", "time_ms >= {lo:Int64}", "time_ms < {hi:Int64}"]
    params: dict[str, Any] = {"tenant": tenant, "lo": from_ms, "hi": to_ms}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        validate_view([dim])
        where.append(f"{dim_sql(dim)} = {{f{i}:String}}")
        params[f"f{i}"] = value
    keys = [dim_sql(d) for d in group_by]
    counts = ", ".join(["count()", *(f"countIf(bitAnd(flags, {bit}) != 0)" for bit in FLAG_BITS.values()),
                        f"countIf(bitAnd(flags, {QUALITY}) != 0)"])
    sql = (f"SELECT {''.join(k + ', ' for k in keys)}{counts} FROM {Table.survey_responses.value} FINAL "
           f"WHERE {' AND '.join(where)}{(' GROUP BY ' + ', '.join(keys) + ' ORDER BY ' + ', '.join(keys)) if keys else ''}")
    return sql, params


async def flag_counts(wh: Warehouse, tenant: str, group_by: tuple[str, ...], filters: dict[str, str], from_ms: int,
                      to_ms: int) -> list[tuple[tuple[str, ...], int, dict[str, int], int]]:
    """[(group values, answers, {flag: answers carrying it}, answers with a quality flag)]; groups without answers
    are absent (without ``group_by``: one row, possibly of zeros)."""
    sql, params = flag_counts_sql(tenant, group_by, filters, from_ms, to_ms)
    res = await wh.aquery(sql, params)
    g = len(group_by)
    out = []
    for r in res.result_rows:
        flags = dict(zip(FLAG_BITS, map(int, r[g + 1:g + 1 + len(FLAG_BITS)])))
        out.append((tuple(r[:g]), int(r[g]), flags, int(r[-1])))
    return out
