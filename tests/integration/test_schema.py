"""The schema ``warehouse.tables`` describes is the one the migrations build, and the migrations are frozen.

A fresh database migrated by ``warehouse.migrate`` and one built from ``tables.create_table`` must
hold the same tables, column for column, index, projection, engine, keys and settings: a change to
``tables.py`` without its migration (or the other way round) fails here. The migrations import
nothing of ours, so a change elsewhere can never change what an applied one runs.
"""
from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest

from warehouse.client import Warehouse
from warehouse.migrate import migrate
from warehouse.tables import Table, create_table

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "warehouse" / "migrations"
_SETTINGS = re.compile(r" SETTINGS (.*)$")


@pytest.fixture
def database(chdb_dsn: str):
    opened: list[Warehouse] = []

    def open_new(prefix: str) -> Warehouse:
        opened.append(Warehouse.open(chdb_dsn, database=f"{prefix}_{uuid.uuid4().hex[:12]}"))
        return opened[-1]

    yield open_new
    for wh in opened:
        wh.command(f"DROP DATABASE IF EXISTS {wh.database}")


def schema(wh: Warehouse) -> dict[str, str]:
    """Table -> its ``CREATE`` as ClickHouse states it, without the database name; the settings
    sorted (their order is that in which they were set, which differs between an ``ALTER … MODIFY
    SETTING`` and a ``CREATE … SETTINGS``)."""
    rows = wh.query("SELECT name, replaceAll(create_table_query, {prefix:String}, '') FROM system.tables "
                    "WHERE database = {db:String}", parameters={"db": wh.database, "prefix": f"{wh.database}."})
    out = {}
    for name, ddl in rows.result_rows:
        found = _SETTINGS.search(ddl)
        if found:
            ddl = ddl[:found.start()] + " SETTINGS " + ", ".join(sorted(found[1].split(", ")))
        out[name] = ddl
    return out


def test_the_migrations_build_the_schema_tables_describes(database):
    migrated = database("migrated")
    migrate(migrated)
    described = database("described")
    for table in Table:
        described.command(create_table(table))
    got, want = schema(migrated), schema(described)
    assert sorted(got) == sorted(t.value for t in Table)
    for table in Table:
        assert got[table.value] == want[table.value], table.value


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("m[0-9]*.py")), ids=lambda p: p.stem)
def test_a_migration_imports_nothing(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == [], f"{path.name} must hold its DDL as literals, not import it: {imports}"
