"""A 202 is a promise: `cxpulse up` on its own in-memory broker loses nothing it acknowledged.

Each test runs the README's main command in a child process group with its own Tansu
broker (no CXPULSE_KAFKA_BOOTSTRAP), posts 50k+ generated events as fast as the API
takes them, breaks something, and checks every counter per (hour, channel) through
the API against an independent computation from the posted CloudEvents.
"""
from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cxpulse.broker import free_port
from clients.simulator import ContactCenterSimulator
from tests.e2e.embedded import EmbeddedStack, Poster, expected_cells, pid_alive, wait_for_cells

pytestmark = [pytest.mark.e2e]

START = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 2, 11, 0, tzinfo=timezone.utc)
FROM, TO = "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"


def _events(seed: int, n: int = 52_000) -> list[dict]:
    events = ContactCenterSimulator(seed=seed, rate_per_hour=7_000).generate(START, END)
    assert len(events) >= n, len(events)
    return events[:n]


def _assert_dies(pid: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"broker child {pid} outlived its parent"
        time.sleep(0.05)


@contextmanager
def _posting(tmp_path: Path, events: list[dict], **env: str) -> Iterator[tuple[EmbeddedStack, Poster]]:
    """``cxpulse up`` started (its own data directory and port) and a poster posting ``events`` to it;
    the stack is closed afterwards."""
    stack = EmbeddedStack(tmp_path / "data", free_port(), **env)
    poster = Poster(stack.port, events)
    try:
        stack.start()
        poster.start()
        yield stack, poster
    finally:
        stack.close()


def test_kill_9_of_the_process_group_at_random_points_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    events = _events(seed=41)
    with _posting(tmp_path, events) as (stack, poster):
        assert poster.first_202.wait(60), stack.tail()
        # Random points of the stream: after a random number of acknowledged batches, plus a random
        # fraction of a batch's time, so kills land before, during and after a request's log write.
        points = sorted(rng.sample(range(2, len(poster.bodies) - 2), 5))
        kills = []
        for point in points:
            point = max(point, kills[-1] + 1) if kills else point  # at least one 202 between two kills
            while poster.acknowledged < point and poster.is_alive():
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.1))
            kills.append(poster.acknowledged)
            broker = stack.kill_group()
            _assert_dies(broker)  # the broker child dies with its parent (parent-death signal)
            stack.start()
        poster.join(300)
        assert poster.error is None, poster.error
        assert poster.done, f"{poster.acknowledged}/{len(poster.bodies)} batches acknowledged"
        assert len(set(kills)) == len(kills) and kills[-1] < len(poster.bodies), \
            f"every kill must land mid-stream: batches acknowledged at each kill {kills}"
        want = expected_cells(events)
        got = wait_for_cells(stack, want, FROM, TO)
        assert got == want
        assert stack.metric("cxpulse_ingest_log_replayed_events_total") > 0, "the restart replayed the log"


def test_sigterm_right_after_the_last_202_drains_then_restart_counts_everything(tmp_path: Path) -> None:
    events = _events(seed=43)
    with _posting(tmp_path, events) as (stack, poster):
        poster.join(300)
        assert poster.error is None and poster.done, poster.error
        broker = stack.broker_pid()
        code = stack.stop(signal.SIGTERM)
        assert code == 0, stack.tail()
        assert "drained: the warehouse holds every acknowledged event" in stack.tail(20_000), stack.tail()
        _assert_dies(broker)
        assert list((stack.data_dir / "ingest-log").glob("*.log")) == [], "a drained log is empty"
        stack.start()
        want = expected_cells(events)
        assert wait_for_cells(stack, want, FROM, TO) == want


def test_sigterm_refuses_new_events_with_503_while_draining(tmp_path: Path) -> None:
    events = _events(seed=44, n=20_000)
    # A worker this slow keeps the drain going long enough to be watched.
    with _posting(tmp_path, events, CXPULSE_STREAM__BATCH_RECORDS="1") as (stack, poster):
        poster.join(300)
        assert poster.error is None and poster.done
        stack.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while stack.client.get("/readyz").status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ready = stack.client.get("/readyz").json()
        assert ready["checks"]["accepting"] is False and ready["status"] == "not ready"
        resp = stack.client.post("/v1/events", json=[])
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert resp.json() == {"detail": "not accepting events: the service is stopping; retry on another "
                                         "instance or after the restart"}
        assert stack.proc.wait(120) == 0, stack.tail()


def test_broker_child_killed_mid_stream_is_restarted_and_nothing_is_lost(tmp_path: Path) -> None:
    events = _events(seed=47)
    with _posting(tmp_path, events) as (stack, poster):
        assert poster.first_202.wait(60)
        time.sleep(1.0)
        first = stack.broker_pid()
        import os
        os.kill(first, signal.SIGKILL)
        at_kill = poster.acknowledged
        poster.join(300)
        assert poster.error is None and poster.done, poster.error
        assert at_kill < len(poster.bodies), "the broker must die mid-stream"
        assert stack.broker_pid() != first and pid_alive(stack.broker_pid())
        want = expected_cells(events)
        assert wait_for_cells(stack, want, FROM, TO) == want
        ready = stack.client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["checks"]["broker_restarts"] == 1
        assert stack.proc.poll() is None, "the process survived its broker"
