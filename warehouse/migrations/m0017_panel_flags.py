"""0017: panel health on survey answers (``kpi.panel``).

``survey_responses.duration_s``: the seconds the respondent took (``data.duration_s``, optional);
``survey_responses.flags``: the answer's flag bits (1 repeat under the respondent rule, 2
straight-lining, 4 too fast, 8 contradictory). Rows written before read 0: not flagged, as they
were counted. ``panel_opt_outs``: customers (pseudonyms) who asked not to be surveyed
(``PUT|DELETE /v1/opt-outs/{customer_id}``), the latest row per customer wins.
Literal DDL, frozen here; ``IF NOT EXISTS`` so a statement run again by hand is harmless.
"""
ID = 17
NAME = "panel_flags"
operations: list[str] = [
    "ALTER TABLE survey_responses ADD COLUMN IF NOT EXISTS duration_s Nullable(Float64) AFTER attributed, "
    "ADD COLUMN IF NOT EXISTS flags UInt8 AFTER duration_s",
    """CREATE TABLE IF NOT EXISTS panel_opt_outs (
    tenant LowCardinality(String),
    customer String,
    opted_out Bool,
    at_ms Int64,
    actor String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, customer)""",
]
