"""The ingest log: what a 202 stands on when the broker keeps messages in memory only.

An append-only log of the Kafka messages ingest produces, in segment files
under ``<data_dir>/ingest-log/``. ``append`` returns once the messages are
written and flushed (``fdatasync``), so they survive a kill of the process
group, a crash of the broker and a restart; ``ingest.admission`` calls it
before it publishes, and answers 202 only after both.

* **Group commit.** Requests that arrive while a flush runs are written and
  flushed together by the next one: one ``write`` + ``fdatasync`` for all of
  them, off the event loop.
* **Frames.** ``length u32 | crc32 u32 | body``; the body is
  ``version u8 | topic | partition u32 | key | events u32 | value``. A torn
  frame at the end of the last segment (a write cut by a crash, never
  acknowledged) is truncated away when the log is opened.
* **Replay.** Every segment left by a previous run (or by a broker that lost
  its memory) is published again (``replay``); the ledger's dedup by event key
  makes a replay of already counted events harmless.
* **Trim.** A segment is deleted once every message in it was acknowledged by
  Kafka *in the current broker epoch* and the stream processors' consumer
  group committed past its offsets (Faust commits an offset only after the
  warehouse holds the batch).
* **Full disk.** A write that fails (``ENOSPC``, ``EIO``) is cut back, and the
  request gets ``IngestStorageFull``; so does an append that would take the
  log past ``max_bytes`` (the worker is far behind).
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from core.errors import IngestStorageFull
from notifications.messages import OutgoingMessage

__all__ = ["IngestLog", "LoggedMessage", "Ticket"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")  # body length, crc32 of the body
_VERSION = 1
_SUFFIX = ".log"

TopicPartition = tuple[str, int]


#: One Kafka message as logged and replayed: the message ingest published, field for field.
LoggedMessage = OutgoingMessage


class Ticket(NamedTuple):
    """Where an append landed, to report its Kafka offsets back with ``published``."""

    segment: int
    messages: int


@dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    messages: int = 0
    events: int = 0
    sealed: bool = False
    #: messages written but not yet acknowledged by Kafka in this broker epoch
    unpublished: int = 0
    #: highest Kafka offset of this segment's messages per (topic, partition), this epoch
    high: dict[TopicPartition, int] = field(default_factory=dict)


def encode_frame(topic: str, partition: int, key: bytes | None, value: bytes, count: int) -> bytes:
    t = topic.encode()
    k = key or b""
    body = b"".join((struct.pack(">BH", _VERSION, len(t)), t, struct.pack(">IH", partition, len(k)), k,
                     struct.pack(">I", count), value))
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes) -> LoggedMessage:
    version, tlen = struct.unpack_from(">BH", body, 0)
    if version != _VERSION:
        raise ValueError(f"unknown ingest log frame version {version}")
    pos = 3
    topic = body[pos:pos + tlen].decode()
    pos += tlen
    partition, klen = struct.unpack_from(">IH", body, pos)
    pos += 6
    key = body[pos:pos + klen]
    pos += klen
    (count,) = struct.unpack_from(">I", body, pos)
    return LoggedMessage(topic, partition, key, body[pos + 4:], count)


def _scan(path: Path) -> tuple[list[LoggedMessage], int]:
    """The whole frames of a segment and the byte length they span (a torn tail is left out)."""
    data = path.read_bytes()
    messages: list[LoggedMessage] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        body = data[pos + _HEADER.size:end]
        if end > len(data) or zlib.crc32(body) != crc:
            break
        messages.append(_decode_body(body))
        pos = end
    return messages, pos


class IngestLog:
    """Segments of flushed Kafka messages; see the module docstring for the guarantee.

    Thread use: appends are flushed by one flusher at a time in a worker thread;
    ``published`` and ``trim`` take the same lock for the bookkeeping only.
    """

    def __init__(self, directory: Path, *, segment_bytes: int = 64 << 20, max_bytes: int = 2 << 30,
                 fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._segments: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._writing = False
        self._pending: list[tuple[bytes, int, int, asyncio.Future]] = []
        self._pending_bytes = 0
        self._flusher: asyncio.Task | None = None
        self._next_seq = 1

    # -- opening and replay -------------------------------------------------------------
    def open(self) -> "IngestLog":
        """Find the segments a previous run left (all to be replayed); cut a torn tail off the last."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.directory.glob(f"*{_SUFFIX}"))
        for path in paths:
            seq = int(path.stem)
            messages, good = _scan(path)
            size = path.stat().st_size
            if good < size:
                log.warning("ingest log %s: %d bytes of a torn write at the end cut off (never acknowledged)",
                            path.name, size - good)
                with open(path, "r+b") as fh:
                    fh.truncate(good)
            if not messages:
                path.unlink()
                continue
            self._segments[seq] = _Segment(seq, path, good, len(messages), sum(m.count for m in messages),
                                           sealed=True, unpublished=len(messages))
            self._next_seq = max(self._next_seq, seq + 1)
        return self

    def begin_epoch(self) -> None:
        """The broker forgot everything (restart of an in-memory broker): every segment is to replay."""
        with self._lock:
            for seg in self._segments.values():
                seg.high.clear()
                seg.unpublished = seg.messages
            if self._active is not None:
                self._seal_active()

    def to_replay(self) -> list[int]:
        """Segments holding messages not acknowledged by Kafka in this epoch, oldest first."""
        with self._lock:
            return sorted(s.seq for s in self._segments.values() if s.sealed and s.unpublished)

    def read(self, seq: int) -> list[LoggedMessage]:
        messages, _ = _scan(self._segments[seq].path)
        return messages

    def replayed(self, seq: int, offsets: Sequence[tuple[str, int, int]]) -> None:
        """Offsets Kafka gave the messages of segment ``seq`` replayed in this epoch."""
        with self._lock:
            seg = self._segments[seq]
            self._record(seg, offsets)
            seg.unpublished = 0

    # -- appending ----------------------------------------------------------------------
    async def append(self, messages: Sequence) -> Ticket:
        """Write ``messages`` (``OutgoingMessage``s) and flush them; returns when they are on disk.

        Raises ``IngestStorageFull`` when the disk refuses the write or the log is at ``max_bytes``.
        """
        payload = b"".join(encode_frame(m.topic, m.partition, m.key, m.value, m.count) for m in messages)
        if self.size_bytes + self._pending_bytes + len(payload) > self.max_bytes:
            raise IngestStorageFull(
                f"ingest log at {self.directory} holds {self.size_bytes} bytes, its limit "
                f"(ingest_log.max_bytes) is {self.max_bytes}: the stream processors are behind; retry later")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((payload, len(messages), sum(m.count for m in messages), future))
        self._pending_bytes += len(payload)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_pending())
        return await future

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self._pending_bytes -= sum(len(p) for p, *_ in batch)
            try:
                tickets = await asyncio.to_thread(self._write, [(p, n, e) for p, n, e, _ in batch])
            except OSError as exc:
                error = IngestStorageFull(f"ingest log at {self.directory} cannot be written: "
                                          f"{os.strerror(exc.errno) if exc.errno else exc}; nothing was acknowledged")
                log.error("%s", error)
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(error)
                continue
            for (*_, fut), ticket in zip(batch, tickets):
                if not fut.done():
                    fut.set_result(ticket)

    def _write(self, batch: list[tuple[bytes, int, int]]) -> list[Ticket]:
        """One flush (worker thread): every request's frames into one segment, one write, one sync."""
        with self._lock:
            self._writing = True
            try:
                seg = self._active_segment(sum(len(p) for p, _, _ in batch))
                fd, start = self._fd, seg.size
            except BaseException:
                self._writing = False
                raise
        data = b"".join(p for p, _, _ in batch)
        try:
            _write_all(fd, data)
            if self.fsync:
                os.fdatasync(fd)
        except OSError:
            try:  # never leave a torn frame before the next one
                os.ftruncate(fd, start)
            except OSError:
                log.exception("ingest log: could not cut back a failed write; sealing %s", seg.path.name)
                with self._lock:
                    seg.size = os.fstat(fd).st_size
                    self._seal_active()
            with self._lock:
                self._writing = False
            raise
        with self._lock:
            self._writing = False
            seg.size += len(data)
            for _, n, events in batch:
                seg.messages += n
                seg.events += events
                seg.unpublished += n
        return [Ticket(seg.seq, n) for _, n, _ in batch]

    def _active_segment(self, incoming: int) -> _Segment:
        """The segment to write to (under the lock): a new one past ``segment_bytes``."""
        seg = self._active
        if seg is not None and seg.size and seg.size + incoming > self.segment_bytes:
            self._seal_active()
            seg = None
        if seg is None:
            seq = self._next_seq
            self._next_seq += 1
            path = self.directory / f"{seq:020d}{_SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                start = os.fstat(fd).st_size
                if start:
                    os.ftruncate(fd, 0)
                if self.fsync:  # the new file's directory entry must survive a power loss too
                    _fsync_dir(self.directory)
            except OSError:
                os.close(fd)
                raise
            seg = self._active = _Segment(seq, path)
            self._segments[seq] = seg
            self._fd = fd
        return seg

    def _seal_active(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._active is not None:
            self._active.sealed = True
            if not self._active.messages:
                self._segments.pop(self._active.seq, None)
                self._active.path.unlink(missing_ok=True)
            self._active = None

    # -- acknowledgements and trimming --------------------------------------------------
    def published(self, ticket: Ticket, offsets: Sequence[tuple[str, int, int]]) -> None:
        """Kafka acknowledged the messages of ``ticket`` at ``offsets`` ((topic, partition, offset) each)."""
        with self._lock:
            seg = self._segments.get(ticket.segment)
            if seg is not None:
                self._record(seg, offsets)
                seg.unpublished -= ticket.messages

    @staticmethod
    def _record(seg: _Segment, offsets: Sequence[tuple[str, int, int]]) -> None:
        for topic, partition, offset in offsets:
            tp = (topic, partition)
            if offset > seg.high.get(tp, -1):
                seg.high[tp] = offset

    def trim(self, committed: dict[TopicPartition, int]) -> int:
        """Delete the segments whose every message the consumer group committed past; returns how many.

        ``committed`` is the group's committed offset per (topic, partition): the next
        offset it will read, so a message at offset *o* is stored once ``committed > o``.
        An idle active segment that is wholly stored is sealed and deleted too.
        """
        deleted = 0
        with self._lock:
            for seg in sorted(self._segments.values(), key=lambda s: s.seq):
                done = (seg.unpublished == 0 and seg.messages > 0
                        and all(committed.get(tp, 0) > off for tp, off in seg.high.items()))
                if not done:
                    continue
                if seg is self._active:
                    if self._writing:
                        continue
                    self._seal_active()
                    if seg.seq not in self._segments:
                        continue
                self._segments.pop(seg.seq)
                seg.path.unlink(missing_ok=True)
                deleted += 1
        return deleted

    # -- state --------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments.values())

    @property
    def pending_events(self) -> int:
        """Events in the log not yet known to be stored (what a restart would replay)."""
        with self._lock:
            return sum(s.events for s in self._segments.values())

    @property
    def segments(self) -> int:
        with self._lock:
            return len(self._segments)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._active is not None:
                self._active.sealed = True
                self._active = None



def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
