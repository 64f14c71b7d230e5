"""0012: Erasures: one row per part of an erasure (each shard's worker, and the cases the API erased),
and the identities of erased events, so a replayed delivery of one is skipped instead of stored again.

Frozen: the literal DDL this migration has always run. No customer id is stored, only counts and
event identities; a part re-reported after a crash replaces its row (ReplacingMergeTree on
(tenant, erasure_id, part)), an event erased twice is one row.
"""
ID = 12
NAME = "erasures"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS erasures (
    tenant LowCardinality(String),
    erasure_id String,
    part Int32,
    shards UInt16,
    state LowCardinality(String),
    counts String,
    requested_at_ms Int64,
    actor String,
    at_ms Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, erasure_id, part)""",
    """CREATE TABLE IF NOT EXISTS erased_events (
    tenant LowCardinality(String),
    event_key UInt64,
    source String,
    event_id String,
    erasure_id String,
    at_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, event_key, source, event_id)""",
]
