"""Table names and DDL builders. Migrations call these; nothing else writes DDL.

Every table starts its sort key with ``tenant``: every query the API makes is
scoped by tenant, so each reads one contiguous range.

Ledger tables (touchpoints, survey_responses, survey_invitations) hold every
accepted event once: ``ReplacingMergeTree(version)`` keyed by
(tenant, event_key, source, event_id) makes a replayed insert harmless, and a later
version (a survey answer re-attributed to its touchpoint) replaces the earlier.
Event time is stored as ``time_ms`` (Int64, inserted without conversion) with
a materialized ``time`` for humans and SQL.

``kpi_windows`` holds additive KPI counters per (tenant, size, view, window,
dimension values, source shard). Each shard (Kafka partition) owns its rows,
so writers never contend and the API sums shards at read time; ratios are
computed on read (``kpi.measures``).
"""
from __future__ import annotations

import hashlib
import threading
import time
from enum import Enum

from kpi.counts import FIELDS as COUNTER_FIELDS
from core.dimensions import DIMENSIONS
from schemas.records import EventType


class Table(str, Enum):
    touchpoints = "touchpoints"
    survey_responses = "survey_responses"
    survey_invitations = "survey_invitations"
    kpi_windows = "kpi_windows"
    migrations = "schema_migrations"


_version_lock = threading.Lock()
_last_version = 0


def next_version() -> int:
    """Strictly increasing row version for ReplacingMergeTree updates (nanoseconds, bumped on ties)."""
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns(), _last_version + 1)
        return _last_version


def event_key(tenant: str, source: str, event_id: str) -> int:
    """64-bit key of an event's identity: the ledger's lookup key (hits are confirmed by the full id)."""
    digest = hashlib.blake2b(f"{tenant}\x1f{source}\x1f{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


LEDGER_TABLES = (Table.touchpoints, Table.survey_responses, Table.survey_invitations)
#: The ledger table of each event type (``EventType`` values, as records carry them), and back.
TABLE_OF_TYPE = {
    EventType.touchpoint.value: Table.touchpoints,
    EventType.survey_response.value: Table.survey_responses,
    EventType.survey_invitation.value: Table.survey_invitations,
}
TYPE_OF_TABLE = {t: k for k, t in TABLE_OF_TYPE.items()}

_DIM_COLUMNS = ",\n    ".join(f"{d} LowCardinality(String)" for d in DIMENSIONS)

_LEDGER_COMMON_HEAD = f"""
    tenant LowCardinality(String),
    event_key UInt64,
    source String,
    event_id String,
    time_ms Int64,
    time DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(time_ms),
    subject String,
    interaction_id String,
    customer String,
    {_DIM_COLUMNS}"""

_LEDGER_COMMON_TAIL = """
    attributes String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    version UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_time time_ms TYPE minmax GRANULARITY 4,
    INDEX idx_interaction interaction_id TYPE bloom_filter GRANULARITY 4"""

_LEDGER_ENGINE = """
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, event_key, source, event_id)"""

#: Type-specific columns of each ledger table, in insert order.
LEDGER_COLUMNS: dict[Table, tuple[tuple[str, str], ...]] = {
    Table.touchpoints: (
        ("wait_s", "Nullable(Float64)"), ("handle_s", "Nullable(Float64)"),
        ("resolved", "Nullable(Bool)"), ("first_contact", "Nullable(Bool)"),
        ("transferred", "Nullable(Bool)"), ("abandoned", "Nullable(Bool)"),
        ("converted", "Nullable(Bool)"),
    ),
    Table.survey_responses: (
        ("survey_id", "String"), ("nps", "Nullable(UInt8)"), ("csat", "Nullable(UInt8)"),
        ("ces", "Nullable(UInt8)"), ("fcr", "Nullable(Bool)"), ("comment", "String"),
        ("weight", "Nullable(Float64)"), ("overrides", "String"), ("attributed", "Bool"),
    ),
    Table.survey_invitations: (
        ("survey_id", "String"), ("via", "LowCardinality(String)"), ("attributed", "Bool"),
    ),
}

LEDGER_BASE_COLUMNS = (
    "tenant", "event_key", "source", "event_id", "time_ms", "subject", "interaction_id", "customer",
    *DIMENSIONS,
)
LEDGER_META_COLUMNS = ("attributes", "kafka_partition", "kafka_offset", "version")


def ledger_insert_columns(table: Table) -> tuple[str, ...]:
    return (*LEDGER_BASE_COLUMNS, *(c for c, _ in LEDGER_COLUMNS[table]), *LEDGER_META_COLUMNS)


def create_ledger_table(table: Table) -> str:
    specific = ",\n    ".join(f"{c} {t}" for c, t in LEDGER_COLUMNS[table])
    return (
        f"CREATE TABLE IF NOT EXISTS {table.value} ({_LEDGER_COMMON_HEAD},\n    {specific},"
        f"{_LEDGER_COMMON_TAIL}\n){_LEDGER_ENGINE}"
    )


WINDOW_KEY_COLUMNS = ("tenant", "size", "view", "window_start", *DIMENSIONS, "shard")
WINDOW_INSERT_COLUMNS = (*WINDOW_KEY_COLUMNS, *COUNTER_FIELDS, "version")


def create_kpi_windows() -> str:
    # Answers are integers, so every counter (sums of squares too) is an exact integer.
    counters = ",\n    ".join(f"{f} Int64" for f in COUNTER_FIELDS)
    return f"""CREATE TABLE IF NOT EXISTS {Table.kpi_windows.value} (
    tenant LowCardinality(String),
    size LowCardinality(String),
    view LowCardinality(String),
    window_start DateTime('UTC'),
    {_DIM_COLUMNS},
    shard UInt16,
    {counters},
    version UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY (size, toYYYYMM(window_start))
ORDER BY (tenant, size, view, window_start, {", ".join(DIMENSIONS)}, shard)"""


def create_migrations_ledger() -> str:
    return f"""CREATE TABLE IF NOT EXISTS {Table.migrations.value} (
    id UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY id"""


def add_ledger_time_projection(table: Table) -> list[str]:
    """The keys of a ledger table's rows sorted by (tenant, partition, time): the events of one shard
    and time range (a late event's closed window, a restore) are then a range read of this narrow
    projection plus a primary-key lookup, not a scan of the month sorted by event key. Narrow, so
    inserts stay cheap; ``rebuild`` keeps it right through ReplacingMergeTree merges."""
    return [
        f"ALTER TABLE {table.value} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'",
        f"ALTER TABLE {table.value} ADD PROJECTION IF NOT EXISTS by_time "
        f"(SELECT tenant, kafka_partition, time_ms, event_key ORDER BY tenant, kafka_partition, time_ms)",
        f"ALTER TABLE {table.value} MATERIALIZE PROJECTION by_time",
    ]
