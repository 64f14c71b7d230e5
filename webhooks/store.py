"""Warehouse-backed pieces of delivery: the outcome recorder and the subscription cache."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from warehouse import webhook_queries as q
from warehouse.client import Warehouse
from core.errors import WarehouseError, WarehouseUnavailable

log = logging.getLogger(__name__)


async def _retrying(fn: Callable[..., Awaitable[Any]], *args: Any, attempts: int = 6,
                    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> Any:
    """A write the agent must not ack without: retry transient warehouse errors, then raise."""
    for i in range(attempts):
        try:
            return await fn(*args)
        except WarehouseError as exc:
            if i == attempts - 1:
                raise
            wait = exc.retry_after if isinstance(exc, WarehouseUnavailable) else 0.5 * 2 ** i
            log.warning("webhook record write failed (%s); retrying in %.1fs", exc, wait)
            await sleep(wait)


class SubscriptionCache:
    """Enabled subscriptions per tenant, re-read after ``ttl_s`` (or at once after ``invalidate``)."""

    def __init__(self, wh: Warehouse, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._wh = wh
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, list[q.SubscriptionRow]]] = {}

    async def get(self, tenant: str) -> list[q.SubscriptionRow]:
        hit = self._entries.get(tenant)
        now = self._clock()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        subs = await _retrying(q.list_subscriptions, self._wh, tenant, True)
        self._entries[tenant] = (now, subs)
        return subs

    def invalidate(self, tenant: str) -> None:
        self._entries.pop(tenant, None)


@dataclass
class WarehouseRecorder:
    """Writes attempts, dead letters and disabled subscriptions (the ``delivery.Recorder`` protocol)."""

    wh: Warehouse
    cache: SubscriptionCache | None = None

    async def attempt(self, row: q.AttemptRow) -> None:
        await _retrying(q.record_attempts, self.wh, [row])

    async def dead_letter(self, row: q.DeadLetterRow) -> None:
        await _retrying(q.put_dead_letter, self.wh, row)

    async def delivered(self, tenant: str, delivery_id: str) -> None:
        await _retrying(q.set_dead_letter_state, self.wh, tenant, delivery_id, "delivered")

    async def disable(self, sub: q.SubscriptionRow, reason: str) -> None:
        current = await _retrying(q.get_subscription, self.wh, sub.tenant, sub.id)
        if current is not None and current.enabled:
            await _retrying(q.put_subscription, self.wh, current.changed(enabled=False, disabled_reason=reason))
        if self.cache is not None:
            self.cache.invalidate(sub.tenant)
