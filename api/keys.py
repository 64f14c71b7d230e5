"""Who a Bearer token is, in this API process: settings-file keys, stored keys, their cache and last use.

Resolution (:meth:`KeyRegistry.resolve`):

1. A token shaped like a stored key (``cxp_<tenant>_<key_id>_<secret>``, ``core.api_keys``) is looked
   up by ``(tenant, key_id)`` (cached, below) and its hash compared in constant time. Unknown id or
   wrong secret: "unknown API key"; revoked: "API key revoked"; expired: "API key expired". Expiry
   and revocation times are checked against the clock on every request, cached or not.
2. Any other token (and one shaped like a stored key that matches no row) is compared with every
   settings-file key (``api.keys``) in constant time.

The cache: what was read of a stored key is trusted for ``api.key_cache_ttl_s`` (5 s by default),
unknown ids too (so random ids do not each cost a warehouse read), at most ``CACHE_SIZE`` entries.
A key created, rotated or revoked through this process is put in the cache at once, so here the
change takes effect immediately; in every other API process within ``api.key_cache_ttl_s``.

Last use: each request notes the time in memory; :meth:`KeyRegistry.flush` writes every key's
latest use in one insert, every ``api.key_last_used_flush_s`` (:meth:`run_flusher`) and at shutdown.
A process killed with ``-9`` loses at most that interval of last-used times, nothing else.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from api.rate_limit import RateLimiter
from core.api_keys import SettingsKeys, matches, parse_token
from core.pipeline_settings import ApiKey, ApiSettings
from warehouse.client import Warehouse
from warehouse.key_queries import KeyRow, get_key, record_use

__all__ = ["CACHE_SIZE", "KeyRefused", "KeyRegistry", "Resolved"]

log = logging.getLogger("cxpulse.api.keys")
CACHE_SIZE = 10_000


class KeyRefused(Exception):
    """The token names no usable key; the message says why (it becomes the 401's detail)."""


@dataclass(frozen=True)
class Resolved:
    tenant: str
    scopes: frozenset[str]
    key_id: str
    rate_per_s: float | None = None
    burst: int | None = None


def refusal(row: KeyRow, now_ms: int) -> str | None:
    """Why ``row`` may not be used at ``now_ms``, or ``None``."""
    if row.revoked_at_ms is not None and row.revoked_at_ms <= now_ms:
        return "API key revoked" + (f" (rotated to {row.rotated_to})" if row.rotated_to else "")
    if row.expires_at_ms is not None and row.expires_at_ms <= now_ms:
        return "API key expired"
    return None


class KeyRegistry:
    def __init__(self, api: ApiSettings, warehouse: Warehouse, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.api, self.warehouse, self.clock = api, warehouse, clock
        self.limiter = RateLimiter(api.rate_limit, monotonic)
        self._monotonic = monotonic
        self._cache: OrderedDict[tuple[str, str], tuple[KeyRow | None, float]] = OrderedDict()
        self._uses: dict[tuple[str, str], int] = {}
        self._settings_snapshot: tuple[str, ...] | None = None
        self._settings_keys: SettingsKeys[ApiKey] = SettingsKeys({})

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- resolving ----------------------------------------------------------------------
    async def resolve(self, token: str) -> Resolved:
        parsed = parse_token(token)
        if parsed is None:
            return self._from_settings(token)
        row = await self._row(parsed.tenant, parsed.key_id)
        if not matches(row.hash if row else None, token):
            return self._from_settings(token)  # a settings-file key may look like a stored one
        assert row is not None
        now = self.now_ms()
        why = refusal(row, now)
        if why:
            raise KeyRefused(why)
        key = (row.tenant, row.key_id)
        self._uses[key] = max(now, self._uses.get(key, 0))
        return Resolved(row.tenant, frozenset(row.scopes), row.key_id, row.rate_per_s, row.burst)

    def _from_settings(self, token: str) -> Resolved:
        keys = self.api.keys
        if self._settings_snapshot != tuple(keys):  # tests and `cxpulse up` add keys after start-up
            self._settings_keys, self._settings_snapshot = SettingsKeys(keys), tuple(keys)
        found = self._settings_keys.find(token)
        if found is None:
            raise KeyRefused("unknown API key")
        key_id, key = found
        return Resolved(key.tenant, frozenset(key.scopes), key_id)

    async def _row(self, tenant: str, key_id: str) -> KeyRow | None:
        cached = self._cache.get((tenant, key_id))
        if cached is not None and self._monotonic() - cached[1] < self.api.key_cache_ttl_s:
            self._cache.move_to_end((tenant, key_id))
            return cached[0]
        row = await get_key(self.warehouse, tenant, key_id)
        self._remember(tenant, key_id, row)
        return row

    def _remember(self, tenant: str, key_id: str, row: KeyRow | None) -> None:
        self._cache[(tenant, key_id)] = (row, self._monotonic())
        self._cache.move_to_end((tenant, key_id))
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def stored(self, row: KeyRow) -> None:
        """``row`` was just written by this process: use it from now on (no TTL to wait)."""
        self._remember(row.tenant, row.key_id, row)

    # -- last use -----------------------------------------------------------------------
    def pending_uses(self) -> dict[tuple[str, str], int]:
        return dict(self._uses)

    async def flush(self) -> int:
        """Write the noted last-used times (one insert); returns how many keys. On failure they are kept."""
        uses, self._uses = self._uses, {}
        try:
            await record_use(self.warehouse, uses)
        except Exception:
            for key, ms in uses.items():
                self._uses[key] = max(ms, self._uses.get(key, 0))
            raise
        return len(uses)

    async def run_flusher(self) -> None:
        """Flush every ``api.key_last_used_flush_s`` until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.api.key_last_used_flush_s)
                try:
                    await self.flush()
                except Exception as exc:  # noqa: BLE001 - kept for the next round
                    log.warning("could not record API keys' last use (kept for the next flush): %r", exc)
        finally:
            if self._uses:
                await asyncio.shield(self.flush())
