"""0009: Ledger tables get a projection sorted by (tenant, interaction_id): the invitation join's reads.

Every batch asks which of its interactions have a stored answer (``answered_interactions``) and
which stored invitations its first answers answer (``stored_invitations``); a cache miss asks the
dimensions of an interaction's touchpoint (``touchpoint_dims``). Without an order by interaction
each of those read the whole table of the tenant (the bloom filter index of 0001 skips nothing
when a batch holds hundreds of interaction ids): 100 ms per batch at 1 M invitations, growing
with the ledger, until the worker fell minutes behind. Each projection holds exactly the columns
its read needs, so ClickHouse answers from it alone: the answers' one is two columns, the
touchpoints' one adds the time and dimensions (``argMax`` per interaction), the invitations' one
is the whole row (they are small; the join turns them back into window records).
Frozen: the literal DDL this migration has always run (the tables and dimensions as they were then).
"""
ID = 9
NAME = "ledger_by_interaction"

_PROJECTIONS = {
    "survey_responses": "SELECT tenant, interaction_id ORDER BY tenant, interaction_id",
    "touchpoints": ("SELECT tenant, interaction_id, time_ms, channel, journey_step, segment, queue, team, agent_id, "
                    "site, region ORDER BY tenant, interaction_id"),
    "survey_invitations": "SELECT * ORDER BY tenant, interaction_id",
}
operations: list[str] = [
    stmt
    for table, projection in _PROJECTIONS.items()
    for stmt in (
        f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS by_interaction ({projection})",
        f"ALTER TABLE {table} MATERIALIZE PROJECTION by_interaction",
    )
]
