"""0018: social and review signals (``cx.signal.v1``): their ledger table and their ``kpi_windows`` counters.

``signals`` is a ledger table like the others (``ReplacingMergeTree(version)`` keyed by the event's
identity: the dedup, restore and erasure reads of the stream processors), with the ``by_time``
projection of 0007 and the ``extra_dims`` map of 0013 from the start, and no ``by_interaction``
projection (a signal belongs to no interaction). ``kpi_windows`` gets the signal counters
(``kpi.counts``: volume, reviews and their ratings, signals stating an opinion and the negative and
positive ones, engagement); rows written before read 0 (the Int64 default), which is what they hold:
no signal was counted before this release. Literal DDL, frozen here; ``IF NOT EXISTS``: idempotent if a
statement is run again by hand.
"""
ID = 18
NAME = "signals"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS signals (
    tenant LowCardinality(String),
    event_key UInt64,
    source String,
    event_id String,
    time_ms Int64,
    time DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(time_ms),
    subject String,
    interaction_id String,
    customer String,
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
    rating Nullable(UInt8),
    sentiment LowCardinality(String),
    score Nullable(Float64),
    platform LowCardinality(String),
    brand LowCardinality(String),
    text String,
    attributes String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    version UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_time time_ms TYPE minmax GRANULARITY 4,
    INDEX idx_interaction interaction_id TYPE bloom_filter GRANULARITY 4,
    PROJECTION by_time (SELECT tenant, kafka_partition, time_ms, event_key ORDER BY tenant, kafka_partition, time_ms)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, event_key, source, event_id)
SETTINGS deduplicate_merge_projection_mode = 'rebuild'""",
    "ALTER TABLE kpi_windows "
    "ADD COLUMN IF NOT EXISTS sig_n Int64 AFTER answers_negative, "
    "ADD COLUMN IF NOT EXISTS sig_reviews Int64 AFTER sig_n, "
    "ADD COLUMN IF NOT EXISTS sig_rating_sum Int64 AFTER sig_reviews, "
    "ADD COLUMN IF NOT EXISTS sig_rating_sumsq Int64 AFTER sig_rating_sum, "
    "ADD COLUMN IF NOT EXISTS sig_polar_n Int64 AFTER sig_rating_sumsq, "
    "ADD COLUMN IF NOT EXISTS sig_negative Int64 AFTER sig_polar_n, "
    "ADD COLUMN IF NOT EXISTS sig_positive Int64 AFTER sig_negative, "
    "ADD COLUMN IF NOT EXISTS sig_engagement Int64 AFTER sig_positive",
]
