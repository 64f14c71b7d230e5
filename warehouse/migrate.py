"""Apply pending migrations in order and record them in ``schema_migrations``.

Usage: ``cxpulse migrate [--dry-run]`` (also run at start by ``cxpulse up``,
``worker`` and ``api``). Forward only: there is no down migration, a fix is a
new migration.

On a ClickHouse cluster the database has ``ENGINE = Replicated`` (deploy/k8s):
it replays every DDL statement on each replica, but table *data* replicates
only in ``Replicated*MergeTree`` tables. The migrations are written once, with
the plain engines chDB and a single server need, and :func:`for_database`
rewrites their engine clauses when the target database is ``Replicated`` —
the ``schema_migrations`` ledger included, or a process reaching the other
replica would see no migration applied (docs/operations.md#clickhouse-cluster).
"""
from __future__ import annotations

import logging
import re

from warehouse.client import Warehouse
from core.errors import WarehouseError
from warehouse.migrations import MIGRATIONS
from warehouse.tables import Table, create_migrations_ledger

log = logging.getLogger(__name__)

#: The MergeTree family: each has a ``Replicated`` counterpart taking the same parameters.
MERGE_TREE_ENGINES = (
    "MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
    "CollapsingMergeTree", "VersionedCollapsingMergeTree", "GraphiteMergeTree", "CoalescingMergeTree",
)

# `ENGINE = X` or `ENGINE X` (the keyword is case-insensitive, engine names are not). A name
# already `Replicated…` does not match, which makes the rewrite idempotent.
_ENGINE_CLAUSE = re.compile(
    r"(?P<head>\b(?i:ENGINE)(?:\s*=\s*|\s+))(?P<engine>" + "|".join(MERGE_TREE_ENGINES) + r")\b"
)
_CREATE = re.compile(r"\s*CREATE\b", re.IGNORECASE)


def replicated_ddl(stmt: str) -> str:
    """``stmt`` with each MergeTree-family engine of a ``CREATE`` made its ``Replicated`` counterpart.

    Engine parameters stay as they were and no Keeper path / replica name is added: in a
    ``Replicated`` database ClickHouse fills them in (``default_replica_path``,
    ``default_replica_name``), and from 24.9 it refuses explicit ones there by default. Only ``CREATE``
    statements carry an engine clause; anything else (``ALTER``) is returned as it is.
    """
    if not _CREATE.match(stmt):
        return stmt
    return _ENGINE_CLAUSE.sub(r"\g<head>Replicated\g<engine>", stmt)


def database_engine(wh: Warehouse) -> str:
    """Engine of the warehouse's database (``Atomic`` on chDB and a plain server)."""
    rows = wh.query("SELECT engine FROM system.databases WHERE name = {db:String}",
                    parameters={"db": wh.database}).result_rows
    if not rows:
        raise WarehouseError(f"database {wh.database!r} does not exist")
    return str(rows[0][0])


def for_database(statements: list[str], engine: str) -> list[str]:
    """The statements as they must run in a database of ``engine``."""
    return [replicated_ddl(s) for s in statements] if engine == "Replicated" else list(statements)


def _ledger_exists(wh: Warehouse) -> bool:
    return bool(wh.query("EXISTS TABLE {table:Identifier}",
                         parameters={"table": Table.schema_migrations.value}).result_rows[0][0])


def migrate(wh: Warehouse, dry_run: bool = False) -> list[str]:
    """Apply what is pending; return the statements run, or that would run when ``dry_run``.

    The statements are those of the target database (rewritten for a ``Replicated`` one), the
    ledger's own ``CREATE`` first when it does not exist yet. A dry run writes nothing.
    """
    engine = database_engine(wh)
    if engine == "Replicated":
        log.info("database %s is Replicated: MergeTree engines become Replicated*MergeTree", wh.database)
    done: list[str] = []
    applied: set[int] = set()
    if _ledger_exists(wh):
        applied = {row[0] for row in wh.query(f"SELECT id FROM {Table.schema_migrations.value}").result_rows}
    else:
        (ledger,) = for_database([create_migrations_ledger()], engine)
        done.append(ledger)
        if not dry_run:
            wh.command(ledger)
    for m in MIGRATIONS:
        if m.ID in applied:
            continue
        for stmt in for_database(m.operations, engine):
            done.append(stmt)
            if not dry_run:
                wh.command(stmt)
        if not dry_run:
            wh.insert(Table.schema_migrations.value, [[m.ID, m.NAME]], column_names=["id", "name"])
            log.info("applied migration %04d_%s", m.ID, m.NAME)
    return done
