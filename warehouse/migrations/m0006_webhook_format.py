"""0006: The body format of a webhook subscription (``cloudevents`` or ``alertmanager``).

Rows written before it read as CloudEvents. Frozen: the literal DDL this migration has always run.
"""
ID = 6
NAME = "webhook_format"
operations: list[str] = [
    "ALTER TABLE webhook_subscriptions ADD COLUMN IF NOT EXISTS format LowCardinality(String) DEFAULT 'cloudevents'",
]
