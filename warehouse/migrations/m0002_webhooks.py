"""0002: Webhook subscriptions, deliveries and their log."""
ID = 2
NAME = "webhooks"
operations: list[str] = []
