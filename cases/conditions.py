"""Which survey responses open a case: conditions on one answer (``nps``, ``csat``, ``ces``, ``fcr``).

Defaults (``DEFAULT_CONDITIONS``): a detractor (NPS <= 6), CSAT <= 2, CES <= 3 (CES 1-7, 7 = easiest).
The condition model is defined with the settings that hold it (``core.settings.CaseCondition``).
Tenants configure more (or other) conditions in ``CaseSettings.conditions``. A response matching
several conditions opens one case with the highest severity and every matched condition as a reason.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from core.domain_settings import DEFAULT_CASE_CONDITIONS as DEFAULT_CONDITIONS
from core.domain_settings import CaseCondition
from core.domain_settings import CaseSeverity as Severity

__all__ = ["DEFAULT_CONDITIONS", "SEVERITY_RANK", "CaseCondition", "Severity", "Trigger", "condition_matches",
           "evaluate_conditions"]

SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

_OPS = {"le": operator.le, "lt": operator.lt, "ge": operator.ge, "gt": operator.gt, "eq": operator.eq}


def condition_matches(condition: CaseCondition, record: dict[str, Any]) -> bool:
    answer = record.get(condition.metric)
    if answer is None or isinstance(answer, str):
        return False
    return _OPS[condition.op](float(answer), condition.value)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a response opens a case."""

    severity: Severity
    reasons: tuple[str, ...]


def evaluate_conditions(record: dict[str, Any], conditions: list[CaseCondition]) -> Trigger | None:
    """The trigger of a survey-response record, or ``None`` when no condition matches."""
    matched = [c for c in conditions if condition_matches(c, record)]
    if not matched:
        return None
    top = max(matched, key=lambda c: SEVERITY_RANK[c.severity])
    return Trigger(top.severity, tuple(dict.fromkeys(c.name for c in matched)))
