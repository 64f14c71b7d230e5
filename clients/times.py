"""Time helpers of the API clients: UTC datetimes and the CloudEvent ``time`` text."""
from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["format_time", "parse_time", "utc"]


def utc(dt: datetime) -> datetime:
    """``dt`` in UTC; a naive datetime is taken as UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def format_time(dt: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix."""
    dt = utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
