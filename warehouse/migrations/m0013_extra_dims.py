"""0013: ``extra_dims``, the custom dimensions of a deployment (``custom_dimensions``).

One ``Map(LowCardinality(String), String)`` column in each ledger table and in ``kpi_windows``
holds every custom dimension (name -> value) an event or a window cell counts under, so adding
a dimension needs no migration. ``kpi_windows`` also gets ``extra_key``, the canonical text of
its map, appended to the sort key in the same statement (ClickHouse allows adding to ORDER BY
only a column added with it; a Map is not comparable, so it cannot be a key itself): cells
that differ only in a custom dimension stay distinct rows of the ReplacingMergeTree. Rows
written before read empty maps: they carry no custom dimension. Literal DDL, frozen here;
``IF NOT EXISTS`` so a statement run again by hand is harmless.
"""
ID = 13
NAME = "extra_dims"
operations: list[str] = [
    "ALTER TABLE touchpoints ADD COLUMN IF NOT EXISTS extra_dims Map(LowCardinality(String), String) AFTER region",
    "ALTER TABLE survey_responses ADD COLUMN IF NOT EXISTS extra_dims Map(LowCardinality(String), String) AFTER region",
    "ALTER TABLE survey_invitations ADD COLUMN IF NOT EXISTS extra_dims Map(LowCardinality(String), String) "
    "AFTER region",
    "ALTER TABLE kpi_windows ADD COLUMN IF NOT EXISTS extra_key String AFTER region, "
    "ADD COLUMN IF NOT EXISTS extra_dims Map(LowCardinality(String), String) AFTER extra_key, "
    "MODIFY ORDER BY (tenant, size, view, window_start, channel, journey_step, segment, queue, team, agent_id, "
    "site, region, shard, extra_key)",
]
