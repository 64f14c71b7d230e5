"""`cxpulse up` as users run it (its own Tansu broker, chDB, worker, API) in a child process group.

For the fault tests: start it, kill it (the whole group, or only its broker),
post events the way a careful client does (resend until acknowledged), and read
every counter per (hour, channel) back through the API.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from tests.helpers import expected_kpis, parse_ms

DEV_KEY = "durability-dev-key-0123456789"
HOUR_MS = 3_600_000
COUNTERS = ("touchpoints", "invitations", "invitations_answered", "responses", "promoters", "passives",
            "detractors", "csat_top2", "csat_n", "ces_sum", "ces_n", "fcr_yes", "fcr_n")


class EmbeddedStack:
    """One data directory and port; ``start`` after a kill is the user's restart."""

    def __init__(self, data_dir: Path, port: int, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = data_dir.parent / f"{data_dir.name}-up.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
        self.env.update({
            "CXPULSE_DATA_DIR": str(data_dir), "CXPULSE_API_PORT": str(port), "CXPULSE_DEV_API_KEY": DEV_KEY,
            "CXPULSE_LOG_LEVEL": "INFO", **env,
        })
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                   headers={"Authorization": f"Bearer {DEV_KEY}"})

    def start(self, timeout_s: float = 90) -> None:
        with open(self.log, "ab") as out:
            # Its own process group, as a shell gives a command: killpg reaches cxpulse and its pool.
            self.proc = subprocess.Popen([sys.executable, "-m", "cxpulse.cli", "up"], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cxpulse up exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"cxpulse up not ready within {timeout_s}s:\n{self.tail()}")

    def broker_pid(self) -> int:
        return int((self.data_dir / "broker.pid").read_text())

    def kill_group(self) -> int:
        """kill -9 of the whole process group; returns the broker child's pid (which must die too)."""
        assert self.proc is not None
        broker = self.broker_pid()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return broker

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 90) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout_s)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.client.close()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def metric(self, name: str) -> float:
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def cells(self, start: str, end: str) -> dict:
        """Every counter per (hour, channel), read through the API."""
        cells: dict = {}
        for metric in ("volume", "response_rate", "nps", "csat", "ces", "fcr"):
            resp = self.client.get("/v1/kpis", params={"metric": metric, "window": "1h", "group_by": "channel",
                                                       "from": start, "to": end})
            assert resp.status_code == 200, resp.text
            for p in resp.json()["data"]:
                cell = cells.setdefault((parse_ms(p["window_start"]), p["group"]["channel"]), {})
                cell.update(p["counts"])
        return {k: {c: int(cell.get(c, 0)) for c in COUNTERS} for k, cell in cells.items()
                if any(cell.get(c, 0) for c in COUNTERS)}


def expected_cells(events: list[dict]) -> dict:
    want = expected_kpis(events, HOUR_MS, "channel")
    return {k: {c: int(t.get(c, 0)) for c in COUNTERS} for k, t in want.items()}


def wait_for_cells(stack: EmbeddedStack, want: dict, start: str, end: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        got = stack.cells(start, end)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(1)


class Poster(threading.Thread):
    """Posts NDJSON batches as fast as the API takes them; resends each until it gets its 202.

    A batch that got no 202 (connection reset by a kill, 503 while stopping or while the
    broker restarts) is sent again, as the 503's `Retry-After` invites; the ledger counts
    every event id once, so the final counts equal the events, exactly.
    """

    def __init__(self, port: int, events: list[dict], batch: int = 1000) -> None:
        super().__init__(daemon=True)
        self.bodies = [b"\n".join(orjson.dumps(e) for e in events[i:i + batch])
                       for i in range(0, len(events), batch)]
        self.port = port
        self.acknowledged = 0  # batches answered 202
        self.refused: dict[str, int] = {}
        self.error: BaseException | None = None
        self.first_202 = threading.Event()

    def run(self) -> None:
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                              headers={"Authorization": f"Bearer {DEV_KEY}",
                                       "Content-Type": "application/x-ndjson"}) as client:
                for body in self.bodies:
                    while True:
                        try:
                            resp = client.post("/v1/events", content=body)
                        except httpx.TransportError as exc:
                            self.refused[type(exc).__name__] = self.refused.get(type(exc).__name__, 0) + 1
                            time.sleep(0.2)
                            continue
                        if resp.status_code == 202:
                            assert resp.json()["rejected"] == [], resp.text
                            break
                        assert resp.status_code == 503 and resp.headers.get("retry-after"), \
                            (resp.status_code, resp.text)
                        self.refused["503"] = self.refused.get("503", 0) + 1
                        time.sleep(0.2)
                    self.acknowledged += 1
                    self.first_202.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    @property
    def done(self) -> bool:
        return self.acknowledged == len(self.bodies)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
