"""0001: the event ledger, KPI windows.

Frozen: the literal DDL this migration has always run, with the table and column names of the
time. The live schema (``warehouse.tables``) follows ``LEDGER_COLUMNS``, ``core.dimensions`` and
``kpi.counts.FIELDS``; a column added later arrives through its own migration (0008), never by
changing what 0001 creates. The three ledger tables share their head and tail, written once here.
"""
ID = 1
NAME = "initial"

_LEDGER_HEAD = """
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
    region LowCardinality(String),"""

_LEDGER_TAIL = """
    attributes String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    version UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_time time_ms TYPE minmax GRANULARITY 4,
    INDEX idx_interaction interaction_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, event_key, source, event_id)"""

_TOUCHPOINTS = f"""CREATE TABLE IF NOT EXISTS touchpoints ({_LEDGER_HEAD}
    wait_s Nullable(Float64),
    handle_s Nullable(Float64),
    resolved Nullable(Bool),
    first_contact Nullable(Bool),
    transferred Nullable(Bool),
    abandoned Nullable(Bool),
    converted Nullable(Bool),{_LEDGER_TAIL}"""

_SURVEY_RESPONSES = f"""CREATE TABLE IF NOT EXISTS survey_responses ({_LEDGER_HEAD}
    survey_id String,
    nps Nullable(UInt8),
    csat Nullable(UInt8),
    ces Nullable(UInt8),
    fcr Nullable(Bool),
    comment String,
    weight Nullable(Float64),
    overrides String,
    attributed Bool,{_LEDGER_TAIL}"""

_SURVEY_INVITATIONS = f"""CREATE TABLE IF NOT EXISTS survey_invitations ({_LEDGER_HEAD}
    survey_id String,
    via LowCardinality(String),
    attributed Bool,{_LEDGER_TAIL}"""

_KPI_WINDOWS = """CREATE TABLE IF NOT EXISTS kpi_windows (
    tenant LowCardinality(String),
    size LowCardinality(String),
    view LowCardinality(String),
    window_start DateTime('UTC'),
    channel LowCardinality(String),
    journey_step LowCardinality(String),
    segment LowCardinality(String),
    queue LowCardinality(String),
    team LowCardinality(String),
    agent_id LowCardinality(String),
    site LowCardinality(String),
    region LowCardinality(String),
    shard UInt16,
    touchpoints Int64,
    tp_first_contact Int64,
    tp_first_contact_resolved Int64,
    invitations Int64,
    responses Int64,
    nps_n Int64,
    promoters Int64,
    passives Int64,
    detractors Int64,
    csat_n Int64,
    csat_sum Int64,
    csat_top2 Int64,
    ces_n Int64,
    ces_sum Int64,
    ces_sumsq Int64,
    fcr_n Int64,
    fcr_yes Int64,
    invitations_answered Int64,
    version UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY (size, toYYYYMM(window_start))
ORDER BY (tenant, size, view, window_start, channel, journey_step, segment, queue, team, agent_id, site, region, shard)"""

operations: list[str] = [_TOUCHPOINTS, _SURVEY_RESPONSES, _SURVEY_INVITATIONS, _KPI_WINDOWS]
