"""kill -9 the all-in-one process mid-stream, restart it: every window is still exact."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cxpulse.broker import free_port
from tests.e2e.test_pipeline_e2e import HOUR_MS, _dataset
from tests.helpers import expected_kpis, parse_ms

pytestmark = [pytest.mark.e2e]

DEV_KEY = "crash-test-dev-key-123456"
COUNTERS = ("touchpoints", "invitations", "responses", "promoters", "passives", "detractors",
            "csat_top2", "csat_n", "ces_sum", "ces_n", "fcr_yes", "fcr_n", "invitations_answered",
            "tp_abandoned", "tp_abandoned_n", "tp_wait_ds", "tp_wait_ds2", "tp_handle_n", "tp_handle_ds2",
            "answers_positive", "answers_negative")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cxpulse.cli", "up"], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def _wait_ready(client: httpx.Client, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cxpulse up exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("not ready in time")


def _processed(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("cxpulse_records_processed_total "):
            return float(line.split()[1])
    return 0.0


def _cells(client: httpx.Client) -> dict:
    """Every counter per (hour, channel), read through the API."""
    cells: dict = {}
    for metric in ("volume", "response_rate", "nps", "csat", "ces", "fcr", "abandonment_rate", "wait_time",
                   "handle_time", "pos_neg_ratio"):
        body = client.get("/v1/kpis", params={"metric": metric, "window": "1h", "group_by": "channel",
                                              "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"}).json()
        for p in body["data"]:
            cell = cells.setdefault((parse_ms(p["window_start"]), p["group"]["channel"]), {})
            cell.update(p["counts"])
    return cells


def test_kill_9_mid_stream_then_restart_keeps_windows_exact(broker, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CXPULSE_DATA_DIR": str(tmp_path / "data"),
        "CXPULSE_KAFKA_BOOTSTRAP": broker.bootstrap,
        "CXPULSE_KAFKA__TANSU": "true",
        "CXPULSE_KAFKA__TOPIC_PREFIX": f"crash{uuid.uuid4().hex[:6]}",
        "CXPULSE_STREAM__APP_ID": f"crash-{uuid.uuid4().hex[:6]}",
        # The broker here survives the kill (server mode): Kafka holds the backlog, no ingest log to replay.
        # The embedded default, whose broker dies too, is tests/e2e/test_durability.py.
        "CXPULSE_INGEST_LOG__ENABLED": "off",
        "CXPULSE_STREAM__BATCH_RECORDS": "2",  # many small commits: seconds of work, so the kill lands mid-stream
        "CXPULSE_API_PORT": str(port),
        "CXPULSE_DEV_API_KEY": DEV_KEY,
        "CXPULSE_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "up.log"
    events = _dataset()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {DEV_KEY}"})
    proc = _start(env, log)
    try:
        _wait_ready(client, proc, log)
        for i in range(0, len(events), 500):
            resp = client.post("/v1/events", json=events[i:i + 500],
                               headers={"Content-Type": "application/cloudevents-batch+json"})
            assert resp.status_code == 202 and resp.json()["rejected"] == []
        deadline = time.monotonic() + 60
        while _processed(client) < len(events) * 0.2:
            assert time.monotonic() < deadline, "worker made no progress"
            time.sleep(0.05)
        before_kill = _processed(client)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert before_kill < len(events), "the kill must land mid-stream"

        proc = _start(env, log)
        _wait_ready(client, proc, log)
        expected = expected_kpis(events, HOUR_MS, "channel")
        want = {k: {c: int(t.get(c, 0)) for c in COUNTERS} for k, t in expected.items()}
        deadline = time.monotonic() + 300  # 2-record batches: minutes of commits on a busy machine
        while True:
            got = {k: {c: int(cell.get(c, 0)) for c in COUNTERS} for k, cell in _cells(client).items()}
            got = {k: v for k, v in got.items() if any(v.values())}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert got == want
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        client.close()
