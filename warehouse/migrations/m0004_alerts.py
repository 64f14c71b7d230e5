"""0004: Alert rules, states, history and silences.

Frozen: the literal DDL this migration has always run. Rules, states and silences are versioned
rows (``ReplacingMergeTree(version)``, read ``FINAL``); history is append-only, keyed so that
re-inserting the same transition is harmless.
"""
ID = 4
NAME = "alerts"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS alert_rules (
    tenant LowCardinality(String),
    rule_id String,
    spec String,
    deleted UInt8,
    version UInt64,
    updated_at_ms Int64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, rule_id)""",
    """CREATE TABLE IF NOT EXISTS alert_states (
    tenant LowCardinality(String),
    fingerprint String,
    rule_id String,
    status LowCardinality(String),
    state String,
    alert String,
    version UInt64,
    updated_at_ms Int64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, fingerprint)""",
    """CREATE TABLE IF NOT EXISTS alert_history (
    tenant LowCardinality(String),
    fingerprint String,
    at_ms Int64,
    status LowCardinality(String),
    prev_status LowCardinality(String),
    rule_id String,
    rule_name String,
    metric LowCardinality(String),
    window LowCardinality(String),
    value Nullable(Float64),
    n UInt64,
    ci_low Nullable(Float64),
    ci_high Nullable(Float64),
    threshold Float64,
    severity LowCardinality(String),
    scope String,
    labels String,
    starts_at_ms Nullable(Int64),
    ends_at_ms Nullable(Int64),
    silenced UInt8
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Milli(at_ms))
ORDER BY (tenant, fingerprint, at_ms, status)""",
    """CREATE TABLE IF NOT EXISTS silences (
    tenant LowCardinality(String),
    silence_id String,
    rule_id Nullable(String),
    matchers String,
    starts_at_ms Int64,
    ends_at_ms Int64,
    comment String,
    created_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, silence_id)""",
]
