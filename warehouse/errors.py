"""Error tree of CX Pulse (re-exported by the packages that raise them).

    CxPulseError
    ├── InvalidEvent        bad input; carries the field path (HTTP 4xx, dead-letter topic)
    ├── WarehouseError      ClickHouse/chDB failed
    │   └── WarehouseUnavailable   transient; the caller waits `retry_after` and retries
    ├── QueryError          a KPI query the warehouse cannot answer (HTTP 422)
    ├── IngestUnavailable   ingest cannot acknowledge now: stopping, broker down or slow (HTTP 503,
    │                       `Retry-After`); nothing of the request was acknowledged, resending is safe
    └── IngestStorageFull   the ingest log cannot be written (disk full, `ingest_log.max_bytes`)
                            (HTTP 507); nothing of the request was acknowledged
"""
from __future__ import annotations


class CxPulseError(Exception):
    """Base of every error CX Pulse raises on purpose."""


class InvalidEvent(CxPulseError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class WarehouseError(CxPulseError):
    pass


class WarehouseUnavailable(WarehouseError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueryError(CxPulseError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class IngestUnavailable(CxPulseError):
    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IngestStorageFull(CxPulseError):
    pass
