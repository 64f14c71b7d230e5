"""0019: The ledger tables sorted by (tenant, day of event time, event key, …), and a projection by event key.

Why: a read of a time range (a crossing no stored view holds, ``warehouse.ledger_counts``) met the
range's rows scattered over every granule of the month, the sort key starting with the event's
hash: a day of a 28-day ledger read every granule of every column it needs, then kept 1/28 of
the rows (at 2 M answers, 0.39-0.55 s a day; the same read over rows sorted by day, 0.03-0.07 s).
Sorting by ``intDiv(time_ms, 86400000)`` after ``tenant`` makes a range a contiguous read of its
days' granules, ``FINAL`` included.

Deduplication stays exact: ``ReplacingMergeTree`` replaces rows of equal sort key, and every
version of a ledger row has its event's time (a re-attributed answer keeps it; a resend with
another time is a duplicate, dropped before it is stored), hence the same day; the month
partition already relied on it. The lookups by event key alone (the worker's dedup,
``warehouse.queries.stored_events``) lose the primary key's order and get it back from the
projection ``by_key`` (tenant, event key and the identity the hit is confirmed by).

How: the sort key of a table cannot be altered, so each table is rebuilt (the four ledger tables:
touchpoints, survey_responses, survey_invitations and the signals of 0018). ``CREATE … AS`` copies
the table as it stands (every column, index and projection added by earlier migrations) with the
new engine clause; every row is copied (``ingested_at`` and every version included); the two
are exchanged atomically (``EXCHANGE TABLES``: writers never see a missing table); the rows a
writer of the previous release stored in the old table during the copy (a rolling deploy) are
copied again, which ReplacingMergeTree makes harmless (the same row twice is one row); the old
table is dropped. The retention TTL (``warehouse.retention``) is not part of the engine clause:
the start-up applies it again right after the migrations.

Cost: one copy of the ledger at migrate time: 185 s for 2 M answers and 2 M touchpoints on the
2-core test machine under load (about 45 s per million rows, projections rebuilt on insert), twice the ledger's disk until each table's copy is
dropped. A run interrupted after an exchange and before its drop stops at the guard below on
the next run rather than exchanging back: ``<table>_pre0019`` then holds the previous rows (copy
its recent rows into ``<table>`` and drop it by hand, or simply drop it once the copy is verified).

Frozen: the literal DDL this migration has always run.
"""
ID = 19
NAME = "ledger_by_day"

_TABLES = ("touchpoints", "survey_responses", "survey_invitations", "signals")
_ENGINE = ("ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(time) "
           "ORDER BY (tenant, intDiv(time_ms, 86400000), event_key, source, event_id) "
           "SETTINGS deduplicate_merge_projection_mode = 'rebuild'")
_BY_KEY = "(SELECT tenant, event_key, source, event_id ORDER BY tenant, event_key)"


def _rebuild(table: str) -> list[str]:
    new = f"{table}_pre0019"  # after the exchange it holds the previous table, hence the name
    return [
        f"CREATE TABLE IF NOT EXISTS {new} AS {table} {_ENGINE}",
        # Never exchange back: a table left by an interrupted run holds the previous rows.
        f"SELECT throwIf(count() != 1, 'migration 0019: {new} exists without the new sort key: it holds the ledger "
        f"of {table} from an interrupted run; copy its rows into {table} and drop it') AS ok FROM system.tables "
        f"WHERE database = currentDatabase() AND name = '{new}' AND sorting_key LIKE '%intDiv(time_ms, 86400000)%'",
        f"ALTER TABLE {new} ADD PROJECTION IF NOT EXISTS by_key {_BY_KEY}",
        f"INSERT INTO {new} SELECT * FROM {table}",
        f"EXCHANGE TABLES {table} AND {new}",
        # What a writer of the previous release stored during the copy (a day of margin).
        f"INSERT INTO {table} SELECT * FROM {new} WHERE ingested_at >= now64(3) - INTERVAL 1 DAY",
        f"DROP TABLE {new}",
    ]


operations: list[str] = [stmt for table in _TABLES for stmt in _rebuild(table)]
