"""0015: rated aspects (``core.aspects``): the scores in the ledger and their window counters.

``survey_responses.aspects`` keeps each answer's scores (``{name: score}``, scales within 0..100,
so ``UInt8``), so restores, window loads and the ledger path rebuild the aspects' counters as the
other counters. ``aspect_windows`` holds them per ``kpi_windows`` cell and aspect: (n, sum, sum of
squares, top-2 count), Int64 and additive; the worker writes them in the same commit as
``kpi_windows``, before the ledger. Literal DDL, frozen here; ``IF NOT EXISTS`` so a statement run
again by hand is harmless. Rows written before read an empty map: they rated no aspect.
"""
ID = 15
NAME = "aspects"
operations: list[str] = [
    "ALTER TABLE survey_responses ADD COLUMN IF NOT EXISTS aspects Map(LowCardinality(String), UInt8) "
    "AFTER attributed",
    "CREATE TABLE IF NOT EXISTS aspect_windows ("
    "tenant LowCardinality(String), size LowCardinality(String), view LowCardinality(String), "
    "window_start DateTime('UTC'), channel LowCardinality(String), journey_step LowCardinality(String), "
    "segment LowCardinality(String), queue LowCardinality(String), team LowCardinality(String), "
    "agent_id LowCardinality(String), site LowCardinality(String), region LowCardinality(String), "
    "extra_key String, extra_dims Map(LowCardinality(String), String), shard UInt16, "
    "aspect LowCardinality(String), n Int64, sum Int64, sumsq Int64, top2 Int64, version UInt64, "
    "updated_at DateTime64(3, 'UTC') DEFAULT now64(3)"
    ") ENGINE = ReplacingMergeTree(version) PARTITION BY (size, toYYYYMM(window_start)) "
    "ORDER BY (tenant, size, view, window_start, channel, journey_step, segment, queue, team, agent_id, site, "
    "region, shard, extra_key, aspect)",
]
