"""API keys as data: the token format, its hash, and the constant-time checks (pure; no I/O).

A key the warehouse stores (``api_keys``, migration 0011) is shown to its owner once, as
``cxp_<tenant>_<key_id>_<secret>``:

* ``tenant`` (the tenant alphabet: lower-case letters, digits, ``_`` and ``-``) and ``key_id``
  (16 hex) are public: they name the row, so authentication is one tenant-scoped primary-key
  lookup, never a scan of every hash.
* ``secret`` is 32 random bytes as 64 hex. Only ``sha256(token)`` is stored. A fast hash is right
  here: the secret carries 256 bits of entropy, so a leaked table cannot be brute-forced the way a
  password table can (which is what slow hashes are for), and every request hashes once.

The stored hash is compared with ``hmac.compare_digest``; a token whose id is unknown is compared
against a dummy hash, so a miss and a wrong secret take the same path. Settings-file keys
(``api.keys``) are matched by comparing the token's hash with every configured key's hash, all of
them, without stopping at the first match (:class:`SettingsKeys`).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.tenants import TENANT_PATTERN

__all__ = ["KeyToken", "SettingsKeys", "hash_token", "matches", "new_key_id", "new_token", "parse_token",
           "settings_key_id"]

PREFIX = "cxp_"
_TENANT = TENANT_PATTERN.pattern.removeprefix("^").removesuffix("$")
_TOKEN = re.compile(rf"cxp_(?P<tenant>{_TENANT})_(?P<key_id>[0-9a-f]{{16}})_(?P<secret>[0-9a-f]{{64}})")
_DUMMY_HASH = hashlib.sha256(b"cxpulse: no such key").hexdigest()


@dataclass(frozen=True)
class KeyToken:
    tenant: str
    key_id: str
    token: str  # the whole presented string, which is what is hashed

    @property
    def hash(self) -> str:
        return hash_token(self.token)


def hash_token(token: str) -> str:
    """What ``api_keys.hash`` holds: the SHA-256 of the whole token, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_key_id() -> str:
    return secrets.token_hex(8)


def new_token(tenant: str, key_id: str) -> str:
    """A fresh key for ``(tenant, key_id)``: shown once, then only its hash exists."""
    return f"{PREFIX}{tenant}_{key_id}_{secrets.token_hex(32)}"


def parse_token(token: str) -> KeyToken | None:
    """The public part of a warehouse key, or ``None`` for anything else (a settings key, garbage)."""
    found = _TOKEN.fullmatch(token)
    return KeyToken(found["tenant"], found["key_id"], token) if found else None


def matches(stored_hash: str | None, token: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, in constant time; ``None`` (no row) never matches
    but costs the same comparison."""
    return hmac.compare_digest(stored_hash or _DUMMY_HASH, hash_token(token)) and stored_hash is not None


def settings_key_id(token: str) -> str:
    """How the audit log names a settings-file key: ``settings:<first 12 hex of its SHA-256>``."""
    return "settings:" + hash_token(token)[:12]


V = TypeVar("V")


class SettingsKeys(Generic[V]):
    """The settings-file keys, matched by hash against every entry (no dict lookup on the secret)."""

    def __init__(self, keys: dict[str, V]) -> None:
        self._entries = [(hashlib.sha256(k.encode()).digest(), settings_key_id(k), v) for k, v in keys.items()]

    def find(self, token: str) -> tuple[str, V] | None:
        """``(key id, value)`` of the entry ``token`` is, comparing with all of them."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry_digest, key_id, value in self._entries:
            if hmac.compare_digest(entry_digest, digest):  # no break: the time does not depend on the position
                found = (key_id, value)
        return found
