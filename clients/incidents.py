"""Incidents: a known ground truth for gap detection, injected into the simulated traffic.

Incidents act on touchpoints *started* inside ``[start, end)`` whose
dimensions match ``scope``; their survey answers are shifted even when the
response arrives after ``end`` (the experience happened during the incident).
Web intercept responses are shifted when they are answered inside the
interval and their overrides match the scope. The evaluation
(``make evaluate``) checks whether the pipeline finds them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clients.times import utc
from core.dimensions import DIMENSIONS

__all__ = ["Incident"]


@dataclass(frozen=True)
class Incident:
    """Shift answers (and volume) of touchpoints in ``scope`` during ``[start, end)``.

    ``scope`` maps dimension names (``core.dimensions.DIMENSIONS``) to a
    value; an empty scope means every touchpoint. ``nps_shift`` is in NPS
    points (0-10 scale), ``csat_shift`` in CSAT points (1-5), ``ces_shift`` in
    CES points (1-7, higher = easier, so a bad incident is negative).
    ``volume_factor`` multiplies the contact rate inside the scope.

    ``affects`` says which clock the incident runs on. ``"contacts"`` (the
    default): answers about contacts *started* inside the interval are
    shifted, so most of the signal arrives with the survey delay (minutes to
    hours). ``"answers"``: answers *given* inside the interval are shifted,
    whenever their contact was — a broken flow that customers report as they
    leave it. Detection latency can only be judged fairly on the second.
    """

    start: datetime
    end: datetime
    scope: Mapping[str, str] = field(default_factory=dict)
    nps_shift: float = 0.0
    csat_shift: float = 0.0
    volume_factor: float = 1.0
    ces_shift: float = 0.0
    affects: str = "contacts"

    def __post_init__(self) -> None:
        if self.affects not in ("contacts", "answers"):
            raise ValueError(f"incident affects 'contacts' or 'answers', not {self.affects!r}")
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        object.__setattr__(self, "scope", dict(self.scope))
        if self.end <= self.start:
            raise ValueError("incident end must be after start")
        unknown = [k for k in self.scope if k not in DIMENSIONS]
        if unknown:
            raise ValueError(f"incident scope uses unknown dimension(s) {unknown}")
        if self.volume_factor < 0:
            raise ValueError("volume_factor must be >= 0")

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def matches(self, dims: Mapping[str, Any]) -> bool:
        return all(dims.get(k) == v for k, v in self.scope.items())
