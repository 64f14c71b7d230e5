"""The one error tree of CX Pulse: every error raised on purpose is a ``CxPulseError``.

    CxPulseError
    ├── IngestError              a whole request body refused before any item is looked at
    │   ├── InvalidBody          not JSON of the shape its Content-Type declares (HTTP 400)
    │   └── UnsupportedMediaType a Content-Type CX Pulse does not read (HTTP 415)
    ├── IngestUnavailable        ingest cannot acknowledge now: stopping, broker down or slow (HTTP 503,
    │                            `Retry-After`); nothing of the request was acknowledged, resending is safe
    ├── IngestStorageFull        the ingest log cannot be written (disk full, `ingest_log.max_bytes`)
    │                            (HTTP 507); nothing of the request was acknowledged
    ├── QueryError               a read the API cannot answer as asked; ``loc`` names the parameter (HTTP 422)
    │   ├── NoViewCovers         no configured view holds every dimension the read groups or filters by
    │   └── TooManyBuckets       the range holds more than ``api.kpi_series.MAX_BUCKETS`` buckets
    ├── WarehouseError           ClickHouse/chDB failed (HTTP 503)
    │   └── WarehouseUnavailable transient; the caller waits ``retry_after`` and retries
    └── DeliveryError            one webhook delivery attempt failed; ``http_status`` when the receiver answered
        ├── RetryableDelivery    timeout, connection error, 5xx, 408, 429; ``retry_after`` (s) if the receiver said
        └── PermanentDelivery    any other non-2xx answer (3xx included): no retry, dead-lettered
            ├── EndpointGone     410: the subscription is disabled
            └── EgressRefused    the egress policy (``webhooks.egress``) refuses the URL or the address
                                 it resolves to: HTTP 422 at registration, a dead letter at delivery

Bad *items* of an accepted body are not errors: ingest reports them in the 202's ``rejected``
list and the raw-topic validator dead-letters them. ``api.main`` has the one handler that maps
the tree to HTTP answers. Packages re-export the errors they raise (``ingest``, ``webhooks``).
"""
from __future__ import annotations

__all__ = [
    "CxPulseError", "DeliveryError", "EgressRefused", "EndpointGone", "IngestError", "IngestStorageFull", "IngestUnavailable",
    "InvalidBody", "NoViewCovers", "PermanentDelivery", "QueryError", "RetryableDelivery", "TooManyBuckets",
    "UnsupportedMediaType", "WarehouseError", "WarehouseUnavailable",
]


class CxPulseError(Exception):
    """Base of every error CX Pulse raises on purpose."""


# -- ingest ---------------------------------------------------------------------------------
class IngestError(CxPulseError):
    """Base of the errors that refuse a whole request body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidBody(IngestError):
    """The body is not JSON of the shape its Content-Type declares (HTTP 400)."""


class UnsupportedMediaType(IngestError):
    """The Content-Type is not one CX Pulse reads (HTTP 415)."""


class IngestUnavailable(CxPulseError):
    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IngestStorageFull(CxPulseError):
    pass


# -- reads ----------------------------------------------------------------------------------
class QueryError(CxPulseError):
    """A read that cannot be answered as asked. ``loc`` is the FastAPI-style location of the input
    at fault: a bare name is a query parameter (``"group_by"``), a list is a full path
    (``["body", "scope"]``). The raiser may not know it; the caller that does uses :meth:`at`."""

    default_loc: str | list[str] = ["query"]

    def __init__(self, message: str, loc: str | list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = self.default_loc if loc is None else loc

    def at(self, loc: str | list[str]) -> QueryError:
        """The same error located at ``loc`` (the parameter or body field that asked too much)."""
        return type(self)(self.message, loc)

    @property
    def location(self) -> list[str]:
        return ["query", self.loc] if isinstance(self.loc, str) else list(self.loc)


class NoViewCovers(QueryError):
    """No configured view holds every dimension a read groups or filters by."""

    default_loc = "group_by"


class TooManyBuckets(QueryError):
    """The range holds more buckets of the window than one read returns."""

    default_loc = "from"


# -- warehouse ------------------------------------------------------------------------------
class WarehouseError(CxPulseError):
    pass


class WarehouseUnavailable(WarehouseError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- webhook delivery -----------------------------------------------------------------------
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


class EgressRefused(PermanentDelivery):
    """The URL's scheme, or an address its host resolves to, is refused by the webhook egress policy."""
