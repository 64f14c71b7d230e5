"""0001: the event ledger, KPI windows.

The ``kpi_windows`` statement is frozen as the literal DDL this migration has always run: the live
builder (``tables.create_kpi_windows``) follows ``kpi.counts.FIELDS``, and a counter added later must
arrive through its own migration (0008), not by changing what 0001 creates.
"""
from warehouse.tables import LEDGER_TABLES, create_ledger_table

ID = 1
NAME = "initial"

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

operations = [*(create_ledger_table(t) for t in LEDGER_TABLES), _KPI_WINDOWS]
