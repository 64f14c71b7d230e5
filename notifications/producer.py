"""The one way CX Pulse produces to Kafka: send every message, then wait for every ack.

``Publisher.publish`` returns only once the broker acknowledged all its messages, so a
202 means the events are in Kafka (not in a buffer a crash would lose), and an alert
or case is stored only after its notification is. ``Publisher`` runs its own aiokafka
producer (the API, the timers); a Faust agent publishes through its app's producer
instead (``stream_processors.app.AppPublisher``), with the same ``publish``.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from core import metrics
from notifications.messages import OutgoingMessage

__all__ = ["Acked", "Publisher"]

#: where a message landed: (topic, partition, offset)
Acked = tuple[str, int, int]


class Publisher:
    """One shared producer per process, started and stopped by its owner."""

    #: ``cxpulse_produce_latency_seconds`` times this process's own producer only
    times_latency = True

    def __init__(self, bootstrap: str, max_record_bytes: int, *, idempotent: bool = False) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=2,
            max_batch_size=max(max_record_bytes, 1_048_576),
            max_request_size=max_record_bytes + 100_000,
            # Pass idempotent=not settings.kafka.tansu: a server broker gets an idempotent
            # producer (a retry writes no duplicate). Tansu rejects InitProducerId v0, the only
            # version aiokafka sends; there ordering per key is kept by one in-flight batch per
            # partition, duplicates by ids.
            enable_idempotence=idempotent,
        )
        self.started = False

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self._producer.stop()
            self.started = False

    async def send(self, m: OutgoingMessage) -> Awaitable[Any]:
        """Queue one message; the awaitable resolves to its record metadata once acked."""
        return await self._producer.send(m.topic, m.value, key=m.key, partition=m.partition)

    async def publish(self, messages: Sequence[OutgoingMessage]) -> list[Acked]:
        """Send ``messages`` in order, wait for all acks; where each landed."""
        if not messages:
            return []
        started = time.perf_counter()
        futures = [await self.send(m) for m in messages]
        acked = await asyncio.gather(*futures)
        if self.times_latency:
            metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        return [(md.topic, md.partition, md.offset) for md in acked]
