"""Errors of one delivery attempt (all ``CxPulseError``s).

    DeliveryError              the attempt failed; ``http_status`` when the receiver answered
    ├── RetryableDelivery      timeout, connection error, 5xx, 408, 429; ``retry_after`` (s) if the receiver said
    └── PermanentDelivery      any other non-2xx answer: no retry, dead-lettered
        └── EndpointGone       410: the subscription is disabled
"""
from __future__ import annotations

from warehouse.errors import CxPulseError


class DeliveryError(CxPulseError):
    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class RetryableDelivery(DeliveryError):
    def __init__(self, message: str, http_status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, http_status)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    pass


class EndpointGone(PermanentDelivery):
    pass
