"""0006: The body format of a webhook subscription (``cloudevents`` or ``alertmanager``)."""
from warehouse.webhook_queries import add_subscription_format

ID = 6
NAME = "webhook_format"
operations: list[str] = [add_subscription_format()]
