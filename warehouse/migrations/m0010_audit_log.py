"""0010: The audit log: one row per admin action (rules, targets, webhooks, keys, erasures).

Frozen: the literal DDL this migration has always run. Append-only; keyed by (tenant, at_ms,
entry_id) so re-inserting the same entry is harmless.
"""
ID = 10
NAME = "audit_log"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS audit_log (
    tenant LowCardinality(String),
    at_ms Int64,
    entry_id String,
    actor String,
    action LowCardinality(String),
    target String,
    details String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Milli(at_ms))
ORDER BY (tenant, at_ms, entry_id)""",
]
