"""SLA of a case: due ``sla_s[severity]`` seconds after it opened; breached when not closed by then."""
from __future__ import annotations

from collections.abc import Mapping

DEFAULT_SLA_S: dict[str, int] = {"critical": 3_600, "high": 4 * 3_600, "medium": 24 * 3_600, "low": 72 * 3_600}


def due_at_ms(opened_at_ms: int, severity: str, sla_s: Mapping[str, int]) -> int:
    return opened_at_ms + int(sla_s.get(severity, DEFAULT_SLA_S[severity])) * 1000


def is_breached(due_at_ms: int, closed_at_ms: int | None, now_ms: int) -> bool:
    """Closed after its due time, or still not closed at ``now_ms`` past it."""
    return (closed_at_ms if closed_at_ms is not None else now_ms) > due_at_ms
