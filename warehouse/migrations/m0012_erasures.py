"""0012: Erasures: one row per part of an erasure (each shard's worker, and the cases the API erased).

Frozen: the literal DDL this migration has always run. No customer id is stored, only counts;
a part re-reported after a crash replaces its row (ReplacingMergeTree on (tenant, erasure_id, part)).
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
]
