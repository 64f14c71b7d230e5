"""Closed loop: a single survey response can open a case for the owner of its scope.

Pure rules only (no I/O), so they test without Kafka or ClickHouse:

* ``conditions`` — which responses open a case and at what severity;
* ``routing`` — the case scope (dimension values) and its owner;
* ``sla`` — due time by severity and breach checks;
* ``suppression`` — at most one open case per (tenant, customer, scope);
* ``state`` — the ``Case`` record, ``CaseState`` OPEN -> ACKNOWLEDGED -> CLOSED plus the
  ESCALATED flag, and the guarded transitions (``InvalidTransition`` otherwise);
* ``events`` — the ``cx.case.*.v1`` CloudEvents published to the notifications topic.

The warehouse side is ``warehouse.case_queries``; the agent and the escalation timer are
``stream_processors.case_agent``; the API is ``api.routers.cases``.
"""
from cases.conditions import (
    DEFAULT_CONDITIONS, CaseCondition, Severity, Trigger, condition_matches, evaluate_conditions,
)
from cases.events import CASE_EVENT_TYPES, case_event, case_message
from cases.routing import case_scope, route_owner, scope_key
from cases.sla import due_at_ms, is_breached
from cases.state import (
    Case, CaseState, InvalidTransition, acknowledge, case_id, close, escalate, open_case, response_key,
)
from cases.suppression import Absorb, Open, decide, suppression_key

__all__ = [
    "Absorb", "CASE_EVENT_TYPES", "Case", "CaseCondition", "CaseState", "DEFAULT_CONDITIONS", "InvalidTransition",
    "Open", "Severity", "Trigger", "acknowledge", "case_event", "case_id", "case_message", "case_scope", "close",
    "condition_matches", "decide", "due_at_ms", "escalate", "evaluate_conditions", "is_breached", "open_case",
    "response_key", "route_owner", "scope_key", "suppression_key",
]
