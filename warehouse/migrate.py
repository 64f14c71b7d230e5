"""Apply pending migrations in order and record them in ``schema_migrations``.

Usage: ``cxpulse migrate [--dry-run]`` (also run at start by ``cxpulse up``,
``worker`` and ``api``). Forward only: there is no down migration, a fix is a
new migration.
"""
from __future__ import annotations

import logging

from warehouse.client import Warehouse
from warehouse.migrations import MIGRATIONS
from warehouse.tables import Table, create_migrations_ledger

log = logging.getLogger(__name__)


def pending_migrations(wh: Warehouse) -> list:
    wh.command(create_migrations_ledger())
    applied = {row[0] for row in wh.query(f"SELECT id FROM {Table.migrations.value}").result_rows}
    return [m for m in MIGRATIONS if m.ID not in applied]


def migrate(wh: Warehouse, dry_run: bool = False) -> list[str]:
    """Apply what is pending; return the statements (only listed when ``dry_run``)."""
    done: list[str] = []
    for m in pending_migrations(wh):
        for stmt in m.operations:
            done.append(stmt)
            if not dry_run:
                wh.command(stmt)
        if not dry_run:
            wh.insert(Table.migrations.value, [[m.ID, m.NAME]], column_names=["id", "name"])
            log.info("applied migration %04d_%s", m.ID, m.NAME)
    return done
