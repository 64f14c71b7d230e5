"""The case record and its guarded transitions: OPEN -> ACKNOWLEDGED -> CLOSED, plus the ESCALATED flag.

Every transition is a pure function ``Case -> Case`` guarded by the states it may start from
(``_from``); anything else raises ``InvalidTransition`` (the API answers 409). Escalation is a flag,
not a state: an open or acknowledged case past its SLA is escalated once and keeps its state.
Times never go backwards: a transition stamped before the case opened is stamped at its opening.

Ids are deterministic, so replays of a response never open a second case:
``response_key = H(tenant, source, id)`` of the response event and ``case_id`` = the response key of
the response that opened the case.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from cases.conditions import Trigger
from cases.routing import scope_key as _scope_key


class CaseState(str, Enum):
    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


class InvalidTransition(ValueError):
    """A transition the case's current state does not allow."""

    def __init__(self, case: "Case", action: str, why: str = "") -> None:
        self.case_id, self.state, self.action = case.id, case.state, action
        super().__init__(why or f"case {case.id} is {case.state.value}: cannot {action}")


def response_key(tenant: str, source: str, event_id: str) -> str:
    return hashlib.sha256(f"{tenant}\x1f{source}\x1f{event_id}".encode()).hexdigest()[:32]


def case_id(tenant: str, source: str, event_id: str) -> str:
    """Id of the case a response opens: the same for every replay of the response."""
    return response_key(tenant, source, event_id)


@dataclass(frozen=True, slots=True)
class Case:
    tenant: str
    id: str
    response_key: str
    response_id: str
    customer: str
    scope: dict[str, str]
    owner: str
    severity: str
    reasons: tuple[str, ...]
    opened_at_ms: int
    due_at_ms: int
    responded_at_ms: int = 0
    response_source: str = ""
    interaction_id: str = ""
    survey_id: str = ""
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    fcr: bool | None = None
    comment: str | None = None
    state: CaseState = CaseState.open
    acked_at_ms: int | None = None
    acked_by: str = ""
    closed_at_ms: int | None = None
    closed_by: str = ""
    resolution: str = ""
    escalated_at_ms: int | None = None
    absorbed: int = 0  # later responses suppressed into this case
    scope_key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.scope_key:
            object.__setattr__(self, "scope_key", _scope_key(self.scope))

    @property
    def escalated(self) -> bool:
        return self.escalated_at_ms is not None

    @property
    def closed(self) -> bool:
        return self.state is CaseState.closed


def open_case(tenant: str, record: Mapping[str, Any], trigger: Trigger, scope: dict[str, str], owner: str,
              opened_at_ms: int, due_at_ms: int) -> Case:
    """A new OPEN case for one survey-response record."""
    key = response_key(tenant, record.get("source", ""), record["id"])
    return Case(
        tenant=tenant, id=key, response_key=key, response_id=record["id"], response_source=record.get("source", ""),
        customer=record.get("customer") or "", scope=dict(scope), owner=owner, severity=trigger.severity,
        reasons=trigger.reasons, opened_at_ms=opened_at_ms, due_at_ms=due_at_ms,
        responded_at_ms=int(record.get("time_ms") or 0), interaction_id=record.get("interaction_id") or "",
        survey_id=record.get("survey_id") or "", nps=record.get("nps"), csat=record.get("csat"),
        ces=record.get("ces"), fcr=record.get("fcr"), comment=record.get("comment"),
    )


F = TypeVar("F", bound=Callable[..., Case])


def _from(*allowed: CaseState) -> Callable[[F], F]:
    """Guard: the decorated transition runs only from ``allowed`` states."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(case: Case, *args: Any, **kwargs: Any) -> Case:
            if case.state not in allowed:
                raise InvalidTransition(case, fn.__name__)
            return fn(case, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


@_from(CaseState.open)
def acknowledge(case: Case, at_ms: int, by: str = "") -> Case:
    return dataclasses.replace(case, state=CaseState.acknowledged, acked_at_ms=max(at_ms, case.opened_at_ms),
                               acked_by=by)


@_from(CaseState.open, CaseState.acknowledged)
def close(case: Case, at_ms: int, resolution: str, by: str = "") -> Case:
    if not resolution.strip():
        raise InvalidTransition(case, "close", "closing a case needs a resolution note")
    return dataclasses.replace(case, state=CaseState.closed, closed_at_ms=max(at_ms, case.acked_at_ms or 0,
                                                                               case.opened_at_ms),
                               closed_by=by, resolution=resolution)


@_from(CaseState.open, CaseState.acknowledged)
def escalate(case: Case, at_ms: int) -> Case:
    if case.escalated:
        raise InvalidTransition(case, "escalate", f"case {case.id} is already escalated")
    if at_ms < case.due_at_ms:
        raise InvalidTransition(case, "escalate", f"case {case.id} is within its SLA")
    return dataclasses.replace(case, escalated_at_ms=at_ms)
