"""Signed webhook deliveries (Standard Webhooks) of CX Pulse notifications.

Public surface: ``Deliverer`` (delivery of a ``notifications.Notification``), ``sign`` /
``signature_headers`` / ``generate_secret`` (signing), ``WarehouseRecorder`` and
``SubscriptionCache`` (store), ``EgressPolicy`` / ``egress_client`` (where deliveries may go), ``alertmanager_payload`` (the Alertmanager body), and their errors (defined in ``core.errors``). The Faust agent
is ``stream_processors.webhook_agent``; the API is ``api.routers.webhooks``.
"""
from webhooks.alertmanager import alertmanager_payload
from webhooks.delivery import Deliverer, DeliveryResult, matching_subscriptions, parse_retry_after
from core.errors import DeliveryError, EgressRefused, EndpointGone, PermanentDelivery, RetryableDelivery
from webhooks.signing import delivery_id, generate_secret, sign, signature_headers
from webhooks.store import SubscriptionCache, WarehouseRecorder
from webhooks.metrics import MeteredRecorder
from webhooks.egress import EgressPolicy, egress_client

__all__ = [
    "alertmanager_payload", "Deliverer", "DeliveryResult", "matching_subscriptions", "parse_retry_after",
    "DeliveryError", "EgressRefused", "EndpointGone", "PermanentDelivery", "RetryableDelivery",
    "delivery_id", "generate_secret", "sign", "signature_headers",
    "SubscriptionCache", "WarehouseRecorder", "MeteredRecorder", "EgressPolicy", "egress_client",
]
