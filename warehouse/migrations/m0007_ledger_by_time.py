"""0007: Ledger tables get a narrow projection of their keys sorted by (tenant, kafka_partition, time_ms).

The events of one shard and time range (a late event's closed window, a restore) are then a range
read of this narrow projection plus a primary-key lookup, not a scan of the month sorted by event
key. Narrow, so inserts stay cheap; ``rebuild`` keeps it right through ReplacingMergeTree merges.
Frozen: the literal DDL this migration has always run, the same three statements per ledger table
(the tables as they were named then).
"""
ID = 7
NAME = "ledger_by_time"
operations: list[str] = [
    stmt
    for table in ("touchpoints", "survey_responses", "survey_invitations")
    for stmt in (
        f"ALTER TABLE {table} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'",
        f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS by_time "
        "(SELECT tenant, kafka_partition, time_ms, event_key ORDER BY tenant, kafka_partition, time_ms)",
        f"ALTER TABLE {table} MATERIALIZE PROJECTION by_time",
    )
]
