"""Migration 0019 on a populated ledger: every row kept, the new sort key, the crossing unchanged.

A database migrated up to 0014 gets ledger rows in two months (answers in two versions, the
second under other dimensions as a re-attributed answer; invitations; custom dimensions), then
the remaining migrations. Every row at its latest version (``FINAL``, ``ingested_at`` and
``version`` included) is the same before and after, and so is a ledger-answered crossing.
"""
from __future__ import annotations

import contextlib
import uuid

import pytest

from bench.scale_data import answer_select, touchpoint_select
from core.errors import WarehouseError
from core.windows import DAY_MS
from warehouse import migrate as mig
from warehouse.client import Warehouse
from warehouse.ledger_counts import ledger_windows
from warehouse.migrations import MIGRATIONS
from warehouse.tables import LEDGER_TABLES, ledger_insert_columns

END_MS = 1_796_083_200_000  # 2026-12-01T00:00Z: 40 days back spans October and November
DAYS = 40
N = 3000


@pytest.fixture
def wh(chdb_dsn: str):
    database = f"m19_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse.open(chdb_dsn, database=database)
    yield warehouse
    warehouse.command(f"DROP DATABASE IF EXISTS {database}")


def _insert(wh: Warehouse, table, select: str) -> None:
    wh.command(f"INSERT INTO {table.value} ({', '.join(ledger_insert_columns(table))}) {select}")


def _populate(wh: Warehouse) -> None:
    from warehouse.tables import Table
    _insert(wh, Table.touchpoints, touchpoint_select("t1", END_MS, DAYS, 4, 0, N))
    _insert(wh, Table.survey_responses, answer_select("t1", END_MS, DAYS, 4, 0, N))
    # A second version of every third answer under another queue and a custom dimension: FINAL keeps it.
    # It also carries the columns of 0015 and 0017 (aspects, duration, panel flags).
    wh.command("INSERT INTO survey_responses SELECT * REPLACE (concat(queue, '-moved') AS queue, "
               "map('market', 'fr') AS extra_dims, map('wait_time', toUInt8(kafka_offset % 5 + 1)) AS aspects, "
               "toFloat64(kafka_offset % 97) AS duration_s, toUInt8(kafka_offset % 4) AS flags, "
               "version + 1 AS version) FROM survey_responses WHERE kafka_offset % 3 = 0")
    wh.command("INSERT INTO survey_invitations (tenant, event_key, source, event_id, time_ms, interaction_id, "
               "queue, site, via, attributed, kafka_partition, kafka_offset, version) "
               "SELECT tenant, event_key + 1, source, concat('inv-', event_id), time_ms - 1000, interaction_id, "
               "queue, site, 'email', true, kafka_partition, kafka_offset, 1 FROM touchpoints WHERE kafka_offset % 2 = 0")
    # Signals (0018): a review per fifth touchpoint, in two versions for half of them.
    wh.command("INSERT INTO signals (tenant, event_key, source, event_id, time_ms, channel, site, kind, rating, "
               "platform, text, kafka_partition, kafka_offset, version) "
               "SELECT tenant, event_key + 2, 'reviews', concat('sig-', event_id), time_ms, channel, site, 'review', "
               "toUInt8(kafka_offset % 5 + 1), 'web', 'ok', kafka_partition, kafka_offset, 1 FROM touchpoints "
               "WHERE kafka_offset % 5 = 0")
    wh.command("INSERT INTO signals SELECT * REPLACE (toUInt8(1) AS rating, version + 1 AS version) FROM signals "
               "WHERE kafka_offset % 2 = 0")


def _rows(wh: Warehouse) -> dict[str, list[tuple]]:
    return {t.value: sorted(map(tuple, wh.query(f"SELECT * FROM {t.value} FINAL").result_rows)) for t in LEDGER_TABLES}


async def _crossing(wh: Warehouse) -> list:
    rows = await ledger_windows(wh, "t1", DAY_MS, ("queue", "site"), {}, (END_MS - DAYS * DAY_MS) // 1000, END_MS // 1000)
    return [(r.window_start, r.group, r.counts) for r in rows]


def _sorting_keys(wh: Warehouse) -> set[str]:
    return {r[0] for r in wh.query("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
                                   "AND name IN ('touchpoints', 'survey_responses', 'survey_invitations', 'signals')").result_rows}


async def test_a_populated_ledger_keeps_every_row_and_answers_the_same(wh, monkeypatch):
    before_0019 = [m for m in MIGRATIONS if m.ID < 19]
    monkeypatch.setattr(mig, "MIGRATIONS", before_0019)
    mig.migrate(wh)
    assert _sorting_keys(wh) == {"tenant, event_key, source, event_id"}
    _populate(wh)
    rows, crossing = _rows(wh), await _crossing(wh)
    assert {t: len(r) for t, r in rows.items()} == {"touchpoints": N, "survey_responses": N,
                                                     "survey_invitations": N // 2, "signals": N // 5}
    assert {m for (m,) in wh.query("SELECT DISTINCT toYYYYMM(time) FROM survey_responses").result_rows} == {
        202610, 202611}
    monkeypatch.setattr(mig, "MIGRATIONS", MIGRATIONS)
    ran = mig.migrate(wh)
    assert any("EXCHANGE TABLES survey_responses" in s for s in ran)
    assert _sorting_keys(wh) == {"tenant, intDiv(time_ms, 86400000), event_key, source, event_id"}
    assert _rows(wh) == rows
    assert await _crossing(wh) == crossing
    left = wh.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%pre0019'")
    assert left.result_rows == []
    # The worker's dedup lookup by event key is answered from the by_key projection.
    plan = "\n".join(r[0] for r in wh.query(
        "EXPLAIN indexes = 1 SELECT tenant, source, event_id FROM survey_responses "
        "WHERE tenant IN {t:Array(String)} AND event_key IN {k:Array(UInt64)}", {"t": ["t1"], "k": [1, 2]}).result_rows)
    assert "by_key" in plan



def test_an_interrupted_rebuild_is_never_exchanged_back(wh):
    mig.migrate(wh)
    # As a run stopped after its exchange leaves it: the previous table under the rebuild's name.
    wh.command("CREATE TABLE touchpoints_pre0019 AS touchpoints ENGINE = ReplacingMergeTree(version) "
               "PARTITION BY toYYYYMM(time) ORDER BY (tenant, event_key, source, event_id) "
               "SETTINGS deduplicate_merge_projection_mode = 'rebuild'")
    wh.command("ALTER TABLE schema_migrations DELETE WHERE id = 19 SETTINGS mutations_sync = 1")
    with pytest.raises(WarehouseError, match="touchpoints_pre0019 exists without the new sort key"):
        mig.migrate(wh)
    # chDB's driver garbles the first result after a SELECT that failed while writing its output
    # (the guard's throwIf): one throwaway read (a process whose migration fails exits anyway).
    with contextlib.suppress(Exception):
        wh.query("SELECT 1")
    assert _sorting_keys(wh) == {"tenant, intDiv(time_ms, 86400000), event_key, source, event_id"}
