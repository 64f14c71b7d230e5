"""What a 202 from ``POST /v1/events`` means: the acknowledgement, in one place.

``Admission.submit`` acknowledges a request's Kafka messages in this order,
and the router answers 202 only when it returned:

1. **Gate.** While the process stops (``close``) or its broker is down
   (``broker_down``), a request is refused with ``IngestUnavailable``
   (503 with ``Retry-After``) before anything is written.
2. **Log.** With the ingest log on (the default whenever the broker keeps
   messages in memory, see ``ingest.log``), the messages are appended and
   flushed to disk (group commit). A full disk or a log at its size limit is
   ``IngestStorageFull`` (507); nothing is acknowledged.
3. **Publish.** The messages are produced with ``acks=all`` and their acks
   awaited, at most ``ack_timeout_s``; a broker that does not answer is
   ``IngestUnavailable``. What the log already holds is published again
   later (``republish``) or replayed on the next start: resending a request
   that got a 503 is always safe, the ledger counts every event id once.
4. **Offsets.** The log learns the offsets Kafka gave the messages, so it can
   delete them once the stream processors' consumer group committed past them
   (the warehouse then holds them).

Without the ingest log (a durable Kafka: ``acks=all``, replication, see
docs/operations.md) steps 2 and 4 are skipped and the 202 rests on Kafka.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from core import metrics
from ingest.log import IngestLog, Ticket
from notifications.producer import Publisher
from core.errors import IngestStorageFull, IngestUnavailable

__all__ = ["Admission", "replay_log"]

log = logging.getLogger(__name__)


class Admission:
    def __init__(self, publisher: Publisher, ingest_log: IngestLog | None, *, ack_timeout_s: float = 10.0,
                 retry_after_s: float = 5.0) -> None:
        self.publisher = publisher
        self.log = ingest_log
        self.ack_timeout_s = ack_timeout_s
        self.retry_after_s = retry_after_s
        self.closed = False
        self.broker_down = False
        self.broker_restarts = 0  # of the local broker, by the runtime's watchdog
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: appended to the log, but Kafka did not acknowledge them: published again by ``republish``
        self._unacked: list[tuple[Ticket, Sequence]] = []

    @property
    def accepting(self) -> bool:
        return not self.closed and not self.broker_down

    def _refuse_reason(self) -> str | None:
        if self.closed:
            return "the service is stopping; retry on another instance or after the restart"
        if self.broker_down:
            return "the Kafka broker is down; it is being restarted"
        return None

    def _gate(self) -> None:
        reason = self._refuse_reason()
        if reason is not None:
            metrics.INGEST_REFUSED.labels("stopping" if self.closed else "broker_down").inc()
            raise IngestUnavailable(f"not accepting events: {reason}", retry_after=self.retry_after_s)

    @asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Step 1 for a whole request: refused at once when closed; ``wait_idle`` waits for the others."""
        self._gate()
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def submit(self, messages: Sequence) -> None:
        """Steps 1-4; returns when the messages are safe (see the module docstring)."""
        if not messages:
            return
        self._gate()
        ticket = None
        if self.log is not None:
            started = time.perf_counter()
            try:
                ticket = await self.log.append(messages)
            except IngestStorageFull:
                metrics.INGEST_REFUSED.labels("storage_full").inc()
                raise
            metrics.INGEST_LOG_FLUSH_LATENCY.observe(time.perf_counter() - started)
        try:
            offsets = await asyncio.wait_for(self.publisher.publish(messages), self.ack_timeout_s)
        except Exception as exc:  # noqa: BLE001 - any produce failure: not acknowledged
            if ticket is not None:
                self._unacked.append((ticket, messages))
            metrics.INGEST_REFUSED.labels("broker_unavailable").inc()
            detail = "no acknowledgement within ack_timeout_s" if isinstance(exc, asyncio.TimeoutError) else repr(exc)
            raise IngestUnavailable(f"Kafka did not acknowledge the events ({detail}); resending is safe",
                                    retry_after=self.retry_after_s) from None
        if ticket is not None:
            self.log.published(ticket, offsets)

    async def republish(self) -> int:
        """Publish what the log holds but Kafka never acknowledged (after a failed produce); returns messages."""
        done = 0
        while self._unacked and not self.broker_down:
            ticket, messages = self._unacked[0]
            offsets = await asyncio.wait_for(self.publisher.publish(messages), self.ack_timeout_s)
            self.log.published(ticket, offsets)
            self._unacked.pop(0)
            done += len(messages)
        return done

    def forget_unacked(self) -> None:
        """A new broker epoch replays every segment: nothing is left to republish one by one."""
        self._unacked.clear()

    def close(self) -> None:
        """Stop accepting (graceful stop): new requests get 503, those in flight finish."""
        self.closed = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight; False if some still are after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False


async def replay_log(ingest_log: IngestLog, publisher: Publisher,
                     progress: Callable[[int, int], None] | None = None, chunk: int = 256) -> int:
    """Publish every segment not acknowledged in this broker epoch, oldest first; returns events replayed.

    Order within a segment is kept, so each partition sees its messages in the order they were
    accepted. ``progress(events_done, events_total)`` is called after each chunk.
    """
    segments = ingest_log.to_replay()
    batches = [(seq, ingest_log.read(seq)) for seq in segments]
    total = sum(m.count for _, messages in batches for m in messages)
    done = 0
    for seq, messages in batches:
        offsets: list[tuple[str, int, int]] = []
        for i in range(0, len(messages), chunk):
            part = messages[i:i + chunk]
            offsets.extend(await publisher.publish(part))
            done += sum(m.count for m in part)
            if progress is not None:
                progress(done, total)
        ingest_log.replayed(seq, offsets)
        metrics.INGEST_LOG_REPLAYED.inc(sum(m.count for m in messages))
    return done
