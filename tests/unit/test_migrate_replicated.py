"""Migrations on a ``Replicated`` database: the engine rewrite, and its detection on chDB.

chDB cannot host a ``Replicated`` database (no Keeper), so the rewrite is checked statically
here: on every DDL statement the project's migrations produce, against engine clauses written
out by hand, and parsed back by ClickHouse's own parser (``formatQuery`` in chDB). The
detection path runs for real on chDB (engine ``Atomic`` -> nothing rewritten).
"""
from __future__ import annotations

import re
import uuid

import pytest

from warehouse import migrate as mig
from warehouse.client import Warehouse
from core.errors import WarehouseError
from warehouse.migrations import (MIGRATIONS, m0014_touchpoint_outcomes, m0015_aspects, m0017_panel_flags, m0018_signals,
                                  m0019_ledger_by_day)
from warehouse.tables import create_migrations_ledger

#: Table -> (engine clause the migrations write, engine clause on a Replicated database).
#: Written out by hand: a new table must be added here, with the engine it needs on a cluster.
ENGINES = {
    "schema_migrations": ("MergeTree", "ReplicatedMergeTree"),
    "touchpoints": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "survey_responses": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "survey_invitations": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "kpi_windows": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "aspect_windows": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "webhook_subscriptions": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "webhook_deliveries": ("MergeTree", "ReplicatedMergeTree"),
    "webhook_dead_letters": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "kpi_targets": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "alert_rules": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "alert_states": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "alert_history": ("ReplacingMergeTree", "ReplicatedReplacingMergeTree"),
    "silences": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "cases": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "case_events": ("ReplacingMergeTree", "ReplicatedReplacingMergeTree"),
    "case_links": ("ReplacingMergeTree", "ReplicatedReplacingMergeTree"),
    "audit_log": ("ReplacingMergeTree", "ReplicatedReplacingMergeTree"),
    "api_keys": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "api_key_usage": ("ReplacingMergeTree(last_used_at_ms)", "ReplicatedReplacingMergeTree(last_used_at_ms)"),
    "erasures": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "erased_events": ("ReplacingMergeTree", "ReplicatedReplacingMergeTree"),
    "panel_opt_outs": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "signals": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "outcomes": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
    "program_costs": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)"),
}
#: Tables a migration creates and drops again (0019: each ledger table's rebuild, ``CREATE … AS``).
TRANSIENT = {f"{t}_pre0019": ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(version)")
             for t in ("touchpoints", "survey_responses", "survey_invitations", "signals")}
CREATED = {**ENGINES, **TRANSIENT}

_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def all_statements() -> list[str]:
    return [create_migrations_ledger(), *(s for m in MIGRATIONS for s in m.operations)]


def creates() -> list[tuple[str, str]]:
    """(table, statement) of every CREATE the migrations run."""
    out = []
    for stmt in all_statements():
        m = _CREATE_TABLE.match(stmt)
        if m:
            out.append((m[1], stmt))
    return out


def engine_clause(stmt: str) -> str:
    """The text after ``ENGINE = `` up to the next blank (each engine here has no blank inside)."""
    found = re.findall(r"ENGINE = (\S+)", stmt)
    assert len(found) == 1, stmt
    return found[0]


def test_every_table_of_the_migrations_is_listed():
    assert sorted(t for t, _ in creates()) == sorted(CREATED)


@pytest.mark.parametrize("table", sorted(CREATED))
def test_rewrite_gives_the_replicated_engine_and_leaves_the_rest(table):
    (stmt,) = [s for t, s in creates() if t == table]
    plain, replicated = CREATED[table]
    assert engine_clause(stmt) == plain
    out = mig.replicated_ddl(stmt)
    assert engine_clause(out) == replicated
    # Exactly one word inserted, in the engine clause; every other character as it was.
    assert out.count("Replicated") == stmt.count("Replicated") + 1
    assert out.replace("ENGINE = Replicated", "ENGINE = ", 1) == stmt
    assert mig.replicated_ddl(out) == out


def test_statements_without_an_engine_are_untouched():
    others = [s for s in all_statements() if not _CREATE_TABLE.match(s)]
    projection = [stmt for t in ("touchpoints", "survey_responses", "survey_invitations") for stmt in (
        f"ALTER TABLE {t} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'",
        f"ALTER TABLE {t} ADD PROJECTION IF NOT EXISTS by_time "
        "(SELECT tenant, kafka_partition, time_ms, event_key ORDER BY tenant, kafka_partition, time_ms)",
        f"ALTER TABLE {t} MATERIALIZE PROJECTION by_time")]
    by_interaction = [stmt for t, select in (
        ("survey_responses", "SELECT tenant, interaction_id"),
        ("touchpoints", "SELECT tenant, interaction_id, time_ms, channel, journey_step, segment, queue, team, "
                        "agent_id, site, region"),
        ("survey_invitations", "SELECT *"),
    ) for stmt in (
        f"ALTER TABLE {t} ADD PROJECTION IF NOT EXISTS by_interaction ({select} ORDER BY tenant, interaction_id)",
        f"ALTER TABLE {t} MATERIALIZE PROJECTION by_interaction")]
    extra_dims = [  # 0013
        *(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS extra_dims Map(LowCardinality(String), String) AFTER region"
          for t in ("touchpoints", "survey_responses", "survey_invitations")),
        "ALTER TABLE kpi_windows ADD COLUMN IF NOT EXISTS extra_key String AFTER region, ADD COLUMN IF NOT EXISTS "
        "extra_dims Map(LowCardinality(String), String) AFTER extra_key, MODIFY ORDER BY (tenant, size, view, "
        "window_start, channel, journey_step, segment, queue, team, agent_id, site, region, shard, extra_key)"]
    assert others == ["ALTER TABLE webhook_subscriptions ADD COLUMN IF NOT EXISTS "
                      "format LowCardinality(String) DEFAULT 'cloudevents'", *projection,
                      "ALTER TABLE kpi_windows ADD COLUMN IF NOT EXISTS invitations_answered Int64 DEFAULT 0 "
                      "AFTER fcr_yes", *by_interaction, *extra_dims, *m0014_touchpoint_outcomes.operations,
                      m0015_aspects.operations[0], *m0017_panel_flags.operations[:1], *m0018_signals.operations[1:],
                      *(s for s in m0019_ledger_by_day.operations if not _CREATE_TABLE.match(s))]
    assert [mig.replicated_ddl(s) for s in others] == others


def test_rewrite_is_idempotent_on_every_statement():
    once = mig.for_database(all_statements(), "Replicated")
    assert mig.for_database(once, "Replicated") == once
    assert len(once) == len(all_statements())


def test_other_database_engines_get_the_statements_unchanged():
    for engine in ("Atomic", "Ordinary", "Memory", "Lazy"):
        assert mig.for_database(all_statements(), engine) == all_statements()


@pytest.mark.parametrize(("stmt", "expected"), [
    ("CREATE TABLE t (x UInt8) ENGINE=MergeTree ORDER BY x",
     "CREATE TABLE t (x UInt8) ENGINE=ReplicatedMergeTree ORDER BY x"),
    ("create table t (x UInt8) engine SummingMergeTree((x)) order by x",
     "create table t (x UInt8) engine ReplicatedSummingMergeTree((x)) order by x"),
    ("CREATE TABLE t (s Int8, v UInt8) ENGINE = VersionedCollapsingMergeTree(s, v) ORDER BY s",
     "CREATE TABLE t (s Int8, v UInt8) ENGINE = ReplicatedVersionedCollapsingMergeTree(s, v) ORDER BY s"),
    ("CREATE TABLE t (x AggregateFunction(sum, UInt8)) ENGINE = AggregatingMergeTree ORDER BY tuple()",
     "CREATE TABLE t (x AggregateFunction(sum, UInt8)) ENGINE = ReplicatedAggregatingMergeTree ORDER BY tuple()"),
    # A column named `engine`, an engine outside the MergeTree family, a name already replicated.
    ("CREATE TABLE t (engine String) ENGINE = Memory", "CREATE TABLE t (engine String) ENGINE = Memory"),
    ("CREATE TABLE t (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x",
     "CREATE TABLE t (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x"),
    ("CREATE TABLE t (x UInt8) ENGINE = MergeTreeish", "CREATE TABLE t (x UInt8) ENGINE = MergeTreeish"),
    ("INSERT INTO notes VALUES ('ENGINE = MergeTree')", "INSERT INTO notes VALUES ('ENGINE = MergeTree')"),
])
def test_rewrite_cases(stmt, expected):
    assert mig.replicated_ddl(stmt) == expected


# -- ClickHouse's parser and the detection path, on chDB --------------------------------
@pytest.fixture
def wh(chdb_dsn: str):
    database = f"mr_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse.open(chdb_dsn, database=database)
    yield warehouse
    warehouse.command(f"DROP DATABASE IF EXISTS {database}")


def test_rewritten_statements_parse_with_the_replicated_engines(wh):
    """ClickHouse's parser reads each rewritten CREATE with the engine expected (it cannot run them here)."""
    for table, stmt in creates():
        formatted = wh.query("SELECT formatQuery({q:String})",
                             parameters={"q": mig.replicated_ddl(stmt)}).result_rows[0][0]
        assert f"CREATE TABLE IF NOT EXISTS {table}" in formatted
        assert re.search(r"\nENGINE = (\S+)", formatted)[1] == CREATED[table][1]


def tables(wh: Warehouse) -> dict[str, str]:
    rows = wh.query("SELECT name, engine_full FROM system.tables WHERE database = {db:String}",
                    parameters={"db": wh.database}).result_rows
    return {name: full for name, full in rows}


def test_on_chdb_the_database_is_atomic_and_nothing_is_rewritten(wh):
    assert mig.database_engine(wh) == "Atomic"

    planned = mig.migrate(wh, dry_run=True)
    assert planned == all_statements()  # ledger first, then every migration, as written
    assert tables(wh) == {}  # a dry run writes nothing

    assert mig.migrate(wh) == all_statements()
    created = tables(wh)
    assert sorted(created) == sorted(ENGINES)
    for table, (plain, _) in ENGINES.items():
        assert created[table].split(" ")[0] == plain, (table, created[table])
    applied = wh.query("SELECT id FROM schema_migrations ORDER BY id").result_rows
    assert applied == [(m.ID,) for m in MIGRATIONS]

    assert mig.migrate(wh, dry_run=True) == []
    assert mig.migrate(wh) == []


def test_a_missing_database_is_an_error(wh):
    wh.command(f"DROP DATABASE {wh.database}")
    with pytest.raises(WarehouseError, match=f"^database '{wh.database}' does not exist$"):
        mig.database_engine(wh)
    wh.command(f"CREATE DATABASE {wh.database}")


class ReplicatedStub:
    """A warehouse that answers as a ``Replicated`` database would and records what it is sent.

    Only the orchestration of :func:`warehouse.migrate.migrate` is under test: which statements
    it sends, in which order, and that a dry run sends none. What ClickHouse makes of them is
    covered above (parser) and in docs/operations.md (what is verified only statically).
    """

    database = "cxpulse"

    def __init__(self, applied: list[int] | None) -> None:
        self.applied = applied  # None: no ledger table yet
        self.commands: list[str] = []
        self.inserts: list[list] = []

    def query(self, sql: str, parameters=None):
        if sql.startswith("SELECT engine FROM system.databases"):
            assert parameters == {"db": "cxpulse"}
            rows = [("Replicated",)]
        elif sql.startswith("EXISTS TABLE"):
            rows = [(int(self.applied is not None),)]
        else:
            assert sql == "SELECT id FROM schema_migrations"
            rows = [(i,) for i in self.applied or []]
        return type("Result", (), {"result_rows": rows})()

    def command(self, sql: str, parameters=None) -> None:
        self.commands.append(sql)

    def insert(self, table, data, column_names) -> None:
        self.inserts.append([table, *data])


def test_migrate_sends_the_rewritten_statements_to_a_replicated_database():
    expected = mig.for_database(all_statements(), "Replicated")
    dry = ReplicatedStub(applied=None)
    assert mig.migrate(dry, dry_run=True) == expected  # what `cxpulse migrate --dry-run` prints
    assert dry.commands == [] and dry.inserts == []

    real = ReplicatedStub(applied=None)
    assert mig.migrate(real) == expected
    assert real.commands == expected
    assert real.inserts == [["schema_migrations", [m.ID, m.NAME]] for m in MIGRATIONS]
    assert engine_clause(real.commands[0]) == "ReplicatedMergeTree"  # the ledger itself replicates

    later = ReplicatedStub(applied=[m.ID for m in MIGRATIONS[:-1]])
    assert mig.migrate(later) == mig.for_database(MIGRATIONS[-1].operations, "Replicated")


def test_opening_an_existing_database_keeps_its_engine(wh, chdb_dsn):
    """The client's CREATE DATABASE IF NOT EXISTS leaves an existing database as it was made.

    On the cluster the manifests make ``cxpulse`` Replicated; here a Memory database stands in
    for "a database of an engine the app would not choose".
    """
    other = f"{wh.database}_mem"
    wh.command(f"CREATE DATABASE {other} ENGINE = Memory")
    try:
        opened = Warehouse.open(chdb_dsn, database=other)
        assert mig.database_engine(opened) == "Memory"
    finally:
        wh.command(f"DROP DATABASE IF EXISTS {other}")
