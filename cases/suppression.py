"""At most one open case per (tenant, customer, scope): a later matching response joins the open case.

Anonymous responses (no customer pseudonym) are never merged: their suppression key is their own.
"""
from __future__ import annotations

from dataclasses import dataclass

from cases.state import Case


@dataclass(frozen=True, slots=True)
class Open:
    """Open a new case."""


@dataclass(frozen=True, slots=True)
class Absorb:
    """Attach the response to this open case instead."""

    case: Case


def suppression_key(customer: str, scope_key: str, response_key: str) -> str:
    return f"{customer}\x1f{scope_key}" if customer else f"\x1fanonymous\x1f{response_key}"


def decide(open_cases: list[Case], customer: str, scope_key: str, response_key: str) -> Open | Absorb:
    """Given the tenant's not-closed cases of this customer, open a case or absorb into the oldest one
    with the same scope."""
    key = suppression_key(customer, scope_key, response_key)
    same = [c for c in open_cases if not c.closed and suppression_key(c.customer, c.scope_key, c.response_key) == key]
    if not same:
        return Open()
    return Absorb(min(same, key=lambda c: (c.opened_at_ms, c.id)))
