"""0003: KPI targets per scope and period.

``kpi_targets`` is ``ReplacingMergeTree(version)`` keyed by (tenant, metric, scope_key, valid_from_ms):
putting the same target again replaces it. Frozen: the literal DDL this migration has always run
(one column per dimension of ``core.dimensions`` as it was then).
"""
ID = 3
NAME = "gaps"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS kpi_targets (
    tenant LowCardinality(String),
    metric LowCardinality(String),
    scope_key String,
    channel LowCardinality(String),
    journey_step LowCardinality(String),
    segment LowCardinality(String),
    queue LowCardinality(String),
    team LowCardinality(String),
    agent_id LowCardinality(String),
    site LowCardinality(String),
    region LowCardinality(String),
    value Float64,
    valid_from_ms Int64,
    valid_to_ms Nullable(Int64),
    version UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, metric, scope_key, valid_from_ms)""",
]
