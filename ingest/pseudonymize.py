"""Keyed pseudonyms for customer ids.

Ingest replaces every ``customer_id`` with ``Pseudonymizer(key)(tenant, id)``
before the event is written anywhere, so the raw id never reaches Kafka or
ClickHouse. The hash is keyed (HMAC-SHA256) rather than a plain SHA-256:
customer ids are guessable (emails, phone numbers, CRM counters), and an
unkeyed hash is reversed by hashing a dictionary of candidates. Without the key
nobody can link a pseudonym back to a person, yet the same customer still maps
to the same pseudonym, which is all the KPIs need (repeat contact, FCR).
The tenant is part of the message so two tenants' pseudonyms never collide or
correlate.
"""
from __future__ import annotations

import hashlib
import hmac

__all__ = ["Pseudonymizer", "PSEUDONYM_HEX_CHARS"]

#: 128 bits: collision-free at any realistic customer count, half the width of the full digest.
PSEUDONYM_HEX_CHARS = 32
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in a tenant name, so (t, id) is unambiguous


class Pseudonymizer:
    """``Pseudonymizer(key)(tenant, customer_id)`` -> 32 hex chars of HMAC-SHA256(key, tenant␟id)."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the pseudonym key must be a non-empty secret")
        # The keyed state is built once and copied per call: hmac.new() re-derives
        # the inner and outer pads each time, which is most of the cost of a short id.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, tenant: str, customer_id: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{tenant}{_SEPARATOR}{customer_id}".encode())
        return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymizer(<key>)"
