"""The allowlist of dimensions: the only names that may reach SQL as identifiers."""
from __future__ import annotations

from enum import Enum


class Dimension(str, Enum):
    channel = "channel"
    journey_step = "journey_step"
    segment = "segment"
    queue = "queue"
    team = "team"
    agent_id = "agent_id"
    site = "site"
    region = "region"


DIMENSIONS: tuple[str, ...] = tuple(d.value for d in Dimension)

#: Dimensions one read may group by: a crossing no stored view holds is answered from the ledger
#: (``warehouse.ledger_counts``), and its groups multiply with every dimension added.
MAX_GROUP_BY = 4


def validate_view(view: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return the view as a canonical tuple (allowlist order); reject unknown or repeated names."""
    unknown = [d for d in view if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; allowed: {list(DIMENSIONS)}")
    if len(set(view)) != len(view):
        raise ValueError(f"repeated dimension in view {list(view)}")
    return tuple(d for d in DIMENSIONS if d in view)


def view_name(view: tuple[str, ...]) -> str:
    """Stable name of a view, e.g. 'overall', 'channel', 'channel*segment'."""
    return "*".join(view) if view else "overall"
