"""Every table of the warehouse: its name, the schema it has today, and the columns writers insert.

Names: one ``Table`` enum, a member named as its table. New tables are named ``<feature>_<rows>``
in the plural (``alert_rules``, ``case_events``, ``webhook_deliveries``, ``kpi_windows``). Four
older names read otherwise: the ledger tables are named after their event type (``touchpoints``,
``survey_responses``, ``survey_invitations``: ``TABLE_OF_TYPE`` maps one to the other), and
``silences`` and ``cases`` carry no feature prefix. They are kept: a ``RENAME TABLE`` migration
would break every process still running the previous release during a rolling deploy (the
api and worker pods migrate at start, the old ones keep writing to the old names) and every
query, dashboard or backup script written against them, for no change in behaviour.

DDL: :func:`create_table` gives each table as a fresh database has it once every migration ran
(``tests/integration/test_schema.py`` holds the two equal). The app never runs it: what runs is
the migrations' own frozen DDL (``warehouse/migrations``), so a schema change is a change here and
a new migration, and an applied migration never changes when this module does. The one statement
run from here is the ``schema_migrations`` ledger's, itself frozen (``warehouse.migrate``).

Every table starts its sort key with ``tenant``: every query the API makes is scoped by tenant, so
each reads one contiguous range.

Ledger tables hold every accepted event once: ``ReplacingMergeTree(version)`` keyed by
(tenant, day of event time, event_key, source, event_id) makes a replayed insert harmless, and a
later version (a survey answer re-attributed to its touchpoint, at its event's time) replaces the earlier. Event time is stored as
``time_ms`` (Int64, inserted without conversion) with a materialized ``time`` for humans and SQL.

``kpi_windows`` holds additive KPI counters per (tenant, size, view, window, dimension values,
source shard). Each shard (Kafka partition) owns its rows, so writers never contend and the API
sums shards at read time; ratios are computed on read (``kpi.measures``).

Versioned tables (rules, states, silences, targets, subscriptions, dead letters) are
``ReplacingMergeTree(version)`` read with ``FINAL``; a row changes by a new version
(:func:`next_version`), a soft delete is one with ``deleted = 1``.
"""
from __future__ import annotations

import hashlib
import threading
import time
from enum import Enum

from core.dimensions import DIMENSIONS
from kpi.counts import FIELDS as COUNTER_FIELDS
from schemas.records import EventType


class Table(str, Enum):
    # the event ledger and the KPI counters (migrations 0001, 0007, 0008, 0009, 0013, 0014, 0015, 0018, 0019)
    touchpoints = "touchpoints"
    survey_responses = "survey_responses"
    survey_invitations = "survey_invitations"
    kpi_windows = "kpi_windows"
    # social and review signals, cx.signal.v1 (0018)
    signals = "signals"
    # the rated aspects' counters per window cell (0015)
    aspect_windows = "aspect_windows"
    # webhooks (0002, 0006)
    webhook_subscriptions = "webhook_subscriptions"
    webhook_deliveries = "webhook_deliveries"
    webhook_dead_letters = "webhook_dead_letters"
    # gap detection (0003)
    kpi_targets = "kpi_targets"
    # alerts (0004)
    alert_rules = "alert_rules"
    alert_states = "alert_states"
    alert_history = "alert_history"
    silences = "silences"
    # the closed loop (0005)
    cases = "cases"
    case_events = "case_events"
    case_links = "case_links"
    # who did what, per tenant (0010)
    audit_log = "audit_log"
    # API keys as data (0011): hashed keys, and their last use
    api_keys = "api_keys"
    api_key_usage = "api_key_usage"
    # one customer's data erased, per part, and the identities of the events erased (0012)
    erasures = "erasures"
    erased_events = "erased_events"
    # customers who asked not to be surveyed (0017)
    panel_opt_outs = "panel_opt_outs"
    # business outcomes (0016): the outcome ledger (cx.outcome.v1) and program costs per period
    outcomes = "outcomes"
    program_costs = "program_costs"
    # which migrations ran (warehouse.migrate)
    schema_migrations = "schema_migrations"


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


# -- what writers insert ---------------------------------------------------------------
LEDGER_TABLES = (Table.touchpoints, Table.survey_responses, Table.survey_invitations, Table.signals)
#: The ledger table of each event type (``EventType`` values, as records carry them), and back.
TABLE_OF_TYPE = {
    EventType.touchpoint.value: Table.touchpoints,
    EventType.survey_response.value: Table.survey_responses,
    EventType.survey_invitation.value: Table.survey_invitations,
    EventType.signal.value: Table.signals,
}
TYPE_OF_TABLE = {t: k for k, t in TABLE_OF_TYPE.items()}

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
        ("duration_s", "Nullable(Float64)"), ("flags", "UInt8"),  # 0017: panel health (``kpi.panel``)
        ("aspects", "Map(LowCardinality(String), UInt8)"),
    ),
    Table.survey_invitations: (
        ("survey_id", "String"), ("via", "LowCardinality(String)"), ("attributed", "Bool"),
    ),
    # Dimensions are the signal's own, as a touchpoint's: no overrides, always attributed.
    Table.signals: (
        ("kind", "LowCardinality(String)"), ("rating", "Nullable(UInt8)"), ("sentiment", "LowCardinality(String)"),
        ("score", "Nullable(Float64)"), ("platform", "LowCardinality(String)"), ("brand", "LowCardinality(String)"),
        ("text", "String"),
    ),
}

LEDGER_BASE_COLUMNS = (
    "tenant", "event_key", "source", "event_id", "time_ms", "subject", "interaction_id", "customer",
    *DIMENSIONS, "extra_dims",
)
LEDGER_META_COLUMNS = ("attributes", "kafka_partition", "kafka_offset", "version")


def ledger_insert_columns(table: Table) -> tuple[str, ...]:
    return (*LEDGER_BASE_COLUMNS, *(c for c, _ in LEDGER_COLUMNS[table]), *LEDGER_META_COLUMNS)


#: The outcome ledger's columns in insert order (``warehouse.writer`` encodes, migration 0016). Keyed
#: like the other ledgers, so a replayed insert is the same row (read deduplicated: ``outcome_queries``).
OUTCOME_INSERT_COLUMNS = (
    "tenant", "event_key", "source", "event_id", "time_ms", "subject", "customer", "account",
    *DIMENSIONS, "extra_dims", "kind", "amount", "currency", "product", "attributes",
    "kafka_partition", "kafka_offset", "version",
)

# extra_dims / extra_key: the custom dimensions (``core.dimensions``, migration 0013), a map and its
# canonical text, which is part of the sort key (a Map cannot be).
WINDOW_KEY_COLUMNS = ("tenant", "size", "view", "window_start", *DIMENSIONS, "extra_key", "extra_dims", "shard")
WINDOW_INSERT_COLUMNS = (*WINDOW_KEY_COLUMNS, *COUNTER_FIELDS, "version")
#: ``aspect_windows`` (0015): a ``kpi_windows`` cell's key plus the aspect, and its four counters.
ASPECT_COUNTERS = ("n", "sum", "sumsq", "top2")
ASPECT_WINDOW_INSERT_COLUMNS = (*WINDOW_KEY_COLUMNS, "aspect", *ASPECT_COUNTERS, "version")


# -- the schema of today ---------------------------------------------------------------
# Several columns a line, unlike the migrations' one a line: this is the summary to read, the
# migrations are the history to replay.
_TIME = "DateTime64(3, 'UTC')"
_TENANT = "tenant LowCardinality(String)"
_DIMS = ", ".join(f"{d} LowCardinality(String)" for d in DIMENSIONS)
_LOW = "LowCardinality(String)"
_EXTRA = "extra_dims Map(LowCardinality(String), String)"


def _ledger_columns(table: Table) -> str:
    specific = ", ".join(f"{c} {t}" for c, t in LEDGER_COLUMNS[table])
    # by_time: the keys of one shard and time range (a late event's closed window, a restore) are a
    # range read of this narrow projection plus a primary-key lookup, not a scan of the month sorted
    # by event key (migration 0007). by_interaction: below.
    return (f"{_TENANT}, event_key UInt64, source String, event_id String, time_ms Int64, "
            f"time {_TIME} MATERIALIZED fromUnixTimestamp64Milli(time_ms), subject String, interaction_id String, "
            f"customer String, {_DIMS}, {_EXTRA}, {specific}, attributes String, kafka_partition UInt16, kafka_offset UInt64, "
            f"version UInt64, ingested_at {_TIME} DEFAULT now64(3), "
            "INDEX idx_time time_ms TYPE minmax GRANULARITY 4, "
            "INDEX idx_interaction interaction_id TYPE bloom_filter GRANULARITY 4, "
            "PROJECTION by_time (SELECT tenant, kafka_partition, time_ms, event_key "
            "ORDER BY tenant, kafka_partition, time_ms)"
            + (f", PROJECTION by_interaction ({_BY_INTERACTION[table]})" if table in _BY_INTERACTION else "")
            + f", PROJECTION by_key {_BY_KEY}")


# by_interaction: the invitation join's reads by (tenant, interaction_id), each answered from the
# projection alone, so they do not scan the tenant's ledger every batch (migration 0009). Signals
# have no interaction: no such projection.
_BY_INTERACTION = {
    Table.survey_responses: "SELECT tenant, interaction_id ORDER BY tenant, interaction_id",
    Table.touchpoints: f"SELECT tenant, interaction_id, time_ms, {', '.join(DIMENSIONS)} ORDER BY tenant, interaction_id",
    Table.survey_invitations: "SELECT * ORDER BY tenant, interaction_id",
}


# by_key: the lookups by event key alone (the worker's dedup, ``queries.stored_events``), since the
# table's own order puts the event's day first (migration 0019).
_BY_KEY = "(SELECT tenant, event_key, source, event_id ORDER BY tenant, event_key)"

# The day of event time after tenant: a time range is a contiguous read of its days (a crossing
# answered from the ledger, ``ledger_counts``), FINAL included. Every version of a row has its
# event's time, so its versions share the sort key and replace each other (migration 0019).
_LEDGER_ENGINE = ("ReplacingMergeTree(version) PARTITION BY toYYYYMM(time) "
                  "ORDER BY (tenant, intDiv(time_ms, 86400000), event_key, source, event_id) "
                  # `rebuild` keeps the projection right through ReplacingMergeTree merges.
                  "SETTINGS deduplicate_merge_projection_mode = 'rebuild'")

#: Table -> (columns, engine clause), today.
_SCHEMA: dict[Table, tuple[str, str]] = {
    **{t: (_ledger_columns(t), _LEDGER_ENGINE) for t in LEDGER_TABLES},
    Table.kpi_windows: (
        # Answers are integers, so every counter (sums of squares too) is an exact integer.
        f"{_TENANT}, size {_LOW}, view {_LOW}, window_start DateTime('UTC'), {_DIMS}, extra_key String, {_EXTRA}, "
        "shard UInt16, "
        f"{', '.join(f'{f} Int64' for f in COUNTER_FIELDS)}, version UInt64, updated_at {_TIME} DEFAULT now64(3)",
        "ReplacingMergeTree(version) PARTITION BY (size, toYYYYMM(window_start)) "
        f"PRIMARY KEY (tenant, size, view, window_start, {', '.join(DIMENSIONS)}, shard) "
        f"ORDER BY (tenant, size, view, window_start, {', '.join(DIMENSIONS)}, shard, extra_key)"),
    Table.aspect_windows: (  # kpi_windows' key plus the aspect; integer scores, so exact Int64 sums
        f"{_TENANT}, size {_LOW}, view {_LOW}, window_start DateTime('UTC'), {_DIMS}, extra_key String, {_EXTRA}, "
        f"shard UInt16, aspect {_LOW}, n Int64, sum Int64, sumsq Int64, top2 Int64, version UInt64, "
        f"updated_at {_TIME} DEFAULT now64(3)",
        "ReplacingMergeTree(version) PARTITION BY (size, toYYYYMM(window_start)) "
        f"ORDER BY (tenant, size, view, window_start, {', '.join(DIMENSIONS)}, shard, extra_key, aspect)"),
    Table.webhook_subscriptions: (
        f"{_TENANT}, id String, url String, event_types Array(String), filters Map(String, String), secret String, "
        f"description String, enabled Bool, disabled_reason String, created_at {_TIME}, updated_at {_TIME}, "
        "version UInt64, deleted UInt8, format LowCardinality(String) DEFAULT 'cloudevents'",
        "ReplacingMergeTree(version) ORDER BY (tenant, id)"),
    Table.webhook_deliveries: (  # the append-only attempt log, one row per HTTP attempt
        f"{_TENANT}, subscription_id String, delivery_id String, event_id String, event_type {_LOW}, "
        f"attempt UInt16, status {_LOW}, http_status Nullable(UInt16), error String, attempted_at {_TIME}, "
        f"duration_ms UInt32, next_attempt_at Nullable({_TIME})",
        "MergeTree PARTITION BY toYYYYMM(attempted_at) ORDER BY (tenant, subscription_id, attempted_at, delivery_id, "
        "attempt)"),
    Table.webhook_dead_letters: (  # state: dead -> replay_requested -> delivered (or dead again)
        f"{_TENANT}, delivery_id String, subscription_id String, event_id String, event_type {_LOW}, body String, "
        f"attempts UInt16, http_status Nullable(UInt16), error String, dead_at {_TIME}, state {_LOW}, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, delivery_id)"),
    Table.kpi_targets: (
        f"{_TENANT}, metric {_LOW}, scope_key String, {_DIMS}, value Float64, valid_from_ms Int64, "
        f"valid_to_ms Nullable(Int64), version UInt64, updated_at {_TIME} DEFAULT now64(3)",
        "ReplacingMergeTree(version) ORDER BY (tenant, metric, scope_key, valid_from_ms)"),
    Table.alert_rules: (
        f"{_TENANT}, rule_id String, spec String, deleted UInt8, version UInt64, updated_at_ms Int64",
        "ReplacingMergeTree(version) ORDER BY (tenant, rule_id)"),
    Table.alert_states: (
        f"{_TENANT}, fingerprint String, rule_id String, status {_LOW}, state String, alert String, version UInt64, "
        "updated_at_ms Int64",
        "ReplacingMergeTree(version) ORDER BY (tenant, fingerprint)"),
    Table.alert_history: (  # append-only; keyed so re-inserting the same transition is harmless
        f"{_TENANT}, fingerprint String, at_ms Int64, status {_LOW}, prev_status {_LOW}, rule_id String, "
        f"rule_name String, metric {_LOW}, window {_LOW}, value Nullable(Float64), n UInt64, ci_low Nullable(Float64), "
        f"ci_high Nullable(Float64), threshold Float64, severity {_LOW}, scope String, labels String, "
        "starts_at_ms Nullable(Int64), ends_at_ms Nullable(Int64), silenced UInt8",
        "ReplacingMergeTree PARTITION BY toYYYYMM(fromUnixTimestamp64Milli(at_ms)) "
        "ORDER BY (tenant, fingerprint, at_ms, status)"),
    Table.silences: (
        f"{_TENANT}, silence_id String, rule_id Nullable(String), matchers String, starts_at_ms Int64, "
        "ends_at_ms Int64, comment String, created_by String, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, silence_id)"),
    Table.cases: (  # the facts a case is opened with, immutable
        f"{_TENANT}, case_id String, response_key String, response_id String, response_source String, "
        f"customer String, scope String, scope_key String, owner String, severity {_LOW}, reasons Array(String), "
        "opened_at_ms Int64, due_at_ms Int64, responded_at_ms Int64, interaction_id String, survey_id String, "
        "nps Nullable(Int16), csat Nullable(Int16), ces Nullable(Int16), fcr Nullable(UInt8), "
        "comment Nullable(String), version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, case_id)"),
    Table.case_events: (  # append-only transitions; the state is folded on read
        f"{_TENANT}, case_id String, kind {_LOW}, at_ms Int64, actor String, note String",
        "ReplacingMergeTree ORDER BY (tenant, case_id, kind, at_ms)"),
    Table.case_links: (  # every response that opened or was suppressed into a case: the case-opener's ledger
        f"{_TENANT}, response_key String, case_id String, customer String, kind {_LOW}, at_ms Int64, "
        "responded_at_ms Int64",
        "ReplacingMergeTree ORDER BY (tenant, response_key)"),
    Table.audit_log: (  # append-only, one row per admin action
        f"{_TENANT}, at_ms Int64, entry_id String, actor String, action {_LOW}, target String, details String",
        "ReplacingMergeTree PARTITION BY toYYYYMM(fromUnixTimestamp64Milli(at_ms)) ORDER BY (tenant, at_ms, entry_id)"),
    Table.api_keys: (  # the SHA-256 of each key, never the key (core.api_keys)
        f"{_TENANT}, key_id String, hash String, name String, scopes Array({_LOW}), rate_per_s Nullable(Float64), "
        "burst Nullable(UInt32), created_at_ms Int64, created_by String, expires_at_ms Nullable(Int64), "
        "revoked_at_ms Nullable(Int64), rotated_to String, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, key_id)"),
    Table.api_key_usage: (  # the latest use wins: versioned by the time itself
        f"{_TENANT}, key_id String, last_used_at_ms Int64",
        "ReplacingMergeTree(last_used_at_ms) ORDER BY (tenant, key_id)"),
    Table.erasures: (  # part -1: the cases the API erased; part p >= 0: shard p's worker. Counts, never a customer.
        f"{_TENANT}, erasure_id String, part Int32, shards UInt16, state {_LOW}, counts String, requested_at_ms Int64, "
        "actor String, at_ms Int64, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, erasure_id, part)"),
    Table.erased_events: (  # identities only: a replayed delivery of an erased event is skipped by the dedup
        f"{_TENANT}, event_key UInt64, source String, event_id String, erasure_id String, at_ms Int64",
        "ReplacingMergeTree ORDER BY (tenant, event_key, source, event_id)"),
    Table.panel_opt_outs: (  # a pseudonym, never the raw id; the latest row per customer says opted out or not
        f"{_TENANT}, customer String, opted_out Bool, at_ms Int64, actor String, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, customer)"),
    Table.outcomes: (  # cx.outcome.v1, one row per event (tenant, source, id)
        f"{_TENANT}, event_key UInt64, source String, event_id String, time_ms Int64, "
        f"time {_TIME} MATERIALIZED fromUnixTimestamp64Milli(time_ms), subject String, customer String, "
        f"account String, {_DIMS}, {_EXTRA}, kind {_LOW}, amount Decimal(18, 4), currency {_LOW}, "
        "product String, attributes String, kafka_partition UInt16, kafka_offset UInt64, version UInt64, "
        f"ingested_at {_TIME} DEFAULT now64(3)",
        "ReplacingMergeTree(version) PARTITION BY toYYYYMM(time) ORDER BY (tenant, event_key, source, event_id)"),
    Table.program_costs: (  # the experience program's cost per tenant and calendar month
        f"{_TENANT}, period String, amount Decimal(18, 4), currency {_LOW}, note String, actor String, "
        "updated_at_ms Int64, version UInt64",
        "ReplacingMergeTree(version) ORDER BY (tenant, period)"),
}


def create_migrations_ledger() -> str:
    """The ``schema_migrations`` ledger, which ``warehouse.migrate`` creates before any migration.

    Frozen like a migration: a database that has it must never see it differ."""
    return """CREATE TABLE IF NOT EXISTS schema_migrations (
    id UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY id"""


def create_table(table: Table) -> str:
    """``table`` as a fresh database has it after every migration (read the module docstring)."""
    if table is Table.schema_migrations:
        return create_migrations_ledger()
    columns, engine = _SCHEMA[table]
    return f"CREATE TABLE IF NOT EXISTS {table.value} ({columns}) ENGINE = {engine}"
