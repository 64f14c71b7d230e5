"""KPI counters computed from the ledger: the answer to a crossing no stored view holds.

A view's cell is built by ``kpi.counts.add_record`` from the records of its window, each under
the dimensions it counts under (``schemas.records.effective_dims``). The ledger stores exactly
those: one row per event at its latest version (``ReplacingMergeTree(version)``, read ``FINAL``,
so a duplicate or a replay counts once and a re-attributed answer counts under the dimensions
its row now stores: its touchpoint's with the respondent's overrides on top, or only the
overrides while it waits for its touchpoint, as the cells count it). So grouping the ledger by
any dimensions gives what a view of those dimensions would hold, cell for cell.

Rated aspects (``kpi.counts``, ``aspect_windows`` on the view side): the answers' ``aspects`` map,
one row per (answer, configured aspect) by ``ARRAY JOIN``, gives (n, sum, sum of squares, top-2)
per cell and aspect as ``add_record`` counts them (:func:`ledger_aspects_sql`).

``invitations_answered`` is not stored on the stream side either: an invitation is answered iff
an answer with the same tenant and non-empty interaction id is stored, whatever its time (the
join of ``stream_processors.checkpoint``); here it is that join, as one ``IN`` subquery.

:func:`counter_sql` is the one place mapping each counter of ``kpi.counts.FIELDS`` to its
aggregate over one ledger table, and the ledger's reads are built from it alone (a test checks every counter is fed exactly once, and that the
results equal the stored views on generated streams). A new counter is one entry here. The
positive / negative conditions are built from ``kpi.counts.experience_bounds()`` (the configured
definition, ``core.experience``) on every call, so a process counts both ways by the same one.

Panel health (``kpi.panel``): an answer flagged ``REPEAT`` (the respondent rule) counts nowhere, as in
the cells; ``exclude_flagged`` also leaves out the answers with a quality flag (``GET /v1/kpis
?exclude_flagged=true``, answered from the ledger only: the cells count them).

Values are bound (``{name:Type}``); identifiers come from :class:`Table`, the fixed map below and
the dimension allowlist.
"""
from __future__ import annotations

import asyncio
from typing import Any

from core.aspects import top2_thresholds
from core.dimensions import MAX_GROUP_BY, dim_sql, validate_view
from kpi.counts import KpiCounts, experience_bounds
from kpi.panel import QUALITY, REPEAT
from warehouse.client import Warehouse
from warehouse.queries import WindowRow
from warehouse.tables import Table

__all__ = ["counted_answers", "counter_sql", "experience_sql", "ledger_aspect_cells", "ledger_aspects_sql", "ledger_cells",
           "ledger_windows", "ledger_windows_sql"]

# The answers' interaction ids are narrowed to those of the invitations in range before the set is
# built: the set of every answered interaction of the tenant cost 2.5x more at 1 M events.
_ANSWERED = (f"interaction_id IN (SELECT interaction_id FROM {Table.survey_responses.value} "
             "WHERE tenant = {tenant:String} AND interaction_id IN ("
             f"SELECT interaction_id FROM {Table.survey_invitations.value} WHERE tenant = {{tenant:String}} "
             "AND time_ms >= {lo:Int64} AND time_ms < {hi:Int64} AND interaction_id != ''))")

# Whole deciseconds, half up, as ``kpi.counts.add_record`` rounds them (tests/integration/test_records_behind_sql.py).
_WAIT_DS = "toInt64(floor(wait_s * 10 + 0.5))"
_HANDLE_DS = "toInt64(floor(handle_s * 10 + 0.5))"
_HANDLED = "handle_s IS NOT NULL AND ifNull(abandoned, false) = false"  # an abandoned contact has no handle time


def _at_most(column: str, bound: float | None) -> str | None:
    return None if bound is None else f"ifNull({column} <= {bound!r}, false)"


def _at_least(column: str, bound: float | None) -> str | None:
    return None if bound is None else f"ifNull({column} >= {bound!r}, false)"


def _any(terms: list[str | None]) -> str:
    kept = [t for t in terms if t is not None]
    return f"({' OR '.join(kept)})" if kept else "false"


def experience_sql() -> dict[str, str]:
    """The row conditions of the experience counters under the bounds in force (``kpi.counts``):
    ``answer_negative`` / ``answer_positive`` on ``survey_responses``, ``signal_negative`` /
    ``signal_positive`` on ``signals``. Bounds are validated numbers (``core.experience``), written as
    literals (``repr``: the exact float)."""
    b = experience_bounds()
    answers = ("nps", "csat", "ces")
    # One experience per answer: negative if any score is negative, else positive if any is positive.
    # ifNull: a missing score is "not negative", not NULL (NOT NULL would hide the positive ones).
    negative = _any([_at_most(a, b[a][0]) for a in answers])
    positive = _any([_at_least(a, b[a][1]) for a in answers])
    # A review by its rating; a mention by its label when it has one, else by its score.
    def signal(label: str, review: str | None, score: str | None) -> str:
        return (f"((kind = 'review' AND {review or 'false'}) OR (kind = 'mention' AND "
                f"if(sentiment != '', sentiment = '{label}', {score or 'false'})))")
    return {
        "answer_negative": negative,
        "answer_positive": f"(NOT {negative} AND {positive})",
        "signal_negative": signal("negative", _at_most("rating", b["review"][0]),
                                  _at_most("score", b["mention_score"][0])),
        "signal_positive": signal("positive", _at_least("rating", b["review"][1]),
                                  _at_least("score", b["mention_score"][1])),
    }


def counter_sql() -> dict[Table, dict[str, str]]:
    """Ledger table -> {counter: its aggregate over the table's rows}, as ``kpi.counts.add_record``
    counts a record of that table. Nullable answers: a comparison with NULL is NULL, not counted."""
    experience = experience_sql()
    return {
        Table.touchpoints: {
            "touchpoints": "count()",
            "tp_first_contact": "countIf(first_contact = true)",
            "tp_first_contact_resolved": "countIf(first_contact = true AND resolved = true)",
            "tp_converted_n": "countIf(converted IS NOT NULL)",
            "tp_converted": "countIf(converted = true)",
            "tp_abandoned_n": "countIf(abandoned IS NOT NULL)",
            "tp_abandoned": "countIf(abandoned = true)",
            "tp_transferred_n": "countIf(transferred IS NOT NULL)",
            "tp_transferred": "countIf(transferred = true)",
            "tp_wait_n": "countIf(wait_s IS NOT NULL)",
            # sum over a Nullable is NULL when nothing is summed: ifNull makes it the 0 a counter holds
            "tp_wait_ds": f"sumIf(ifNull({_WAIT_DS}, 0), wait_s IS NOT NULL)",
            "tp_wait_ds2": f"sumIf(ifNull({_WAIT_DS} * {_WAIT_DS}, 0), wait_s IS NOT NULL)",
            "tp_handle_n": f"countIf({_HANDLED})",
            "tp_handle_ds": f"sumIf(ifNull({_HANDLE_DS}, 0), {_HANDLED})",
            "tp_handle_ds2": f"sumIf(ifNull({_HANDLE_DS} * {_HANDLE_DS}, 0), {_HANDLED})",
        },
        Table.survey_responses: {
            "responses": "count()",
            "nps_n": "countIf(nps IS NOT NULL)",
            "promoters": "countIf(nps >= 9)",
            "passives": "countIf(nps >= 7 AND nps <= 8)",
            "detractors": "countIf(nps <= 6)",
            "csat_n": "countIf(csat IS NOT NULL)",
            "csat_sum": "sum(toInt64(ifNull(csat, 0)))",
            "csat_top2": "countIf(csat >= 4)",
            "ces_n": "countIf(ces IS NOT NULL)",
            "ces_sum": "sum(toInt64(ifNull(ces, 0)))",
            "ces_sumsq": "sum(toInt64(ifNull(ces, 0)) * toInt64(ifNull(ces, 0)))",
            "fcr_n": "countIf(fcr IS NOT NULL)",
            "fcr_yes": "countIf(fcr = true)",
            "answers_negative": f"countIf({experience['answer_negative']})",
            "answers_positive": f"countIf({experience['answer_positive']})",
        },
        Table.survey_invitations: {
            "invitations": "count()",
            "invitations_answered": f"countIf(interaction_id != '' AND {_ANSWERED})",
        },
        Table.signals: {
            "sig_n": "count()",
            "sig_reviews": "countIf(kind = 'review')",
            "sig_rating_sum": "sumIf(toInt64(ifNull(rating, 0)), kind = 'review')",
            "sig_rating_sumsq": "sumIf(toInt64(ifNull(rating, 0)) * toInt64(ifNull(rating, 0)), kind = 'review')",
            "sig_polar_n": "countIf(kind IN ('review', 'mention'))",
            "sig_negative": f"countIf({experience['signal_negative']})",
            "sig_positive": f"countIf({experience['signal_positive']})",
            "sig_engagement": "countIf(kind IN ('like', 'share', 'comment'))",
        },
    }


# Every version of a ledger row has its event's time (a re-attributed answer keeps it; a resend
# with another time is a duplicate, never stored), so (1) the time range may filter rows before
# FINAL merges their versions (PREWHERE: a day's rows of a month reach the merge, not the month),
# and (2) versions never span partitions (by month of event time), so FINAL merges within each and
# skips partitions already merged to one part. Measured at 10 M answers (bench.queries): 2.1 s ->
# 0.37 s for a day, 2.6 s -> 0.95 s for 28 days, the same rows. And (3) the ledger is sorted by the
# event's day after tenant (migration 0019), so the range is the primary key's: a contiguous read of
# its days' granules, where a sort by event key scattered a day's rows over every granule of the month.
_IN_RANGE = "PREWHERE time_ms >= {lo:Int64} AND time_ms < {hi:Int64}"

_COUNTED_ANSWERS = {False: f"bitAnd(flags, {REPEAT}) = 0", True: f"bitAnd(flags, {REPEAT | QUALITY}) = 0"}


def counted_answers(exclude_flagged: bool = False) -> str:
    """The condition on ``survey_responses`` rows of the answers that count: never a repeat (the respondent
    rule, ``kpi.panel.REPEAT``: kept in the ledger, counted nowhere); with ``exclude_flagged``, no quality
    flag either. Every read of survey answers behind a figure (counters, drivers, outcomes, drill-down)
    takes this one condition, so they agree with the stream's counters (``kpi.counts``)."""
    return _COUNTED_ANSWERS[exclude_flagged]
_FINAL_BY_PARTITION = "do_not_merge_across_partitions_select_final = 1"


def _ceil_to(ms: int, size_ms: int) -> int:
    return -((-ms) // size_ms) * size_ms


def ledger_windows_sql(tenant: str, size_ms: int, group_by: tuple[str, ...], filters: dict[str, str],
                       from_s: int, to_s: int, by_shard: bool = False,
                       exclude_flagged: bool = False) -> list[tuple[Table, str, dict[str, Any]]]:
    """Per ledger table, one query: per (tumbling window of ``size_ms`` starting in [``from_s``,
    ``to_s``), group) the counters :func:`counter_sql` gives the table, in its order.

    A window starting at or after ``from`` and before ``to`` holds exactly the event times in
    [ceil(from), ceil(to)) on the window grid, so the time condition is a plain range.
    ``by_shard``: the event's Kafka partition (the shard owning its cells) is the first group key,
    as a view's rows are kept (``warehouse.view_backfill``). One query
    per table, merged by the caller: one UNION ALL of the three took 3x their summed time on chDB.
    """
    group_by = validate_view(list(group_by))
    if len(group_by) > MAX_GROUP_BY:
        raise ValueError(f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": tenant, "size": size_ms, "lo": _ceil_to(from_s * 1000, size_ms),
                              "hi": _ceil_to(to_s * 1000, size_ms)}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        validate_view([dim])  # the only identifiers from a request
        where.append(f"{dim_sql(dim)} = {{f{i}:String}}")
        params[f"f{i}"] = value
    grouped = [*(["kafka_partition"] * by_shard), *map(dim_sql, group_by)]
    keys = ", ".join(["bucket", *grouped])
    out = []
    for table, counters in counter_sql().items():
        aggregates = ", ".join(counters.values())
        conditions = [*where, counted_answers(exclude_flagged)] if table is Table.survey_responses else where
        out.append((table, (
            f"SELECT time_ms - positiveModulo(time_ms, {{size:Int64}}) AS bucket, {''.join(k + ', ' for k in grouped)}"
            f"{aggregates} FROM {table.value} FINAL {_IN_RANGE} "
            f"WHERE {' AND '.join(conditions)} GROUP BY {keys} SETTINGS {_FINAL_BY_PARTITION}"), params))
    return out


async def ledger_windows(
    wh: Warehouse, tenant: str, size_ms: int, group_by: tuple[str, ...], filters: dict[str, str],
    from_s: int, to_s: int, exclude_flagged: bool = False,
) -> list[WindowRow]:
    """The rows ``warehouse.queries.read_windows`` returns for a view holding ``group_by`` and the
    filtered dimensions (all-zero cells aside: the ledger has none), computed from the ledger,
    ordered by (window start, group) like it. ``exclude_flagged``: without quality-flagged answers."""
    cells = await ledger_cells(wh, tenant, size_ms, group_by, filters, from_s, to_s, by_shard=False,
                               exclude_flagged=exclude_flagged)
    return [WindowRow(start, group, counts) for (start, _, group), counts in sorted(cells.items())]


async def ledger_cells(
    wh: Warehouse, tenant: str, size_ms: int, group_by: tuple[str, ...], filters: dict[str, str],
    from_s: int, to_s: int, by_shard: bool, exclude_flagged: bool = False,
) -> dict[tuple[int, int, tuple[str, ...]], KpiCounts]:
    """{(window start s, shard or -1, group values): counters} from the ledger (one query per table)."""
    g = len(validate_view(list(group_by)))
    queries = ledger_windows_sql(tenant, size_ms, group_by, filters, from_s, to_s, by_shard, exclude_flagged)
    results = await asyncio.gather(*(wh.aquery(sql, params) for _, sql, params in queries))
    cells: dict[tuple[int, int, tuple[str, ...]], KpiCounts] = {}
    k = 1 + by_shard
    fed = counter_sql()
    for (table, _, _), res in zip(queries, results):
        names = tuple(fed[table])
        for r in res.result_rows:
            key = (int(r[0]) // 1000, int(r[1]) if by_shard else -1, tuple(r[k:k + g]))
            counts = cells.get(key)
            if counts is None:
                counts = cells[key] = KpiCounts()
            for name, value in zip(names, r[k + g:]):
                setattr(counts, name, int(value))
    return cells


def ledger_aspects_sql(tenant: str, size_ms: int, group_by: tuple[str, ...], filters: dict[str, str],
                       from_s: int, to_s: int, by_shard: bool = False,
                       exclude_flagged: bool = False) -> tuple[str, dict[str, Any]] | None:
    """One query: per (window, group, configured aspect) the aspect's [n, sum, sumsq, top2] over the
    answers rating it, as ``kpi.counts.add_record`` counts them; None when no aspect is configured.

    The configured names and top-2 thresholds are bound arrays (``transform`` maps a name to its
    threshold); an aspect no longer configured is not counted, as on the stream side."""
    top2 = top2_thresholds()
    if not top2:
        return None
    group_by = validate_view(list(group_by))
    if len(group_by) > MAX_GROUP_BY:
        raise ValueError(f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    names = sorted(top2)
    where = ["tenant = {tenant:String}", "a_name IN {a_names:Array(String)}", counted_answers(exclude_flagged)]
    params: dict[str, Any] = {"tenant": tenant, "size": size_ms, "lo": _ceil_to(from_s * 1000, size_ms),
                              "hi": _ceil_to(to_s * 1000, size_ms), "a_names": names,
                              "a_mins": [top2[n] for n in names]}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        validate_view([dim])  # the only identifiers from a request
        where.append(f"{dim_sql(dim)} = {{f{i}:String}}")
        params[f"f{i}"] = value
    grouped = [*(["kafka_partition"] * by_shard), *map(dim_sql, group_by)]
    score = "toInt64(a_score)"
    aggregates = (f"count(), sum({score}), sum({score} * {score}), "
                  "countIf(a_score >= transform(a_name, {a_names:Array(String)}, {a_mins:Array(UInt8)}, 255))")
    query = (
        f"SELECT time_ms - positiveModulo(time_ms, {{size:Int64}}) AS bucket, {''.join(k + ', ' for k in grouped)}"
        f"a_name, {aggregates} FROM {Table.survey_responses.value} FINAL "
        "ARRAY JOIN mapKeys(aspects) AS a_name, mapValues(aspects) AS a_score "
        f"{_IN_RANGE} WHERE {' AND '.join(where)} "
        f"GROUP BY {', '.join(['bucket', *grouped, 'a_name'])} SETTINGS {_FINAL_BY_PARTITION}")
    return query, params


async def ledger_aspect_cells(
    wh: Warehouse, tenant: str, size_ms: int, group_by: tuple[str, ...], filters: dict[str, str],
    from_s: int, to_s: int, by_shard: bool = False, exclude_flagged: bool = False,
) -> dict[tuple[int, int, tuple[str, ...]], dict[str, list[int]]]:
    """{(window start s, shard or -1, group values): {aspect: [n, sum, sumsq, top2]}} from the ledger
    (never a repeat under the respondent rule; ``exclude_flagged``: no quality-flagged answer either)."""
    built = ledger_aspects_sql(tenant, size_ms, group_by, filters, from_s, to_s, by_shard, exclude_flagged)
    if built is None:
        return {}
    g = len(validate_view(list(group_by)))
    k = 1 + by_shard
    res = await wh.aquery(*built)
    out: dict[tuple[int, int, tuple[str, ...]], dict[str, list[int]]] = {}
    for r in res.result_rows:
        key = (int(r[0]) // 1000, int(r[1]) if by_shard else -1, tuple(r[k:k + g]))
        out.setdefault(key, {})[r[k + g]] = [int(v) for v in r[k + g + 1:]]
    return out
