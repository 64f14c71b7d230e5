"""Delivery metrics: a recorder that counts every outcome, and the series of every attempt status.

The metric objects are ``core.metrics``; importing ``webhooks`` creates the label series.
"""
from __future__ import annotations

from typing import Any

from core.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_DEAD_LETTERS, WEBHOOK_DISABLED, WEBHOOK_LATENCY
from schemas.webhooks import AttemptStatus


class MeteredRecorder:
    """Wraps a ``webhooks.delivery.Recorder``: every attempt, dead letter and disabled endpoint is counted.

    The deliverer records each outcome exactly once, so counting here needs no change to its loop.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def attempt(self, row: Any) -> None:
        WEBHOOK_ATTEMPTS.labels(row.status).inc()
        if row.attempt > 0:  # attempt 0 records a delivery skipped without any request
            WEBHOOK_LATENCY.observe(row.duration_ms / 1000)
        await self._inner.attempt(row)

    async def dead_letter(self, row: Any) -> None:
        WEBHOOK_DEAD_LETTERS.inc()
        await self._inner.dead_letter(row)

    async def delivered(self, tenant: str, delivery_id: str) -> None:
        await self._inner.delivered(tenant, delivery_id)

    async def disable(self, sub: Any, reason: str) -> None:
        WEBHOOK_DISABLED.inc()
        await self._inner.disable(sub, reason)


for _attempt in AttemptStatus:
    WEBHOOK_ATTEMPTS.labels(_attempt.value)
