"""0002: Webhook subscriptions, deliveries and their log (frozen: the literal DDL it has always run).

* ``webhook_subscriptions``: one row per (tenant, id) version; ``ReplacingMergeTree(version)``,
  read with ``FINAL``; a soft delete is a new version with ``deleted = 1``. The signing
  secret is stored (the delivery agent signs with it) and never returned after creation.
* ``webhook_deliveries``: the append-only attempt log (one row per HTTP attempt).
* ``webhook_dead_letters``: one row per (tenant, delivery id), ``ReplacingMergeTree(version)``;
  ``state`` goes dead -> replay_requested -> delivered (or dead again). Keeps the body to replay.
"""
ID = 2
NAME = "webhooks"

_T = "DateTime64(3, 'UTC')"

operations: list[str] = [
    f"""CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    tenant LowCardinality(String),
    id String,
    url String,
    event_types Array(String),
    filters Map(String, String),
    secret String,
    description String,
    enabled Bool,
    disabled_reason String,
    created_at {_T},
    updated_at {_T},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, id)""",
    f"""CREATE TABLE IF NOT EXISTS webhook_deliveries (
    tenant LowCardinality(String),
    subscription_id String,
    delivery_id String,
    event_id String,
    event_type LowCardinality(String),
    attempt UInt16,
    status LowCardinality(String),
    http_status Nullable(UInt16),
    error String,
    attempted_at {_T},
    duration_ms UInt32,
    next_attempt_at Nullable({_T})
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (tenant, subscription_id, attempted_at, delivery_id, attempt)""",
    f"""CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    tenant LowCardinality(String),
    delivery_id String,
    subscription_id String,
    event_id String,
    event_type LowCardinality(String),
    body String,
    attempts UInt16,
    http_status Nullable(UInt16),
    error String,
    dead_at {_T},
    state LowCardinality(String),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, delivery_id)""",
]
