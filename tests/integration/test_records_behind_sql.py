"""The drill-down's SQL conditions (``warehouse.record_queries.RECORDS_BEHIND``) select exactly the
records that count in the metric's ``n`` (``kpi.counts``), evaluated by chDB itself on every
combination of the fields they read (NULLs included: SQL's three-valued logic is the trap)."""
from __future__ import annotations

import itertools
import random

from kpi.counts import MAX_DURATION_S, KpiCounts, add_record, contribution
from kpi.measures import measure
from tests.conftest import migrated_warehouse
from warehouse import record_queries as rq
from warehouse.tables import LEDGER_COLUMNS, Table

_FIELDS = {
    Table.survey_responses: ("nps", "csat", "ces", "fcr"),
    Table.touchpoints: ("wait_s", "handle_s", "first_contact", "converted", "abandoned", "transferred"),
}
_DOMAINS = {
    "nps": [None, *range(11)], "csat": [None, *range(1, 6)], "ces": [None, *range(1, 8)], "fcr": [None, True, False],
    "wait_s": [None, 0.0, 12.5], "handle_s": [None, 0.0, 240.0],
    **{f: [None, True, False] for f in ("first_contact", "converted", "abandoned", "transferred")},
}
_TYPE = {Table.survey_responses: "cx.survey.response.v1", Table.touchpoints: "cx.touchpoint.v1"}


def _literal(v: object) -> str:
    return "NULL" if v is None else ("true" if v is True else "false" if v is False else repr(v))


def test_each_condition_selects_the_records_in_n(chdb_dsn):
    with migrated_warehouse(chdb_dsn, "behind") as wh:
        for table, fields in _FIELDS.items():
            metrics = [(m, cond) for m, (t, cond) in rq.RECORDS_BEHIND.items() if t is table]
            types = dict(LEDGER_COLUMNS[table])
            rows = [dict(zip(fields, combo)) for combo in itertools.product(*(_DOMAINS[f] for f in fields))]
            structure = ", ".join(["i UInt32", *(f"{f} {types[f]}" for f in fields)])
            values = ", ".join("(" + ", ".join([str(i), *(_literal(r[f]) for f in fields)]) + ")"
                               for i, r in enumerate(rows))
            selects = ", ".join(f"toUInt8(ifNull({cond}, false))" for _, cond in metrics)
            got = wh.query(f"SELECT i, {selects} FROM values('{structure}', {values}) ORDER BY i").result_rows
            assert len(got) == len(rows)
            for (i, *flags), row in zip(got, rows):
                counts = contribution({"type": _TYPE[table], **row})
                want = [int(measure(m, counts).n == 1) for m, _ in metrics]
                assert list(flags) == want, (table.value, row, [m.value for m, _ in metrics])


def test_the_decisecond_rule_reads_the_same_in_clickhouse(chdb_dsn):
    """kpi.counts counts a duration as int(s * 10 + 0.5); the ledger path's SQL mirror,
    toInt64(floor(s * 10 + 0.5)) on the stored Float64, gives the same integer, ties included."""
    rng = random.Random(3)
    seconds = [0.0, 0.04, 0.05, 0.15, 0.25, 0.35, 1.45, 2.5, 12.34, 59.95, 0.1 * 3, float(MAX_DURATION_S)]
    seconds += [rng.uniform(0, 3600) for _ in range(300)] + [round(rng.uniform(0, 600), 2) for _ in range(300)]
    with migrated_warehouse(chdb_dsn, "ds") as wh:
        values = ", ".join(f"({i}, {s!r})" for i, s in enumerate(seconds))
        got = wh.query(f"SELECT i, toInt64(floor(s * 10 + 0.5)) FROM values('i UInt32, s Float64', {values}) "
                       "ORDER BY i").result_rows
    for (i, ds), s in zip(got, seconds):
        c = KpiCounts()
        add_record(c, {"type": "cx.touchpoint.v1", "wait_s": s})
        assert (c.tp_wait_ds, c.tp_wait_ds2) == (ds, ds * ds), s
