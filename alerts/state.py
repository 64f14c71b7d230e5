"""The alert state machine: pure, one state per (rule, scope) fingerprint.

States (Prometheus Alertmanager / Grafana alerting)::

    OK ──breach──> PENDING ──held for_s──> FIRING ──recovered──> RESOLVED ──ok──> OK
     │                │                       ^                     │
     │                └──no breach──> OK      │                     └──breach──> PENDING/FIRING
     └──breach, for_s == 0────────────────────┘

Every change goes through :func:`_move`, which checks the (from, to) pair
against ``ALLOWED`` (STYLE pattern 3: an enum-guarded state), and
:func:`step` rejects an observation older than the last one.

Rules of :func:`step`, in order:

1. ``value is None`` or ``n < rule.min_n`` (unless ``obs.breach`` is set, or the metric is a count,
   which is never a small sample): not evaluated. The state is kept
   as it is and nothing is notified (low samples never fire, never resolve).
   Except ``value is None`` with ``breach=False``: the detector has nothing left to judge in this
   scope (a gaming rule's agent without any data in its period), which recovers like a non-breach.
2. OK/RESOLVED + breach: PENDING from now; FIRING at once when ``for_s == 0``.
   RESOLVED + no breach: OK.
3. PENDING + breach held ``>= for_s`` since it became pending: FIRING.
   PENDING + no breach: OK (a pending alert is dropped, never resolved).
4. FIRING + recovered (past ``recovery`` if set, else not breaching) for
   ``>= keep_firing_s``: RESOLVED. A breach or a value between threshold and
   recovery restarts the recovery clock.
5. Notifications: a firing notification when FIRING and none was sent in
   this episode yet, or ``repeat_interval_s`` after the last one; a resolved
   notification only when a firing one was sent. While silenced nothing is
   sent, the state moves as usual, and the firing notification goes out at
   the first unsilenced evaluation if the alert still fires.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from alerts.rules import Rule

__all__ = ["ALLOWED", "AlertState", "InvalidTransition", "Notification", "NotificationKind", "Observation",
           "StaleObservation", "Status", "step"]


class Status(str, Enum):
    ok = "ok"
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.ok: frozenset({Status.ok, Status.pending, Status.firing}),
    Status.pending: frozenset({Status.pending, Status.ok, Status.firing}),
    Status.firing: frozenset({Status.firing, Status.resolved}),
    Status.resolved: frozenset({Status.resolved, Status.ok, Status.pending, Status.firing}),
}


class InvalidTransition(RuntimeError):
    pass


class StaleObservation(ValueError):
    """An observation older than the last one evaluated (the clock went backwards)."""


class NotificationKind(str, Enum):
    firing = "firing"
    resolved = "resolved"


@dataclass(frozen=True, slots=True)
class Observation:
    """One evaluated value. ``breach`` set: the detector already decided (a gap
    rule: significance and sample size are its own), so the threshold and the
    low-sample guard of rule 1 are not applied; ``value is None`` still means
    "not evaluated"."""

    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    breach: bool | None = None
    #: what the detector found besides the value (a gaming rule: its p-values), kept in the state and notified
    evidence: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class AlertState:
    status: Status = Status.ok
    active_at_ms: int | None = None  # became pending (start of the current breach)
    starts_at_ms: int | None = None  # became firing
    ends_at_ms: int | None = None  # resolved
    recovering_since_ms: int | None = None  # first recovered evaluation while firing
    last_notified_ms: int | None = None  # last firing notification of this episode
    evaluated_at_ms: int | None = None  # last evaluation with enough sample
    value: float | None = None
    n: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    evidence: dict[str, float] | None = None  # the last observation's (``Observation.evidence``)


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    at_ms: int
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    starts_at_ms: int | None
    ends_at_ms: int | None
    repeat: bool = False
    evidence: dict[str, float] | None = None


def _move(state: AlertState, to: Status, **changes: object) -> AlertState:
    if to not in ALLOWED[state.status]:
        raise InvalidTransition(f"{state.status.value} -> {to.value}")
    return replace(state, status=to, **changes)


def step(rule: Rule, state: AlertState, obs: Observation, now_ms: int,
         silenced: bool = False) -> tuple[AlertState, list[Notification]]:
    """One evaluation of ``rule`` at ``now_ms``; see the module docstring for the rules."""
    if state.evaluated_at_ms is not None and now_ms < state.evaluated_at_ms:
        raise StaleObservation(f"observation at {now_ms} is older than the last one ({state.evaluated_at_ms})")
    # 1. Low sample: not evaluated.
    if ((obs.value is None and obs.breach is not False)
            or (obs.breach is None and rule.has_sample_size and obs.n < rule.min_n)):
        return state, []
    seen = {"evaluated_at_ms": now_ms, "value": obs.value, "n": obs.n, "ci_low": obs.ci_low, "ci_high": obs.ci_high,
            "evidence": dict(obs.evidence) if obs.evidence is not None else None}
    breach = rule.breaching(obs.value) if obs.breach is None else obs.breach
    recovered = rule.recovered(obs.value) if obs.breach is None else not obs.breach
    notes: list[Notification] = []

    def note(kind: NotificationKind, s: AlertState, repeat: bool = False) -> Notification:
        return Notification(kind, now_ms, obs.value, obs.n, obs.ci_low, obs.ci_high, s.starts_at_ms, s.ends_at_ms,
                            repeat, seen["evidence"])

    # 2.-4. State.
    if state.status in (Status.ok, Status.resolved):
        if breach:
            new = _move(state, Status.pending, active_at_ms=now_ms, starts_at_ms=None, ends_at_ms=None,
                        recovering_since_ms=None, last_notified_ms=None, **seen)
            if rule.for_s == 0:
                new = _move(new, Status.firing, starts_at_ms=now_ms)
        else:
            new = _move(state, Status.ok, active_at_ms=None, **seen)
    elif state.status is Status.pending:
        if not breach:
            new = _move(state, Status.ok, active_at_ms=None, **seen)
        elif now_ms - (state.active_at_ms or now_ms) >= rule.for_s * 1000:
            new = _move(state, Status.firing, starts_at_ms=now_ms, **seen)
        else:
            new = _move(state, Status.pending, **seen)
    else:  # firing
        if recovered:
            since = state.recovering_since_ms if state.recovering_since_ms is not None else now_ms
            if now_ms - since >= rule.keep_firing_s * 1000:
                new = _move(state, Status.resolved, ends_at_ms=now_ms, recovering_since_ms=None, **seen)
            else:
                new = _move(state, Status.firing, recovering_since_ms=since, **seen)
        else:
            new = _move(state, Status.firing, recovering_since_ms=None, **seen)

    # 5. Notifications.
    if silenced:
        return new, notes
    if new.status is Status.firing:
        if new.last_notified_ms is None:
            notes.append(note(NotificationKind.firing, new))
        elif rule.repeat_interval_s and now_ms - new.last_notified_ms >= rule.repeat_interval_s * 1000:
            notes.append(note(NotificationKind.firing, new, repeat=True))
        if notes:
            new = replace(new, last_notified_ms=now_ms)
    elif new.status is Status.resolved and state.status is Status.firing and state.last_notified_ms is not None:
        notes.append(note(NotificationKind.resolved, new))
    return new, notes
