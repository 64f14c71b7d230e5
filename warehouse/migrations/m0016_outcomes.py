"""0016: Business outcomes: the ledger of ``cx.outcome.v1`` events and the program's costs per month.

``outcomes`` is keyed like the other ledgers (tenant, event key, source, id): a replayed insert of an
event is the same row, and every read deduplicates it (``warehouse.outcome_queries``), so an outcome
counts once however often it was delivered. ``amount`` is exact (Decimal). ``program_costs`` holds one
row per (tenant, month), the latest version wins (``PUT /v1/costs``). Literal DDL, frozen here.
"""
ID = 16
NAME = "outcomes"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS outcomes (
    tenant LowCardinality(String),
    event_key UInt64,
    source String,
    event_id String,
    time_ms Int64,
    time DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(time_ms),
    subject String,
    customer String,
    account String,
    channel LowCardinality(String),
    journey_step LowCardinality(String),
    segment LowCardinality(String),
    queue LowCardinality(String),
    team LowCardinality(String),
    agent_id LowCardinality(String),
    site LowCardinality(String),
    region LowCardinality(String),
    extra_dims Map(LowCardinality(String), String),
    kind LowCardinality(String),
    amount Decimal(18, 4),
    currency LowCardinality(String),
    product String,
    attributes String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    version UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, event_key, source, event_id)""",
    """CREATE TABLE IF NOT EXISTS program_costs (
    tenant LowCardinality(String),
    period String,
    amount Decimal(18, 4),
    currency LowCardinality(String),
    note String,
    actor String,
    updated_at_ms Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, period)""",
]
