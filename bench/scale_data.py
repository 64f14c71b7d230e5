"""The fast path that fills a warehouse with millions of answers for ``bench.queries``.

Not the ingest path (that is ``bench.e2e``'s subject, and would take hours here): ClickHouse
generates the rows itself, ``INSERT … SELECT … FROM numbers(…)``, in chunks, into the tables the
migrations create, so the queries run over the schema, projections and indexes production has.

What is generated, for one tenant, over ``days`` ending at ``end_ms``:

* ``answers`` survey answers (``survey_responses``), event time uniform over the span, each
  attributed to its touchpoint (``attributed``, the touchpoint's dimensions stored on the answer,
  as the worker writes them); NPS on 90 %, CSAT on 70 %, CES on 40 %, FCR on 50 % of them;
* one touchpoint per answer (``touchpoints``), the same interaction, 1 to 31 minutes earlier;
* the ``kpi_windows`` rows the worker would have stored for them: every configured view and
  size, one row per (window, cell, shard), counters computed from the generated ledger rows by
  ``GROUP BY`` (one day at a time, so no group-by holds a month of minute cells in memory).

Dimension cardinalities are those of a mid-size contact centre: 600 agents in 30 teams on 6 sites
in 4 regions, 20 queues, 5 channels, 8 journey steps, 4 segments. Values are derived from the row
number by hashing, so a run is reproducible. Partitions (shards) follow the interaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from core.dimensions import DIMENSIONS, view_name
from kpi.counts import FIELDS as COUNTER_FIELDS
from warehouse.client import Warehouse
from warehouse.tables import Table, ledger_insert_columns

DAY_MS = 86_400_000
SIZES = {"1m": 60, "1h": 3600, "1d": 86400}

# Each dimension as SQL over the touchpoint's hash ``h`` (one per interaction) and its agent.
_AGENT = "(cityHash64(n, 1) % 600)"
_DIM_SQL = {
    "channel": "['voice', 'chat', 'email', 'messaging', 'web'][cityHash64(n, 2) % 5 + 1]",
    "journey_step": "concat('step-', toString(cityHash64(n, 3) % 8))",
    "segment": "['consumer', 'smb', 'enterprise', 'vip'][cityHash64(n, 4) % 4 + 1]",
    "queue": "concat('q-', toString(cityHash64(n, 5) % 20))",
    "team": f"concat('team-', toString(intDiv({_AGENT}, 20)))",
    "agent_id": f"concat('agent-', toString({_AGENT}))",
    "site": f"concat('site-', toString(intDiv({_AGENT}, 100)))",
    "region": f"['emea', 'amer', 'apac', 'latam'][intDiv({_AGENT}, 100) % 4 + 1]",
}
assert set(_DIM_SQL) == set(DIMENSIONS)


def _answer_time(end_ms: int, span_ms: int) -> str:
    return f"toInt64({end_ms} - 1 - cityHash64(n, 7) % {span_ms})"


def _common(tenant: str, kind: str, time_sql: str, partitions: int) -> dict[str, str]:
    return {
        "tenant": f"'{tenant}'", "event_key": f"cityHash64(n, '{kind}')", "source": "'bench'",
        "event_id": f"concat('{kind}-', toString(n))", "time_ms": time_sql, "subject": "''",
        "interaction_id": "concat('i-', toString(n))",
        "customer": "hex(cityHash64(n % 2000000, 'customer'))",
        **_DIM_SQL, "extra_dims": "map()", "attributes": "''", "kafka_partition": f"toUInt16(cityHash64(n, 'shard') % {partitions})",
        "kafka_offset": "toUInt64(n)", "version": "toUInt64(1)",
    }


def answer_select(tenant: str, end_ms: int, days: float, partitions: int, start: int, count: int) -> str:
    """The ``SELECT`` of answers number ``start`` to ``start + count - 1`` (columns in insert order)."""
    span = int(days * DAY_MS)
    exprs = {
        **_common(tenant, "sr", _answer_time(end_ms, span), partitions),
        "survey_id": "'post-contact'",
        "nps": "if(cityHash64(n, 10) % 10 < 9, toUInt8(cityHash64(n, 11) % 11), NULL)",
        "csat": "if(cityHash64(n, 12) % 10 < 7, toUInt8(1 + cityHash64(n, 13) % 5), NULL)",
        "ces": "if(cityHash64(n, 14) % 10 < 4, toUInt8(1 + cityHash64(n, 15) % 7), NULL)",
        "fcr": "if(cityHash64(n, 16) % 2 = 0, cityHash64(n, 17) % 3 != 0, NULL)",
        "comment": "if(cityHash64(n, 18) % 10 = 0, 'the agent was helpful but it took too long', '')",
        "weight": "NULL", "overrides": "''", "attributed": "true",
        # panel health (0017) and rated aspects (0015): none here, as answers of a survey without them
        "duration_s": "NULL", "flags": "toUInt8(0)", "aspects": "map()",
    }
    return _select(Table.survey_responses, exprs, start, count)


def touchpoint_select(tenant: str, end_ms: int, days: float, partitions: int, start: int, count: int) -> str:
    """The ``SELECT`` of the touchpoints of the same answers (same interactions), 1 to 31 minutes earlier."""
    span = int(days * DAY_MS)
    exprs = {
        **_common(tenant, "tp", f"({_answer_time(end_ms, span)} - 60000 - toInt64(cityHash64(n, 20) % 1800000))",
                  partitions),
        "wait_s": "toFloat64(cityHash64(n, 21) % 300)", "handle_s": "toFloat64(60 + cityHash64(n, 22) % 900)",
        "resolved": "cityHash64(n, 23) % 4 != 0", "first_contact": "cityHash64(n, 24) % 3 != 0",
        "transferred": "cityHash64(n, 25) % 10 = 0", "abandoned": "false", "converted": "NULL",
    }
    return _select(Table.touchpoints, exprs, start, count)


def _select(table: Table, exprs: dict[str, str], start: int, count: int) -> str:
    cols = ledger_insert_columns(table)
    assert set(cols) == set(exprs), set(cols) ^ set(exprs)
    body = ", ".join(f"{exprs[c]} AS {c}" for c in cols)
    return f"SELECT {body} FROM (SELECT number AS n FROM numbers({int(start)}, {int(count)}))"


def _insert(table: Table, select: str) -> str:
    return f"INSERT INTO {table.value} ({', '.join(ledger_insert_columns(table))}) {select}"


# -- the windows the worker would have stored ---------------------------------------------------
# Per ledger row, what kpi.counts.add_record adds (touchpoints and answers; no invitations here).
_TP_COUNTS = {"touchpoints": "1", "tp_first_contact": "toInt64(first_contact = true)",
              "tp_first_contact_resolved": "toInt64(first_contact = true AND resolved = true)"}
_SR_COUNTS = {
    "responses": "1", "nps_n": "toInt64(nps IS NOT NULL)", "promoters": "toInt64(ifNull(nps >= 9, 0))",
    "passives": "toInt64(ifNull(nps >= 7 AND nps <= 8, 0))", "detractors": "toInt64(ifNull(nps <= 6, 0))",
    "csat_n": "toInt64(csat IS NOT NULL)", "csat_sum": "toInt64(ifNull(csat, 0))",
    "csat_top2": "toInt64(ifNull(csat >= 4, 0))", "ces_n": "toInt64(ces IS NOT NULL)",
    "ces_sum": "toInt64(ifNull(ces, 0))", "ces_sumsq": "toInt64(ifNull(ces, 0) * ifNull(ces, 0))",
    "fcr_n": "toInt64(fcr IS NOT NULL)", "fcr_yes": "toInt64(ifNull(fcr = true, 0))",
}


def _view_dims(views: list[tuple[str, ...]], source: str = "{d}") -> str:
    """Each dimension column as the cell of the row's view ``vn`` has it: the value, or ``''`` outside it."""
    out = []
    for d in DIMENSIONS:
        holding = [f"'{view_name(v)}'" for v in views if d in v]
        value = source.format(d=d)
        out.append(f"if(vn IN ({', '.join(holding)}), {value}, '') AS d_{d}" if holding else f"'' AS d_{d}")
    return ", ".join(out)


def _windows_insert(tenant: str, size: str, inner: str) -> str:
    sums = ", ".join(f"sum({f})" for f in COUNTER_FIELDS)
    keys = ", ".join(["vn", "w", *(f"d_{d}" for d in DIMENSIONS), "shard"])
    return (f"INSERT INTO {Table.kpi_windows.value} (tenant, size, view, window_start, {', '.join(DIMENSIONS)}, shard, "
            f"{', '.join(COUNTER_FIELDS)}, version) "
            f"SELECT '{tenant}', '{size}', vn, toDateTime(w, 'UTC'), {', '.join(f'd_{d}' for d in DIMENSIONS)}, shard, "
            f"{sums}, 1 FROM ({inner}) GROUP BY {keys}")


def minute_windows_insert(tenant: str, views: list[tuple[str, ...]], from_ms: int, to_ms: int) -> str:
    """``INSERT`` of the 1-minute rows of every view for ledger rows with ``from_ms <= time_ms < to_ms``:
    each ledger row once per view (``ARRAY JOIN``), so the ledger is read once for all of them."""
    names = ", ".join(f"'{view_name(v)}'" for v in views)

    def per_row(table: Table, counts: dict[str, str]) -> str:
        cols = ", ".join(f"{counts.get(f, '0')} AS {f}" for f in COUNTER_FIELDS)
        return (f"SELECT time_ms, {', '.join(DIMENSIONS)}, kafka_partition, {cols} FROM {table.value} "
                f"WHERE tenant = '{tenant}' AND time_ms >= {int(from_ms)} AND time_ms < {int(to_ms)}")

    inner = (f"SELECT vn, intDiv(time_ms, 60000) * 60 AS w, {_view_dims(views)}, kafka_partition AS shard, "
             f"{', '.join(COUNTER_FIELDS)} FROM ({per_row(Table.touchpoints, _TP_COUNTS)} UNION ALL "
             f"{per_row(Table.survey_responses, _SR_COUNTS)}) ARRAY JOIN [{names}] AS vn")
    return _windows_insert(tenant, "1m", inner)


def rollup_insert(tenant: str, size: str, from_s: int, to_s: int) -> str:
    """``INSERT`` of ``size`` rows of every view summed from the stored minute rows in [from_s, to_s)."""
    sec = SIZES[size]
    inner = (f"SELECT view AS vn, intDiv(toUnixTimestamp(window_start), {sec}) * {sec} AS w, "
             f"{', '.join(f'{d} AS d_{d}' for d in DIMENSIONS)}, shard, {', '.join(COUNTER_FIELDS)} "
             f"FROM {Table.kpi_windows.value} WHERE tenant = '{tenant}' AND size = '1m' "
             f"AND window_start >= toDateTime({int(from_s)}, 'UTC') AND window_start < toDateTime({int(to_s)}, 'UTC')")
    return _windows_insert(tenant, size, inner)


def ledger_steps(tenant: str, answers: int, end_ms: int, days: float, partitions: int,
                 chunk: int = 1_000_000) -> Iterator[tuple[str, str]]:
    """The ledger's statements, ``chunk`` answers (and their touchpoints) each.

    Values in the SQL are the bench's own (numbers, the tenant it chose), not user input."""
    assert tenant.replace("-", "").replace("_", "").isalnum()
    for start in range(0, answers, chunk):
        count = min(chunk, answers - start)
        yield "answers", _insert(Table.survey_responses, answer_select(tenant, end_ms, days, partitions, start, count))
        yield "touchpoints", _insert(Table.touchpoints, touchpoint_select(tenant, end_ms, days, partitions, start, count))


def window_steps(tenant: str, answers: int, end_ms: int, days: float, views: list[tuple[str, ...]],
                 sizes: list[str]) -> Iterator[tuple[str, str]]:
    """The windows' statements, computed from the stored ledger, a few days at a time."""
    assert "1m" in sizes, "the larger windows are summed from the minute windows"
    # Touchpoints start up to 31 minutes before the first answer: one extra day covers them. Days are
    # grouped so each statement reads about a million ledger rows (fewer parts, bounded group-bys).
    first_day = (end_ms - int(days * DAY_MS)) // DAY_MS * DAY_MS - DAY_MS
    step = DAY_MS * max(1, int(1_000_000 / max(1.0, 2 * answers / days)))
    for lo in range(first_day, end_ms, step):
        hi = min(lo + step, end_ms // DAY_MS * DAY_MS + DAY_MS)
        yield "windows", minute_windows_insert(tenant, views, lo, hi)
        for size in sizes:
            if size != "1m":
                yield "windows", rollup_insert(tenant, size, lo // 1000, hi // 1000)


def load(wh: Warehouse, steps: list[tuple[str, str]], progress: Callable[[int, int, str], Any]) -> None:
    """Run the statements of :func:`ledger_steps` and :func:`window_steps`, calling ``progress(done, total, label)`` after each."""
    for i, (label, sql) in enumerate(steps, 1):
        wh.command(sql)
        progress(i, len(steps), label)
