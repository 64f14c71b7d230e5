"""Panel health rules on answers, pure: the respondent rule and the quality flags.

Every survey answer carries ``flags``, a bit set stored in the ledger (``survey_responses.flags``,
migration 0017):

``REPEAT`` (1) — the respondent rule. Answers are grouped by (tenant, customer, survey) and
ordered by (event time, source, event id). An answer is a *repeat* iff its immediate predecessor
in that order lies less than the cooldown before it: ``t_i - t_(i-1) < cooldown``. So a customer
answering a survey more often than once per cooldown counts once until they pause a full
cooldown; the earliest answer by event time always counts. The flag depends only on the set of
the customer's answers, never on arrival order, and an answer arriving late changes at most its
own flag and its successor's (which can only become a repeat), so the stream corrects it by
retracting and re-adding one stored answer (``stream_processors.checkpoint``). Answers without a
customer are never repeats. A repeat is kept in the ledger and counts in no KPI counter
(``kpi.counts.add_record``).

Quality flags (``QUALITY``), counted per scope and optionally excluded from ``GET /v1/kpis``
(``exclude_flagged=true``), otherwise counted like any answer:

``STRAIGHT_LINING`` (2) — the answer rates at least ``min_aspects`` aspects
(``answers.aspects``, a mapping of aspect -> score) and every one has the same score.

``TOO_FAST`` (4) — the answer sends ``duration_s`` (seconds to complete) and it is below
``min_duration_s``.

``CONTRADICTORY`` (8) — NPS and CSAT contradict each other: NPS >= 9 with CSAT 1, or NPS <= 1 with
CSAT 5.

Contact fatigue (:func:`contact_verdicts`, ``GET /v1/invitations/check``): a customer may be invited
now iff every rule allows it: ``max_invitations`` — fewer than N invitations with event time in
(now − D days, now]; ``complaint_quiet`` — no complaint (a touchpoint whose journey step is a
configured complaint step) with event time in (now − K days, now]; ``opt_out`` — the customer has
not opted out (``PUT /v1/opt-outs/{customer_id}``).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTRADICTORY", "RuleVerdict", "contact_verdicts", "FLAG_BITS", "QUALITY", "REPEAT", "STRAIGHT_LINING", "TOO_FAST", "flag_names",
           "quality_flags", "repeats"]

REPEAT = 1
STRAIGHT_LINING = 2
TOO_FAST = 4
CONTRADICTORY = 8
QUALITY = STRAIGHT_LINING | TOO_FAST | CONTRADICTORY

#: flag name -> bit, the names the API answers with.
FLAG_BITS: dict[str, int] = {"repeat": REPEAT, "straight_lining": STRAIGHT_LINING, "too_fast": TOO_FAST,
                             "contradictory": CONTRADICTORY}

#: (lowest NPS, CSAT) and (highest NPS, CSAT) pairs that contradict: NPS >= 9 with CSAT 1, NPS <= 1 with CSAT 5.
CONTRADICTION_NPS_HIGH, CONTRADICTION_CSAT_LOW = 9, 1
CONTRADICTION_NPS_LOW, CONTRADICTION_CSAT_HIGH = 1, 5


def quality_flags(answer: Mapping[str, Any], min_duration_s: float, min_aspects: int = 3) -> int:
    """The quality bits of one answer record (module docstring); ``REPEAT`` is not set here."""
    flags = 0
    aspects = answer.get("aspects")
    if isinstance(aspects, Mapping):
        scores = [v for v in aspects.values() if v is not None]
        if len(scores) >= min_aspects and len(set(scores)) == 1:
            flags |= STRAIGHT_LINING
    duration = answer.get("duration_s")
    if duration is not None and duration < min_duration_s:
        flags |= TOO_FAST
    nps, csat = answer.get("nps"), answer.get("csat")
    if nps is not None and csat is not None and (
            (nps >= CONTRADICTION_NPS_HIGH and csat == CONTRADICTION_CSAT_LOW)
            or (nps <= CONTRADICTION_NPS_LOW and csat == CONTRADICTION_CSAT_HIGH)):
        flags |= CONTRADICTORY
    return flags


def repeats(answers: Iterable[tuple[Hashable, int, tuple, Hashable]], cooldown_ms: int) -> set[Hashable]:
    """The repeats among ``answers``, each ``(group, time_ms, tie, ident)``.

    ``group`` is (tenant, customer, survey) (``None`` customer: never a repeat), ``tie`` orders
    answers of equal time (source, event id), ``ident`` names the answer in the result. An answer is
    a repeat iff the previous answer of its group (by time, then tie) is less than ``cooldown_ms``
    before it. ``cooldown_ms <= 0``: none is.
    """
    if cooldown_ms <= 0:
        return set()
    by_group: dict[Hashable, list[tuple[int, tuple, Hashable]]] = {}
    for group, time_ms, tie, ident in answers:
        if group is not None:
            by_group.setdefault(group, []).append((time_ms, tie, ident))
    out: set[Hashable] = set()
    for items in by_group.values():
        items.sort(key=lambda x: (x[0], x[1]))
        for (t0, _, _), (t1, _, ident) in zip(items, items[1:]):
            if t1 - t0 < cooldown_ms:
                out.add(ident)
    return out


def flag_names(flags: int) -> list[str]:
    """The names of the bits set in ``flags``, in :data:`FLAG_BITS` order."""
    return [name for name, bit in FLAG_BITS.items() if flags & bit]


_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One contact-fatigue rule: whether it allows an invitation now, and what it counted."""

    rule: str  # max_invitations | complaint_quiet | opt_out
    allowed: bool
    count: int | None = None  # invitations, or complaints, in the rule's period
    limit: int | None = None
    days: float | None = None
    last_ms: int | None = None  # the latest invitation / complaint in the period, or the opt-out time


def contact_verdicts(now_ms: int, invitation_ms: Iterable[int], complaint_ms: Iterable[int],
                     opted_out_ms: int | None, *, max_invitations: int, invitation_days: float,
                     complaint_quiet_days: float) -> list[RuleVerdict]:
    """The three rules of the module docstring, in that order; times after ``now_ms`` are ignored."""
    def within(times: Iterable[int], days: float) -> list[int]:
        lo = now_ms - days * _DAY_MS
        return sorted(t for t in times if lo < t <= now_ms)

    invited = within(invitation_ms, invitation_days)
    complaints = within(complaint_ms, complaint_quiet_days) if complaint_quiet_days > 0 else []
    return [
        RuleVerdict("max_invitations", len(invited) < max_invitations, len(invited), max_invitations,
                    invitation_days, invited[-1] if invited else None),
        RuleVerdict("complaint_quiet", not complaints, len(complaints), None, complaint_quiet_days,
                    complaints[-1] if complaints else None),
        RuleVerdict("opt_out", opted_out_ms is None, None, None, None, opted_out_ms),
    ]
