"""Rated aspects of the experience (friendliness 1-5, wait time 1-5, ...): the allowlist and scales.

A deployment declares its aspects in configuration (``aspects: {wait_time: {label: "Wait time",
min: 1, max: 5, top2_min: 4}}``). :func:`validate_specs` checks them at start (each name an
identifier, ``0 <= min < max <= 100``, ``min < top2_min <= max``) and the process installs them
with :func:`configure`, as ``core.dimensions`` does with custom dimensions. Answers carry their
scores in ``data.answers.aspects`` (``{name: integer score}``); ingest rejects an unknown name or
an out-of-scale score per item (``ingest.records.aspect_error``). Names reach SQL only as bound
values, never as identifiers.

An aspect is a metric: ``aspect:<name>`` (mean, Student t interval) and ``aspect_top2:<name>``
(share of scores >= ``top2_min``, in %, Wilson interval); counters (n, sum, sum of squares,
top-2 count) per window cell in ``aspect_windows`` (migration 0015).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MAX_ASPECTS", "MAX_SCORE", "UNCHECKED", "checks_aspects", "AspectSpec", "aspect_metric_name", "aspects", "configure", "spec",
           "top2_thresholds", "validate_specs"]

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_ASPECTS = 64
#: Scores are stored as ``UInt8`` (``survey_responses.aspects``); scales are within 0..MAX_SCORE.
MAX_SCORE = 100


@dataclass(frozen=True, slots=True)
class AspectSpec:
    """One configured aspect: its scale ``min..max`` (integers), label and top-2-box threshold."""

    name: str
    label: str
    min: int
    max: int
    #: the lowest score counted in the top-2 box (default ``max - 1``: 4 and 5 of 1..5)
    top2_min: int


#: Pydantic validation context under which a metric naming an aspect is not checked against this process's
#: configuration (``check_aspects``): stored alert rules and targets whose aspect left the configuration
#: still load, and ``cxpulse rules|targets`` (a client without the server's settings) leaves it to the API.
UNCHECKED = {"check_aspects": False}


def checks_aspects(context: object) -> bool:
    """Whether a validator under ``context`` (``ValidationInfo.context``) checks aspect names."""
    return not (isinstance(context, dict) and context.get("check_aspects") is False)


_specs: dict[str, AspectSpec] = {}
#: name -> top2_min of the configured aspects (read by ``kpi.counts.add_record`` on the hot path).
_top2: dict[str, int] = {}


def validate_specs(raw: Mapping[str, Mapping[str, object]]) -> dict[str, AspectSpec]:
    """``{name: {label, min, max, top2_min}}`` as :class:`AspectSpec`, or ``ValueError`` naming the first bad one."""
    if len(raw) > MAX_ASPECTS:
        raise ValueError(f"at most {MAX_ASPECTS} aspects")
    out: dict[str, AspectSpec] = {}
    for name, cfg in raw.items():
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"aspect {name!r} must match {_IDENTIFIER.pattern}")
        lo, hi = cfg.get("min", 1), cfg.get("max", 5)
        if type(lo) is not int or type(hi) is not int or not 0 <= lo < hi <= MAX_SCORE:
            raise ValueError(f"aspect {name!r}: min and max must be integers with 0 <= min < max <= {MAX_SCORE}")
        top2 = cfg.get("top2_min", hi - 1)
        if type(top2) is not int or not lo < top2 <= hi:
            raise ValueError(f"aspect {name!r}: top2_min must be an integer with min < top2_min <= max")
        label = cfg.get("label") or name
        if not isinstance(label, str):
            raise ValueError(f"aspect {name!r}: label must be a string")
        out[name] = AspectSpec(name, label, lo, hi, top2)
    return out


def configure(specs: Mapping[str, AspectSpec | Mapping[str, object]]) -> None:
    """Install this process's aspects (from settings, at start; tests set and reset them)."""
    global _specs, _top2
    plain = {k: v for k, v in specs.items() if not isinstance(v, AspectSpec)}
    checked = {**{k: v for k, v in specs.items() if isinstance(v, AspectSpec)}, **validate_specs(plain)}
    _specs = checked
    _top2 = {name: s.top2_min for name, s in checked.items()}


def aspects() -> dict[str, AspectSpec]:
    """The configured aspects, by name (a copy)."""
    return dict(_specs)


def spec(name: str) -> AspectSpec | None:
    return _specs.get(name)


def top2_thresholds() -> dict[str, int]:
    """name -> top2_min; the dict itself (hot path): do not mutate."""
    return _top2


def aspect_metric_name(metric: str) -> tuple[str, str] | None:
    """``("mean", name)`` for ``aspect:<name>``, ``("top2", name)`` for ``aspect_top2:<name>``, else None.

    The name is not checked against the configuration here (see :func:`spec`)."""
    for prefix, kind in (("aspect:", "mean"), ("aspect_top2:", "top2")):
        if metric.startswith(prefix):
            return kind, metric[len(prefix):]
    return None
