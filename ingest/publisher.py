"""Produces grouped records to Kafka from the API (aiokafka: the hot path)."""
from __future__ import annotations

import asyncio
import time
from typing import Sequence

from aiokafka import AIOKafkaProducer

from core import metrics


class Publisher:
    """One shared producer per process. ``publish`` returns once every message is acked,
    so a 202 means the events are in Kafka, not in a buffer that a crash would lose."""

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

    async def publish(self, messages: Sequence) -> list[tuple[str, int, int]]:
        """Send ``ingest.batching.OutgoingMessage``s, wait for all acks; their (topic, partition, offset)."""
        if not messages:
            return []
        started = time.perf_counter()
        futures = [
            await self._producer.send(m.topic, m.value, key=m.key, partition=m.partition)
            for m in messages
        ]
        acked = await asyncio.gather(*futures)
        metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        return [(md.topic, md.partition, md.offset) for md in acked]
