"""0011: API keys as data: the keys (hashed, never the plaintext) and when each was last used.

Frozen: the literal DDL this migration has always run. ``api_keys`` is versioned
(``ReplacingMergeTree(version)``, read with ``FINAL``): a revocation or rotation is a new version of
the row. Last use lives in its own table, keyed like the keys and versioned by the time itself, so
the API's batched last-used writes can never overwrite a revocation written meanwhile (and the
latest use wins whichever process wrote it).
"""
ID = 11
NAME = "api_keys"
operations: list[str] = [
    """CREATE TABLE IF NOT EXISTS api_keys (
    tenant LowCardinality(String),
    key_id String,
    hash String,
    name String,
    scopes Array(LowCardinality(String)),
    rate_per_s Nullable(Float64),
    burst Nullable(UInt32),
    created_at_ms Int64,
    created_by String,
    expires_at_ms Nullable(Int64),
    revoked_at_ms Nullable(Int64),
    rotated_to String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, key_id)""",
    """CREATE TABLE IF NOT EXISTS api_key_usage (
    tenant LowCardinality(String),
    key_id String,
    last_used_at_ms Int64
) ENGINE = ReplacingMergeTree(last_used_at_ms)
ORDER BY (tenant, key_id)""",
]
