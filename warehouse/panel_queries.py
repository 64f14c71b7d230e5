"""Panel health reads and writes: answers and their flags (``kpi.panel``) per group, one customer's
invitations and complaints (contact fatigue), and opt-outs.

Flag counts are one query over ``survey_responses FINAL`` (the latest version of each answer: a
flag a late earlier answer set is the one read). Values are bound; identifiers come from the
dimension allowlist and the fixed flag bits. Customers are pseudonyms (``ingest.pseudonymize``).
"""
from __future__ import annotations

import time
from typing import Any

from core.dimensions import MAX_GROUP_BY, dim_sql, validate_view
from kpi.panel import FLAG_BITS, QUALITY
from warehouse.client import Warehouse
from warehouse.tables import Table

__all__ = ["complaint_times", "flag_counts", "flag_counts_sql", "invitation_times", "opt_out", "set_opt_out"]


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


async def invitation_times(wh: Warehouse, tenant: str, customer: str, from_ms: int, to_ms: int) -> list[int]:
    """Event times of the customer's stored invitations in [from, to), one per invitation."""
    res = await wh.aquery(
        f"SELECT time_ms FROM {Table.survey_invitations.value} FINAL WHERE tenant = {{tenant:String}} "
        "AND customer = {customer:String} AND time_ms >= {lo:Int64} AND time_ms < {hi:Int64}",
        {"tenant": tenant, "customer": customer, "lo": from_ms, "hi": to_ms})
    return sorted(int(t) for (t,) in res.result_rows)


async def complaint_times(wh: Warehouse, tenant: str, customer: str, journey_steps: list[str], from_ms: int,
                          to_ms: int) -> list[int]:
    """Event times of the customer's touchpoints in [from, to) whose journey step is one of ``journey_steps``."""
    if not journey_steps:
        return []
    res = await wh.aquery(
        f"SELECT time_ms FROM {Table.touchpoints.value} FINAL WHERE tenant = {{tenant:String}} "
        "AND customer = {customer:String} AND journey_step IN {steps:Array(String)} "
        "AND time_ms >= {lo:Int64} AND time_ms < {hi:Int64}",
        {"tenant": tenant, "customer": customer, "steps": list(journey_steps), "lo": from_ms, "hi": to_ms})
    return sorted(int(t) for (t,) in res.result_rows)


async def opt_out(wh: Warehouse, tenant: str, customer: str) -> int | None:
    """When the customer opted out (epoch ms), or None if they have not (or withdrew it)."""
    res = await wh.aquery(
        f"SELECT opted_out, at_ms FROM {Table.panel_opt_outs.value} FINAL WHERE tenant = {{tenant:String}} "
        "AND customer = {customer:String}", {"tenant": tenant, "customer": customer})
    for opted, at in res.result_rows:
        if opted:
            return int(at)
    return None


async def set_opt_out(wh: Warehouse, tenant: str, customer: str, opted_out: bool, at_ms: int, actor: str) -> None:
    """Record that the customer opted out (or withdrew it); the latest row wins."""
    await wh.ainsert(Table.panel_opt_outs.value, [[tenant, customer, opted_out, at_ms, actor, time.time_ns()]],
                     ["tenant", "customer", "opted_out", "at_ms", "actor", "version"])
