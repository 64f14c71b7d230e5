"""Additive KPI state (STYLE pattern 2): counters that merge by addition.

A :class:`KpiCounts` holds only sums and counts. Windows, segments and
partitions combine with :meth:`KpiCounts.add`; late or corrected events are
retracted with :meth:`KpiCounts.subtract` (or ``add_record(..., sign=-1)``).
Ratios, means and intervals are computed on read by :mod:`kpi.measures`.

Record format: see :mod:`schemas.records`. Survey ``weight`` is not used
here; the counters are unweighted.

``invitations_answered`` counts the invitations that received at least one
answer, in the invitation's own window and cell: the stream processors set
``_answered`` on an invitation record when the ledger (or the batch) holds an
answer with the same tenant and interaction id, and move it from unanswered to
answered when the first answer arrives (``stream_processors.checkpoint``). It
never exceeds ``invitations`` in any cell, so the response rate is a proportion.

Touchpoint outcomes (the operational KPIs): ``tp_converted_n`` / ``tp_abandoned_n`` /
``tp_transferred_n`` count the touchpoints that state the flag (``true`` or ``false``; absent is
unknown, not ``false``), ``tp_converted`` / ``tp_abandoned`` / ``tp_transferred`` those where it is
``true``. Durations are kept in whole deciseconds, ``ds = floor(seconds * 10 + 0.5)`` (half up; the
product and sum in Float64, as ClickHouse computes them), so every sum stays
an exact integer in an Int64 column and merges exactly: ``tp_wait_n`` touchpoints with a
``wait_s``, ``tp_wait_ds`` the sum of their ds, ``tp_wait_ds2`` the sum of squares (the Student t
interval); ``tp_handle_*`` likewise for ``handle_s``, except that an abandoned touchpoint
(``abandoned`` true) has no handle time and is left out of them.

Positive and negative experiences (the positive:negative ratio; seed 002: leaders deliver 15
positive experiences for 5 negative ones): each survey answer is one experience, counted at most
once. It is *negative* if any score it carries is negative (NPS 0-6, CSAT 1-2, CES 1-3), else
*positive* if any is positive (NPS 9-10, CSAT 4-5, CES 6-7), else neither (passives, CSAT 3,
CES 4-5, FCR alone): ``answers_negative`` and ``answers_positive``. A mixed answer (NPS 10 and
CSAT 1) is negative: one bad moment outweighs a good one.

The bounds are configuration (``core.experience``, the ``experience`` settings; the defaults are
the ones above), installed at start by :func:`configure_experience`; :func:`experience_bounds` is
what the ledger SQL (``warehouse.ledger_counts``) builds its conditions from, so both paths count by
the same definition. Stored windows keep the definition in force when they were counted
(``core.experience``).

Social and review signals (``cx.signal.v1``; issue 14): the ``sig_*`` counters, defined and counted
in :mod:`kpi.signal_counts`.

Panel health (``kpi.panel``): an answer whose ``flags`` carry ``REPEAT`` (the respondent rule: the
same customer answered the same survey less than the cooldown before) counts in no counter at all,
not even ``responses``; the stream moves an answer in and out of the counts as its flag changes.
Quality flags do not change the counters.

Rated aspects (``core.aspects``): ``aspects`` maps an aspect name to its four additive counters, defined
and counted in :mod:`kpi.aspect_counts`; they are not columns of ``kpi_windows``.

These definitions are the single source: a path that counts from the ledger in SQL must give
the same integers (the ledger keeps ``wait_s``, ``handle_s`` as Float64 seconds and the answers
as integers, so ``toInt64(floor(wait_s * 10 + 0.5))`` and the bounds above are all it needs).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.experience import DEFAULT_BOUNDS, Bounds, validate_bounds
from kpi import signal_counts
from kpi.aspect_counts import add_aspects, merge_aspects
from kpi.panel import REPEAT
from kpi.signal_counts import SIGNAL_KINDS, SIGNAL_SENTIMENTS, add_signal

__all__ = ["FIELDS", "MAX_DURATION_S", "SIGNAL_KINDS", "SIGNAL_SENTIMENTS", "KpiCounts", "add_record",
           "configure_experience", "contribution", "experience_bounds"]

# The wire values of schemas.records.EventType. EventType is a ``str`` enum,
# so members compare and hash equal to these plain strings.
_TOUCHPOINT = "cx.touchpoint.v1"
_RESPONSE = "cx.survey.response.v1"
_INVITATION = "cx.survey.invitation.v1"
_SIGNAL = "cx.signal.v1"

# Answer scales; membership doubles as validation on the hot path.
_NPS_VALUES = frozenset(range(0, 11))
_CSAT_VALUES = frozenset(range(1, 6))
_CES_VALUES = frozenset(range(1, 8))

# Positive and negative experiences (module docstring): metric -> (highest negative score, lowest
# positive score), inclusive, as configured (core.experience). Module globals so the hot path reads
# them without a lookup; a None bound ("never") is a score no answer reaches.
_NEVER_LOW, _NEVER_HIGH = -1e9, 1e9
_bounds: dict[str, Bounds] = dict(DEFAULT_BOUNDS)


def configure_experience(bounds: Mapping[str, Bounds]) -> None:
    """Install this process's positive / negative bounds (``Settings.experience.bounds()``, at start;
    tests set and reset them). ``ValueError`` for a bound outside its scale or overlapping."""
    global _bounds, _NPS_NEGATIVE_MAX, _NPS_POSITIVE_MIN, _CSAT_NEGATIVE_MAX, _CSAT_POSITIVE_MIN
    global _CES_NEGATIVE_MAX, _CES_POSITIVE_MIN
    _bounds = validate_bounds(bounds)

    def low(m: str) -> float:
        return _NEVER_LOW if _bounds[m][0] is None else _bounds[m][0]

    def high(m: str) -> float:
        return _NEVER_HIGH if _bounds[m][1] is None else _bounds[m][1]

    _NPS_NEGATIVE_MAX, _NPS_POSITIVE_MIN = low("nps"), high("nps")
    _CSAT_NEGATIVE_MAX, _CSAT_POSITIVE_MIN = low("csat"), high("csat")
    _CES_NEGATIVE_MAX, _CES_POSITIVE_MIN = low("ces"), high("ces")
    signal_counts.set_bounds((low("review"), high("review")), (low("mention_score"), high("mention_score")))


def experience_bounds() -> dict[str, Bounds]:
    """The bounds in force: ``{metric: (negative_max or None, positive_min or None)}``."""
    return dict(_bounds)


_NPS_NEGATIVE_MAX = _NPS_POSITIVE_MIN = _CSAT_NEGATIVE_MAX = _CSAT_POSITIVE_MIN = 0.0
_CES_NEGATIVE_MAX = _CES_POSITIVE_MIN = 0.0
configure_experience(DEFAULT_BOUNDS)

#: Longest wait or handle time a touchpoint may carry, in seconds (``schemas.events`` refuses more):
#: 30 days. It bounds the Int64 sums of squares of deciseconds (at most 6.7e14 per touchpoint).
MAX_DURATION_S = 30 * 86_400



@dataclass(slots=True)
class KpiCounts:
    """Additive counters behind every KPI. All default to zero.

    The counters, in ClickHouse column order, are the one definition of :data:`FIELDS`: do not
    reorder; append only (``aspects`` is not a counter column).

    ``csat_sum``, ``ces_sum`` and ``ces_sumsq`` are sums of integer answers;
    they stay exact integers when built from records and may be floats when
    read back from the warehouse.
    """

    touchpoints: int = 0
    tp_first_contact: int = 0
    tp_first_contact_resolved: int = 0
    invitations: int = 0
    responses: int = 0
    nps_n: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_n: int = 0
    csat_sum: float = 0
    csat_top2: int = 0
    ces_n: int = 0
    ces_sum: float = 0
    ces_sumsq: float = 0
    fcr_n: int = 0
    fcr_yes: int = 0
    invitations_answered: int = 0
    tp_converted_n: int = 0
    tp_converted: int = 0
    tp_abandoned_n: int = 0
    tp_abandoned: int = 0
    tp_transferred_n: int = 0
    tp_transferred: int = 0
    tp_wait_n: int = 0
    tp_wait_ds: int = 0
    tp_wait_ds2: int = 0
    tp_handle_n: int = 0
    tp_handle_ds: int = 0
    tp_handle_ds2: int = 0
    answers_positive: int = 0
    answers_negative: int = 0
    sig_n: int = 0
    sig_reviews: int = 0
    sig_rating_sum: int = 0
    sig_rating_sumsq: int = 0
    sig_polar_n: int = 0
    sig_negative: int = 0
    sig_positive: int = 0
    sig_engagement: int = 0  # sig_* (migration 0018): kpi.signal_counts
    #: aspect -> [n, sum, sumsq, top2] (module docstring); not in ``FIELDS``
    aspects: dict[str, list[int]] | None = None

    # -- merging (add and subtract are generated from FIELDS below the class) ---------------
    def add(self, other: KpiCounts) -> None:
        """Add ``other`` into ``self`` in place."""

    def subtract(self, other: KpiCounts) -> None:
        """Subtract ``other`` from ``self`` in place (retraction). Counters may go negative."""

    def __add__(self, other: object) -> KpiCounts:
        if not isinstance(other, KpiCounts):
            return NotImplemented
        out = self.copy()
        out.add(other)
        return out

    # -- inspection and conversion ----------------------------------------
    def copy(self) -> KpiCounts:
        out = KpiCounts(*self.as_tuple())
        if self.aspects is not None:
            out.aspects = {name: list(c) for name, c in self.aspects.items()}
        return out

    def is_zero(self) -> bool:
        """True when every counter is zero (e.g. a fully retracted window), the aspects' too."""
        return not any(self.as_tuple()) and not (self.aspects and any(any(c) for c in self.aspects.values()))

    def as_tuple(self) -> tuple[Any, ...]:  # generated from FIELDS below the class
        """Counter values in :data:`FIELDS` order (ClickHouse column order)."""

    def as_dict(self) -> dict[str, Any]:
        """``{field: value}`` in :data:`FIELDS` order (the aspects are not fields)."""
        return dict(zip(FIELDS, self.as_tuple()))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> KpiCounts:
        """Build from a mapping such as a warehouse row.

        Keys outside :data:`FIELDS` (tenant, window, dims...) are ignored;
        missing counters and ``None`` values are zero.
        """
        return cls(*((m.get(f) or 0) for f in FIELDS))


#: Counter names in ClickHouse column order: the fields of :class:`KpiCounts` but ``aspects``.
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(KpiCounts) if f.name != "aspects")


def _generated(name: str, args: str, body: list[str], doc: str | None):
    """A method of :class:`KpiCounts` compiled from ``body`` (one statement a line): as fast as
    the statements written out by hand (measured), from the one list of counters."""
    namespace: dict[str, Any] = {"merge_aspects": merge_aspects}
    source = "\n".join([f"def {name}({args}):", *(f"    {line}" for line in body)])
    exec(compile(source, f"<kpi.counts.KpiCounts.{name}>", "exec"), namespace)
    fn = namespace[name]
    fn.__qualname__, fn.__doc__, fn.__module__ = f"KpiCounts.{name}", doc, __name__
    return fn


for _name, _op, _sign in (("add", "+=", 1), ("subtract", "-=", -1)):
    setattr(KpiCounts, _name, _generated(_name, "self, other", [
        *(f"self.{f} {_op} other.{f}" for f in FIELDS),
        f"if other.aspects:\n        merge_aspects(self, other.aspects, {_sign})"], getattr(KpiCounts, _name).__doc__))
KpiCounts.as_tuple = _generated("as_tuple", "self", [f"return ({', '.join(f'self.{f}' for f in FIELDS)},)"],
                                KpiCounts.as_tuple.__doc__)
del _name, _op, _sign


def add_record(target: KpiCounts, record: Mapping[str, Any], sign: int = 1) -> None:
    """Add (``sign=1``) or retract (``sign=-1``) one record's contribution in place.

    Allocation-free; the hot path of the stream processors. Any integer
    ``sign`` multiplies the contribution. Raises ``ValueError`` for an
    unknown record type or an answer outside its scale, before touching
    ``target``.
    """
    typ = record["type"]
    if typ == _TOUCHPOINT:
        # Inline (not a helper per duration): this is the hot path.
        wait_s = record.get("wait_s")
        handle_s = record.get("handle_s")
        if wait_s is not None and not 0 <= wait_s <= MAX_DURATION_S:
            raise ValueError(f"wait_s {wait_s!r} is outside 0..{MAX_DURATION_S} s")
        if handle_s is not None and not 0 <= handle_s <= MAX_DURATION_S:
            raise ValueError(f"handle_s {handle_s!r} is outside 0..{MAX_DURATION_S} s")
        target.touchpoints += sign
        if record.get("first_contact") is True:
            target.tp_first_contact += sign
            if record.get("resolved") is True:
                target.tp_first_contact_resolved += sign
        converted = record.get("converted")
        if converted is not None:
            target.tp_converted_n += sign
            if converted is True:
                target.tp_converted += sign
        abandoned = record.get("abandoned")
        if abandoned is not None:
            target.tp_abandoned_n += sign
            if abandoned is True:
                target.tp_abandoned += sign
        transferred = record.get("transferred")
        if transferred is not None:
            target.tp_transferred_n += sign
            if transferred is True:
                target.tp_transferred += sign
        # Whole deciseconds, half up (docstring); int() truncates, which is floor for durations >= 0,
        # and is several times cheaper than round() on this hot path.
        if wait_s is not None:
            ds = int(wait_s * 10 + 0.5)
            target.tp_wait_n += sign
            target.tp_wait_ds += sign * ds
            target.tp_wait_ds2 += sign * ds * ds
        # An abandoned contact was never handled: its handle time (0 in most systems) is not a
        # handle time, and counting it would pull the average down as abandonment rises.
        if handle_s is not None and abandoned is not True:
            ds = int(handle_s * 10 + 0.5)
            target.tp_handle_n += sign
            target.tp_handle_ds += sign * ds
            target.tp_handle_ds2 += sign * ds * ds
    elif typ == _RESPONSE:
        nps = record.get("nps")
        csat = record.get("csat")
        ces = record.get("ces")
        fcr = record.get("fcr")
        # Validate everything first so a bad record leaves target untouched.
        if nps is not None and nps not in _NPS_VALUES:
            raise ValueError(f"nps answer {nps!r} is outside 0..10")
        if csat is not None and csat not in _CSAT_VALUES:
            raise ValueError(f"csat answer {csat!r} is outside 1..5")
        if ces is not None and ces not in _CES_VALUES:
            raise ValueError(f"ces answer {ces!r} is outside 1..7")
        if (record.get("flags") or 0) & REPEAT:  # the respondent rule: kept in the ledger, counted nowhere
            return
        target.responses += sign
        if nps is not None:
            target.nps_n += sign
            if nps >= 9:
                target.promoters += sign
            elif nps >= 7:
                target.passives += sign
            else:
                target.detractors += sign
        if csat is not None:
            target.csat_n += sign
            target.csat_sum += sign * csat
            if csat >= 4:
                target.csat_top2 += sign
        if ces is not None:
            target.ces_n += sign
            target.ces_sum += sign * ces
            target.ces_sumsq += sign * ces * ces
        if fcr is not None:
            target.fcr_n += sign
            if fcr is True:
                target.fcr_yes += sign
        # One experience per answer, whatever it carries: negative if any score is negative,
        # else positive if any score is positive, else neither (module docstring).
        if ((nps is not None and nps <= _NPS_NEGATIVE_MAX) or (csat is not None and csat <= _CSAT_NEGATIVE_MAX)
                or (ces is not None and ces <= _CES_NEGATIVE_MAX)):
            target.answers_negative += sign
        elif ((nps is not None and nps >= _NPS_POSITIVE_MIN) or (csat is not None and csat >= _CSAT_POSITIVE_MIN)
                or (ces is not None and ces >= _CES_POSITIVE_MIN)):
            target.answers_positive += sign
        rated = record.get("aspects")
        if rated:
            add_aspects(target, rated, sign)
    elif typ == _INVITATION:
        target.invitations += sign
        if record.get("_answered") is True:
            target.invitations_answered += sign
    elif typ == _SIGNAL:
        add_signal(target, record, sign)
    else:
        raise ValueError(f"unknown record type {typ!r}")


def contribution(record: Mapping[str, Any]) -> KpiCounts:
    """A new :class:`KpiCounts` holding one record's contribution.

    Prefer :func:`add_record` in loops: it does not allocate.
    """
    out = KpiCounts()
    add_record(out, record)
    return out
