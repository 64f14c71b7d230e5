"""Workarounds for Tansu, the Kafka-compatible broker used locally and in tests. Tansu only.

Quirks measured on Tansu 0.6 (see docs/architecture.md):

1. A Fetch over several partitions is not answered when data arrives on one of
   them: it waits out ``fetch.max.wait.ms``. Faust hard-codes 1500 ms for its
   consumer, so every record waited up to 1.5 s before the stream saw it
   (median POST-to-visible 1.5 s at 5k events/s). With a 100 ms maximum wait an
   idle consumer polls at 10 Hz and a new record is seen in ~15 ms.
2. aiokafka's idempotent/transactional producer sends InitProducerId v0, which
   Tansu rejects: CX Pulse never enables them (replays are made harmless by the
   ledger instead, see ``checkpoint``), so nothing needs patching here.
3. ListOffsets(latest) answers the first offset of the last batch + 1. Faust
   table recovery would stop early; CX Pulse keeps no Faust tables, and the lag
   metric uses the high watermark from Fetch responses, which is right.
   ``cxpulse status`` reads end offsets through ``end_offsets`` below.

Only ``apply`` touches Faust, and only for apps it was called on: a real Kafka
keeps Faust's defaults.
"""
from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

TANSU_FETCH_MAX_WAIT_MS = 100
_FLAG = "_cxpulse_fetch_max_wait_ms"
_original_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
    consumer = _original_create_worker_consumer(self, transport)
    wait_ms = getattr(self.app, _FLAG, None)
    if wait_ms is not None:
        # Read by AIOKafkaConsumer.start() when it builds its fetcher.
        consumer._fetch_max_wait_ms = wait_ms
    return consumer


def apply(app: faust.App, fetch_max_wait_ms: int = TANSU_FETCH_MAX_WAIT_MS) -> None:
    """Make ``app``'s stream consumer poll Tansu with a short maximum fetch wait."""
    setattr(app, _FLAG, fetch_max_wait_ms)
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer


def fetch_max_wait_ms(app: faust.App) -> int | None:
    """The override in force for ``app`` (None: Faust's default)."""
    return getattr(app, _FLAG, None)


def end_offsets(consumer: Any, partitions: list, timeout_s: float = 5.0) -> dict:
    """End offsets (next offset to be written) that are right on Tansu too (quirk 3).

    kafka-python's ``end_offsets`` asks ListOffsets, which on Tansu lands inside
    the last record batch. A Fetch from there carries the true high watermark,
    so the consumer is assigned, positioned just before the reported end and
    polled until every partition reports its high watermark.
    """
    import time

    reported = consumer.end_offsets(partitions)
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, max(reported[tp] - 1, 0))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in partitions):
        consumer.poll(timeout_ms=100)
    return {tp: consumer.highwater(tp) if consumer.highwater(tp) is not None else reported[tp]
            for tp in partitions}
