"""The ingest log on a real file system: what was acknowledged is read back, whatever cut the writes."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ingest.log import IngestLog, LoggedMessage, Ticket
from notifications import OutgoingMessage
from core.errors import IngestStorageFull


def _msg(i: int, topic: str = "cx.touchpoints.v1", partition: int = 0, count: int = 3) -> OutgoingMessage:
    return OutgoingMessage(topic, partition, f"acme:{partition}".encode(), f'[{{"n":{i}}}]'.encode() * (i % 5 + 1),
                           count)


def _logged(m: OutgoingMessage) -> LoggedMessage:
    return LoggedMessage(m.topic, m.partition, m.key, m.value, m.count)


def _read_all(directory: Path) -> list[LoggedMessage]:
    log = IngestLog(directory).open()
    return [m for seq in log.to_replay() for m in log.read(seq)]


async def test_appended_messages_are_read_back_in_order_after_a_restart(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, segment_bytes=1 << 16).open()
    messages = [_msg(i, partition=i % 3) for i in range(500)]
    for i in range(0, 500, 50):
        await log.append(messages[i:i + 50])
    log.close()
    assert _read_all(tmp_path) == [_logged(m) for m in messages]
    assert IngestLog(tmp_path).open().pending_events == 500 * 3


async def test_concurrent_appends_share_flushes_and_keep_their_own_tickets(tmp_path: Path, monkeypatch) -> None:
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd)))
    log = IngestLog(tmp_path).open()
    tickets = await asyncio.gather(*(log.append([_msg(i), _msg(i + 1)]) for i in range(0, 200, 2)))
    assert all(t == Ticket(1, 2) for t in tickets)
    assert 1 <= len(syncs) < 100, "100 requests flushed together need fewer than 100 syncs"
    log.close()
    assert len(_read_all(tmp_path)) == 200


async def test_a_torn_write_at_the_end_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    log = IngestLog(tmp_path).open()
    await log.append([_msg(1), _msg(2)])
    log.close()
    (segment,) = tmp_path.glob("*.log")
    whole = segment.stat().st_size
    with open(segment, "ab") as fh:  # a crash in the middle of the next write
        fh.write(b"\x00\x00\x01\x00garbage")
    assert _read_all(tmp_path) == [_logged(_msg(1)), _logged(_msg(2))]
    assert segment.stat().st_size == whole


@hsettings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12), cut=st.floats(0, 1))
def test_a_cut_anywhere_keeps_exactly_the_whole_frames_before_it(tmp_path_factory, sizes: list[int],
                                                                  cut: float) -> None:
    """Property: truncating the file at any byte (a power cut) reads back a prefix of the appends,
    and every append whose bytes all lie before the cut is in it."""
    directory = tmp_path_factory.mktemp("cut")

    async def write() -> list[list[OutgoingMessage]]:
        log = IngestLog(directory, segment_bytes=1 << 30).open()
        requests = []
        for r, n in enumerate(sizes):
            request = [_msg(r * 10 + i, partition=i % 2) for i in range(n)]
            await log.append(request)
            requests.append(request)
        log.close()
        return requests

    requests = asyncio.run(write())
    (segment,) = directory.glob("*.log")
    size = segment.stat().st_size
    keep = int(size * cut)
    os.truncate(segment, keep)
    got = _read_all(directory)
    flat = [_logged(m) for request in requests for m in request]
    assert got == flat[:len(got)]
    from ingest.log import encode_frame
    whole, total = 0, 0
    for m in flat:
        total += len(encode_frame(m.topic, m.partition, m.key, m.value, m.count))
        if total <= keep:
            whole += 1
    assert len(got) == whole


async def test_trim_deletes_a_segment_only_once_every_offset_is_committed(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, segment_bytes=60).open()
    t1 = await log.append([_msg(1, partition=0), _msg(2, partition=1)])
    t2 = await log.append([_msg(3, partition=0)])  # rotates: a second segment
    assert t1.segment != t2.segment
    log.published(t1, [("cx.touchpoints.v1", 0, 10), ("cx.touchpoints.v1", 1, 4)])
    log.published(t2, [("cx.touchpoints.v1", 0, 11)])
    assert log.trim({("cx.touchpoints.v1", 0): 11, ("cx.touchpoints.v1", 1): 4}) == 0  # partition 1 at 4: not past
    assert log.trim({("cx.touchpoints.v1", 0): 11, ("cx.touchpoints.v1", 1): 5}) == 1
    assert log.segments == 1 and log.pending_events == 3
    assert log.trim({("cx.touchpoints.v1", 0): 12}) == 1  # the idle active segment is sealed and deleted
    assert log.segments == 0 and list(tmp_path.glob("*.log")) == []


async def test_unpublished_messages_block_trim_and_a_new_epoch_replays_everything(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, segment_bytes=60).open()
    t1 = await log.append([_msg(1)])
    await log.append([_msg(2)])  # never acknowledged by Kafka
    log.published(t1, [("cx.touchpoints.v1", 0, 0)])
    assert log.trim({("cx.touchpoints.v1", 0): 100}) == 1
    assert log.segments == 1
    log.begin_epoch()  # the broker came back empty
    (seq,) = log.to_replay()
    assert log.read(seq) == [_logged(_msg(2))]
    log.replayed(seq, [("cx.touchpoints.v1", 0, 0)])
    assert log.to_replay() == []
    assert log.trim({("cx.touchpoints.v1", 0): 1}) == 1 and log.segments == 0


async def test_a_log_at_max_bytes_refuses_without_writing(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, max_bytes=1 << 20).open()
    big = OutgoingMessage("cx.touchpoints.v1", 0, b"k", b"x" * 600_000, 1)
    await log.append([big])
    with pytest.raises(IngestStorageFull, match=r"holds \d+ bytes, its limit \(ingest_log.max_bytes\) is 1048576"):
        await log.append([big])
    assert log.pending_events == 1


async def test_a_full_disk_is_refused_and_the_log_stays_readable(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: the real error of a full disk."""
    log = IngestLog(tmp_path).open()
    await log.append([_msg(1)])
    log.close()
    log = IngestLog(tmp_path).open()  # next segment is 2; make it the full disk
    (tmp_path / f"{2:020d}.log").symlink_to("/dev/full")
    with pytest.raises(IngestStorageFull, match="No space left on device; nothing was acknowledged"):
        await log.append([_msg(2)])
    (tmp_path / f"{2:020d}.log").unlink(missing_ok=True)
    assert _read_all(tmp_path) == [_logged(_msg(1))]
