"""0005: Closed-loop cases, their transitions and the responses linked to them.

Frozen: the literal DDL this migration has always run. ``cases`` holds the facts a case is opened
with, ``case_events`` the append-only transitions, ``case_links`` every response that opened or was
suppressed into a case (the ``case-opener`` agent's idempotency ledger).
"""
ID = 5
NAME = "cases"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS cases (
    tenant LowCardinality(String),
    case_id String,
    response_key String,
    response_id String,
    response_source String,
    customer String,
    scope String,
    scope_key String,
    owner String,
    severity LowCardinality(String),
    reasons Array(String),
    opened_at_ms Int64,
    due_at_ms Int64,
    responded_at_ms Int64,
    interaction_id String,
    survey_id String,
    nps Nullable(Int16),
    csat Nullable(Int16),
    ces Nullable(Int16),
    fcr Nullable(UInt8),
    comment Nullable(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, case_id)""",
    """CREATE TABLE IF NOT EXISTS case_events (
    tenant LowCardinality(String),
    case_id String,
    kind LowCardinality(String),
    at_ms Int64,
    actor String,
    note String
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, case_id, kind, at_ms)""",
    """CREATE TABLE IF NOT EXISTS case_links (
    tenant LowCardinality(String),
    response_key String,
    case_id String,
    customer String,
    kind LowCardinality(String),
    at_ms Int64,
    responded_at_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, response_key)""",
]
