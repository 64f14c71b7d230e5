"""The allowlist of dimensions: the only names that may reach SQL as identifiers.

Eight built-in dimensions (:class:`Dimension`) have a column each in the ledger, the windows
and the targets. A deployment adds its own (account, market, product, ...) in configuration
(``custom_dimensions``): :func:`validate_custom` checks each name at start (an identifier, not a
built-in, not a name the API reads as another query parameter) and the process installs them
with :func:`configure`. They are stored in one ``extra_dims`` map column of the same tables
(migration 0013), so adding one needs no migration; :func:`dim_sql` is the SQL expression of a
dimension either way, a literal built only from an allowlisted name.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
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


#: The built-in dimensions, one column each.
DIMENSIONS: tuple[str, ...] = tuple(d.value for d in Dimension)

#: Dimensions one read may group by: a crossing no stored view holds is answered from the ledger
#: (``warehouse.ledger_counts``), and its groups multiply with every dimension added.
MAX_GROUP_BY = 4

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: Names a custom dimension may not take: query parameters of the reads (a filter is a query
#: parameter named like its dimension) and ledger / window columns.
RESERVED = frozenset({
    "metric", "window", "from", "to", "group_by", "confidence", "cursor", "limit", "format", "at", "kind",
    "dimension", "significant_only", "gaps", "gaps_window", "interval", "access_token", "current", "state",
    "tenant", "event_key", "source", "event_id", "time_ms", "time", "subject", "interaction_id", "customer",
    "attributes", "extra_dims", "extra_key", "size", "view", "shard", "version", "window_start", "value",
    "id", "type", "data", "specversion", "datacontenttype", "customer_id", "survey_id", "answers", "comment",
    "weight", "via", "wait_s", "handle_s", "resolved", "first_contact", "transferred", "abandoned", "converted",
    "nps", "csat", "ces", "fcr", "overrides", "attributed", "kafka_partition", "kafka_offset", "ingested_at",
    "updated_at", "event_key",
})
MAX_CUSTOM = 32

_custom: tuple[str, ...] = ()


def validate_custom(names: Sequence[str]) -> tuple[str, ...]:
    """Custom dimension names as given, or ``ValueError`` naming the first bad one."""
    if len(names) > MAX_CUSTOM:
        raise ValueError(f"at most {MAX_CUSTOM} custom dimensions")
    for name in names:
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"custom dimension {name!r} must match {_IDENTIFIER.pattern}")
        if name in DIMENSIONS:
            raise ValueError(f"custom dimension {name!r} is a built-in dimension")
        if name in RESERVED:
            raise ValueError(f"custom dimension {name!r} is a reserved name")
    if len(set(names)) != len(names):
        raise ValueError(f"repeated custom dimension in {list(names)}")
    return tuple(names)


def configure(custom: Sequence[str]) -> None:
    """Install this process's custom dimensions (from settings, at start; tests set and reset them)."""
    global _custom
    _custom = validate_custom(custom)


def custom_dimensions() -> tuple[str, ...]:
    return _custom


def all_dimensions() -> tuple[str, ...]:
    """Built-in then custom dimensions: the allowlist and its canonical order."""
    return DIMENSIONS + _custom


def dim_sql(name: str) -> str:
    """The SQL expression of an allowlisted dimension: its column, or its key of ``extra_dims``."""
    if name in DIMENSIONS:
        return name
    if name in _custom:  # an identifier (validate_custom): safe as a literal
        return f"extra_dims['{name}']"
    raise ValueError(f"unknown dimension {name!r}")


def validate_view(view: list[str] | tuple[str, ...], allowed: Sequence[str] | None = None) -> tuple[str, ...]:
    """Return the view as a canonical tuple (allowlist order); reject unknown or repeated names.

    ``allowed`` defaults to :func:`all_dimensions`."""
    allowed = all_dimensions() if allowed is None else tuple(allowed)
    unknown = [d for d in view if d not in allowed]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; allowed: {list(allowed)}")
    if len(set(view)) != len(view):
        raise ValueError(f"repeated dimension in view {list(view)}")
    return tuple(d for d in allowed if d in view)


def view_name(view: tuple[str, ...]) -> str:
    """Stable name of a view, e.g. 'overall', 'channel', 'channel*segment'."""
    return "*".join(view) if view else "overall"
