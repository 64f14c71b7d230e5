"""Starts, watches and stops the services of one process: local broker, warehouse, Faust worker, API.

``cxpulse up`` runs all of them in one process (chDB allows one process per
data path, so the worker and the API share one ``Warehouse``); ``cxpulse
worker`` and ``cxpulse api`` run one each against Kafka and a ClickHouse server.

The lifecycle of ``cxpulse up`` (``Stack``):

1. **Start.** Local broker (unless one is configured), topics, warehouse and
   migrations; the ingest log is opened and every segment a previous run left
   is replayed into the broker (``ingest.admission.replay_log``); then the
   worker, the alert and case timers, and the API.
2. **Watch.** The local broker is checked every
   ``lifecycle.broker_watch_every_s``; if it died, ingest answers 503 and
   ``/readyz`` says so, the worker is stopped, the broker restarted on the
   same port, the ingest log replayed into it, and a new worker started.
   Stored segments of the ingest log are deleted as the worker's consumer
   group commits past them.
3. **Stop** (first SIGTERM/SIGINT, or ``stop``). Ingest stops accepting
   (503 with ``Retry-After``, ``/readyz`` not ready), requests in flight
   finish, the worker drains the ingest log into the warehouse (progress in
   the log) for at most ``lifecycle.drain_timeout_s``, then everything stops
   and the process exits 0. A second signal exits at once: what the log holds
   is replayed on the next start.

The Faust worker and the timers are in ``cxpulse.worker``; the secrets a local
run generates and the demo traffic in ``cxpulse.local_dev``.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from contextlib import AsyncExitStack

from core import metrics
from cxpulse.broker import GroupOffsets, LocalBroker, ensure_topics
from cxpulse.local_dev import DEMO_TENANT, demo_traffic, prepare_settings
from cxpulse.options import RunOptions
from cxpulse.worker import Worker, run_timers
from core.settings import Settings
from ingest.admission import Admission, replay_log
from ingest.log import IngestLog
from ingest.pseudonymize import Pseudonymizer
from core.topics import topic_names
from warehouse.client import Warehouse
from warehouse.migrate import migrate
from warehouse.retention import apply_retention

log = logging.getLogger("cxpulse")


def _tune_gc() -> None:
    """Collect young garbage less often.

    The worker keeps hundreds of thousands of long-lived, acyclic objects (window
    cells, the interaction cache); with CPython's default thresholds, repeated full
    collections scanned them all and cost ~15% of the process's CPU under load.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def run(settings: Settings, opts: RunOptions, ready: asyncio.Event | None = None,
              stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``, for embedding in tests); ``ready`` is set once serving."""
    settings = prepare_settings(settings, opts)
    stack = Stack(settings, opts)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stack.on_signal, sig, stop)
    async with AsyncExitStack() as exits:
        await stack.start(exits)
        _tune_gc()
        if ready is not None:
            ready.set()
        await stack.serve(stop)


class Stack:
    """The services of one process and their lifecycle (module docstring, steps 1-3)."""

    def __init__(self, settings: Settings, opts: RunOptions) -> None:
        self.settings = settings
        self.opts = opts
        self.broker: LocalBroker | None = None
        self.bootstrap = settings.kafka.bootstrap
        self.ingest_log: IngestLog | None = None
        self.admission: Admission | None = None
        self.offsets: GroupOffsets | None = None
        self.worker: Worker | None = None
        self.tasks: list[asyncio.Task] = []
        self.background: list[asyncio.Task] = []  # watchdog and log keeper: they outlive the drain
        self.server = None
        self._timers_stop = asyncio.Event()  # set last: timers and demo traffic run through the drain

    # -- 1. start -------------------------------------------------------------------------
    async def start(self, exits: AsyncExitStack) -> None:
        settings, opts = self.settings, self.opts
        if not self.bootstrap:
            if not opts.allow_local_broker:
                raise SystemExit("CXPULSE_KAFKA_BOOTSTRAP is not set")
            self.broker = LocalBroker(settings.kafka.local_port, settings.data_dir / "tansu.log",
                                      pid_file=settings.data_dir / "broker.pid").start()
            exits.callback(self.broker.stop)
            self.bootstrap = self.broker.bootstrap
            # `cxpulse status` and `cxpulse replay` on this machine find the local broker here.
            (settings.data_dir / "broker").write_text(self.bootstrap + "\n")
            exits.callback((settings.data_dir / "broker").unlink, missing_ok=True)
            settings.kafka.tansu = True
            log.info("started local Tansu broker at %s", self.bootstrap)
        await self._ensure_topics()
        metrics.BROKER_UP.set(1)
        if not settings.kafka.tansu:  # server mode: does the cluster keep what a 202 promises?
            from cxpulse.durability import broker_durability_warnings

            names = list(topic_names(settings.kafka.topic_prefix).values())
            for warning in await asyncio.to_thread(broker_durability_warnings, self.bootstrap, names, settings):
                log.warning("kafka durability: %s", warning)

        if settings.embedded_warehouse and not (opts.api and opts.worker):
            log.warning("embedded chDB at %s: only this process may open it; run `cxpulse worker` and "
                        "`cxpulse api` separately against a ClickHouse server (CXPULSE_WAREHOUSE_DSN)",
                        settings.warehouse_dsn)
        warehouse = await asyncio.to_thread(Warehouse.open, settings.warehouse_dsn, settings.warehouse.database)
        exits.callback(warehouse.close)
        await asyncio.to_thread(migrate, warehouse)
        await asyncio.to_thread(apply_retention, warehouse, settings.retention)  # after the migrations
        self.warehouse = warehouse
        pseudonymizer = Pseudonymizer(settings.pseudonym_key.encode())

        publisher = None
        if opts.api:
            from notifications.producer import Publisher

            publisher = Publisher(self.bootstrap, settings.kafka.max_record_bytes, idempotent=not settings.kafka.tansu)
            await publisher.start()
            exits.push_async_callback(publisher.stop)
            if settings.ingest_log_on:
                cfg = settings.ingest_log
                self.ingest_log = IngestLog(settings.data_dir / "ingest-log", segment_bytes=cfg.segment_bytes,
                                            max_bytes=cfg.max_bytes, fsync=cfg.fsync).open()
                exits.callback(self.ingest_log.close)
                self.offsets = GroupOffsets(self.bootstrap, settings.stream.app_id)
                exits.callback(self.offsets.close)
                await self._replay(publisher, "start")
            self.admission = Admission(publisher, self.ingest_log, ack_timeout_s=settings.ingest_log.ack_timeout_s,
                                       retry_after_s=settings.ingest_log.retry_after_s)

        if opts.worker:
            self.worker = Worker(settings, self.bootstrap, warehouse, pseudonymizer)
            await self.worker.start()
            exits.push_async_callback(self.worker.stop)
            if not opts.api and settings.stream.metrics_port:
                from prometheus_client import start_http_server

                start_http_server(settings.stream.metrics_port, addr=settings.api.host)
            self.tasks.append(asyncio.create_task(
                run_timers(settings, self.bootstrap, warehouse, self._timers_stop), name="timers"))
        if self.broker is not None:
            self.background.append(asyncio.create_task(self._watch_broker(), name="broker-watchdog"))
        if self.ingest_log is not None:
            self.background.append(asyncio.create_task(self._keep_log(), name="ingest-log-keeper"))
        if opts.api:
            await self._start_api(publisher, exits)

    async def _ensure_topics(self) -> None:
        names = list(topic_names(self.settings.kafka.topic_prefix).values())
        await asyncio.to_thread(ensure_topics, self.bootstrap, names, self.settings.kafka.partitions,
                                self.settings.kafka.replication_factor)

    async def _replay(self, publisher, why: str) -> None:
        assert self.ingest_log is not None
        if not self.ingest_log.to_replay():
            return
        started, last = time.monotonic(), [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] >= 1 or done == total:
                last[0] = time.monotonic()
                log.info("replaying the ingest log into the broker (%s): %d / %d events", why, done, total)

        events = await replay_log(self.ingest_log, publisher, progress)
        log.info("replayed %d events from the ingest log in %.1f s (already stored ones are skipped by the "
                 "ledger)", events, time.monotonic() - started)

    async def _start_api(self, publisher, exits: AsyncExitStack) -> None:
        import uvicorn

        from api.deps import Services
        from api.main import create_api
        from ingest.pipeline import IngestPipeline

        settings = self.settings
        ingest = IngestPipeline(settings.api.ingest_processes)
        exits.callback(ingest.close)
        services = Services(settings, self.warehouse, publisher, ingest, admission=self.admission)
        assert services.keys is not None  # stored keys' last use: written every api.key_last_used_flush_s and
        # when this task is cancelled at the end of `serve`, before the warehouse closes
        self.background.append(asyncio.create_task(services.keys.run_flusher(), name="api-key-last-use"))
        await ingest.warm_up(services.batch_spec(DEMO_TENANT))
        config = uvicorn.Config(create_api(services), host=settings.api.host, port=settings.api.port,
                                log_level="warning", access_log=False, lifespan="off")
        self.server = server = uvicorn.Server(config)
        # The runtime owns SIGINT/SIGTERM: uvicorn would stop serving at once (no 503s, no /readyz while
        # draining) and raise the signal again when it is done (older releases: install_signal_handlers).
        server.install_signal_handlers = lambda: None
        server.capture_signals = contextlib.nullcontext
        self.tasks.append(asyncio.create_task(server.serve(), name="api"))
        while not server.started:
            if self.tasks[-1].done():
                self.tasks[-1].result()
            await asyncio.sleep(0.05)
        url = f"http://{settings.api.host}:{settings.api.port}"
        print(f"CX Pulse API on {url}  (OpenAPI: {url}/docs)", flush=True)
        if settings.dev_api_key and self.opts.allow_local_broker:
            print(f"development API key (tenant {DEMO_TENANT!r}): {settings.dev_api_key}", flush=True)
            print(f"live board: {url}/board/#token={settings.dev_api_key}", flush=True)
        if self.opts.demo:
            self.tasks.append(asyncio.create_task(demo_traffic(settings, url, self.opts, self._timers_stop),
                                                  name="demo"))

    # -- 2. watch -------------------------------------------------------------------------
    async def _watch_broker(self) -> None:
        assert self.broker is not None
        every = self.settings.lifecycle.broker_watch_every_s
        while True:
            await asyncio.sleep(every)
            if self.broker.alive():
                continue
            log.error("the local broker died (exit code %s): ingest answers 503 while it is restarted, the "
                      "ingest log replayed into it and the worker reconnected", self.broker.returncode)
            metrics.BROKER_UP.set(0)
            if self.admission is not None:
                self.admission.broker_down = True
            if self.worker is not None:
                self.worker.detach()
            backoff = every
            while True:
                try:
                    self.broker.start()
                    await self._ensure_topics()
                    if self.worker is not None:  # stopped before the replay: it never sees the new epoch
                        await self.worker.stop()
                    if self.ingest_log is not None:
                        self.ingest_log.begin_epoch()
                        self.admission.forget_unacked()
                        self.offsets.close()
                        await self._replay(self.admission.publisher, "broker restart")
                    if self.worker is not None:
                        await self.worker.start()
                    break
                except Exception:  # noqa: BLE001 - keep trying: the process is useless without a broker
                    log.exception("restarting the local broker failed; retrying in %.1f s", backoff)
                    if self.worker is not None:
                        await self.worker.stop()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
            metrics.BROKER_RESTARTS.inc()
            metrics.BROKER_UP.set(1)
            if self.admission is not None:
                self.admission.broker_down = False
                self.admission.broker_restarts += 1
            log.warning("local broker restarted at %s; ingest accepts again", self.bootstrap)

    async def _trim_once(self) -> None:
        assert self.ingest_log is not None and self.offsets is not None and self.admission is not None
        if not self.admission.broker_down:
            committed = await asyncio.to_thread(self.offsets.committed)
            await asyncio.to_thread(self.ingest_log.trim, committed)
            await self.admission.republish()
        metrics.INGEST_LOG_BYTES.set(self.ingest_log.size_bytes)
        metrics.INGEST_LOG_PENDING.set(self.ingest_log.pending_events)

    async def _keep_log(self) -> None:
        every = self.settings.ingest_log.trim_every_s
        while True:
            try:
                await self._trim_once()
            except Exception as exc:  # noqa: BLE001 - a failed round only delays trimming
                log.warning("ingest log: trimming failed (%r); retrying", exc)
            await asyncio.sleep(every)

    # -- 3. stop --------------------------------------------------------------------------
    def on_signal(self, sig: signal.Signals, stop: asyncio.Event) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now; the ingest log is replayed on the next start", sig.name)
            if self.broker is not None:
                self.broker.kill()
            os._exit(128 + sig.value)
        log.warning("%s: stopping (ingest refuses new events, the worker drains the ingest log for at most "
                    "%.0f s; a second signal exits at once)", sig.name, self.settings.lifecycle.drain_timeout_s)
        stop.set()

    async def serve(self, stop: asyncio.Event) -> None:
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *self.tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in self.tasks:
            if t.done() and not t.cancelled() and t.exception():
                log.error("%s stopped: %r", t.get_name(), t.exception())
        try:
            await self._drain()
        finally:
            self._timers_stop.set()
            if self.server is not None:
                self.server.should_exit = True
            for t in self.tasks:
                t.cancel() if t.get_name() == "demo" else None
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for t in self.background:
                t.cancel()
            await asyncio.gather(*self.background, return_exceptions=True)
            waiter.cancel()

    async def _drain(self) -> None:
        """Stop accepting, let requests finish, wait for the warehouse to hold the ingest log."""
        cfg = self.settings.lifecycle
        deadline = time.monotonic() + cfg.drain_timeout_s
        for t in self.tasks:
            if t.get_name() == "demo":
                t.cancel()
        if self.admission is None:
            return
        self.admission.close()
        if not await self.admission.wait_idle(max(deadline - time.monotonic(), 0.0)):
            log.warning("requests still in flight at the drain deadline")
        if self.ingest_log is None or self.worker is None:
            return
        last_report = 0.0
        while True:
            try:
                await self.worker.commit()  # acked offsets now, not at Faust's next commit tick
                await self._trim_once()
            except Exception as exc:  # noqa: BLE001
                log.warning("draining: %r", exc)
            left = self.ingest_log.pending_events
            if left == 0:
                log.info("drained: the warehouse holds every acknowledged event")
                return
            now = time.monotonic()
            if now >= deadline:
                log.warning("drain timeout (lifecycle.drain_timeout_s=%.0f): %d events stay in the ingest log "
                            "and are replayed on the next start", cfg.drain_timeout_s, left)
                return
            if now - last_report >= 1.0:
                last_report = now
                log.info("draining: %d events in the ingest log not yet in the warehouse (%.0f s left)",
                         left, deadline - now)
            await asyncio.sleep(0.25)
