"""Starts the services of one process: local broker, warehouse, Faust worker, API, demo traffic.

``cxpulse up`` runs all of them in one process (chDB allows one process per
data path, so the worker and the API share one ``Warehouse``); ``cxpulse
worker`` and ``cxpulse api`` run one each against Kafka and a ClickHouse server.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cxpulse.broker import LocalBroker, ensure_topics
from cxpulse.config import ApiKey, Settings
from ingest.pseudonymize import Pseudonymizer
from schemas.records import topic_names
from warehouse.client import Warehouse
from warehouse.migrate import migrate

log = logging.getLogger("cxpulse")

DEMO_TENANT = "demo"


@dataclass
class RunOptions:
    api: bool = True
    worker: bool = True
    allow_local_broker: bool = False
    demo: bool = False
    demo_rate_per_hour: float = 6000.0
    demo_backfill_hours: float = 3.0


def _secret_file(path: Path, nbytes: int) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def prepare_settings(settings: Settings, opts: RunOptions) -> Settings:
    """Fill in what the embedded default may generate; refuse what production must set."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.pseudonym_key:
        if not (opts.allow_local_broker or settings.embedded_warehouse):
            raise SystemExit("CXPULSE_PSEUDONYM_KEY must be set (a secret of at least 16 characters)")
        settings.pseudonym_key = _secret_file(settings.data_dir / "pseudonym.key", 32)
    if opts.allow_local_broker and opts.api:
        if not settings.dev_api_key:
            settings.dev_api_key = _secret_file(settings.data_dir / "dev-api.key", 24)
        settings.api.keys[settings.dev_api_key] = ApiKey(tenant=DEMO_TENANT, scopes=["ingest", "read", "admin"])
    if opts.api and not settings.api.keys:
        raise SystemExit("no API keys configured: set CXPULSE_API__KEYS or CXPULSE_API__KEYS_FILE")
    return settings


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
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka.bootstrap
        if not bootstrap:
            if not opts.allow_local_broker:
                raise SystemExit("CXPULSE_KAFKA_BOOTSTRAP is not set")
            broker = LocalBroker(settings.kafka.local_port, settings.data_dir / "tansu.log").start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap
            # `cxpulse status` and `cxpulse replay` on this machine find the local broker here.
            (settings.data_dir / "broker").write_text(bootstrap + "\n")
            stack.callback((settings.data_dir / "broker").unlink, missing_ok=True)
            settings.kafka.tansu = True
            log.info("started local Tansu broker at %s", bootstrap)
        names = list(topic_names(settings.kafka.topic_prefix).values())
        await asyncio.to_thread(ensure_topics, bootstrap, names, settings.kafka.partitions,
                                settings.kafka.replication_factor)

        if settings.embedded_warehouse and not (opts.api and opts.worker):
            log.warning("embedded chDB at %s: only this process may open it; run `cxpulse worker` and "
                        "`cxpulse api` separately against a ClickHouse server (CXPULSE_WAREHOUSE_DSN)",
                        settings.warehouse_dsn)
        warehouse = await asyncio.to_thread(Warehouse.open, settings.warehouse_dsn, settings.warehouse.database)
        stack.callback(warehouse.close)
        await asyncio.to_thread(migrate, warehouse)
        pseudonymizer = Pseudonymizer(settings.pseudonym_key.encode())

        tasks: list[asyncio.Task] = []
        if opts.worker:
            faust_app = await _start_worker(settings, bootstrap, warehouse, pseudonymizer)
            stack.push_async_callback(faust_app.stop)
            if not opts.api and settings.stream.metrics_port:
                from prometheus_client import start_http_server

                start_http_server(settings.stream.metrics_port, addr=settings.api.host)
            tasks.append(asyncio.create_task(
                _timers(settings, bootstrap, warehouse, stop), name="timers"))
        if opts.api:
            server = await _start_api(settings, bootstrap, warehouse, stack)
            tasks.append(asyncio.create_task(server.serve(), name="api"))
            while not server.started:
                if tasks[-1].done():
                    tasks[-1].result()
                await asyncio.sleep(0.05)
            url = f"http://{settings.api.host}:{settings.api.port}"
            print(f"CX Pulse API on {url}  (OpenAPI: {url}/docs)", flush=True)
            if settings.dev_api_key and opts.allow_local_broker:
                print(f"development API key (tenant {DEMO_TENANT!r}): {settings.dev_api_key}", flush=True)
                print(f"live board: {url}/board/#token={settings.dev_api_key}", flush=True)
            if opts.demo:
                tasks.append(asyncio.create_task(_demo_traffic(settings, url, opts, stop), name="demo"))
        _tune_gc()
        if ready is not None:
            ready.set()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            if t.done() and t.exception():
                log.error("%s stopped: %r", t.get_name(), t.exception())
        stop.set()  # also when a task ended first: every loop below watches it
        if opts.api:
            server.should_exit = True
        for t in tasks:
            t.cancel() if t.get_name() == "demo" else None
        await asyncio.gather(*tasks, return_exceptions=True)
        waiter.cancel()


async def _start_worker(settings: Settings, bootstrap: str, warehouse: Warehouse, pseudonymizer: Pseudonymizer):
    from stream_processors import agents, topics
    from stream_processors.app import create_app
    from stream_processors.checkpoint import Checkpointer
    from stream_processors.case_agent import register_case_agent
    from stream_processors.webhook_agent import register_webhook_agent
    from stream_processors.windows import WindowSize

    app = create_app(settings, bootstrap)
    declared = topics.declare(app, settings)
    checkpointer = Checkpointer(
        warehouse=warehouse,
        views=[tuple(v) for v in settings.stream.views],
        sizes=[WindowSize(s) for s in settings.stream.window_sizes],
        grace_ms=settings.stream.grace_s * 1000,
        interaction_cache=settings.stream.interaction_cache,
    )
    agents.register(app, declared, checkpointer, settings, pseudonymizer)
    register_webhook_agent(app, declared, settings, warehouse)
    if settings.cases.enabled:
        register_case_agent(app, declared, settings, warehouse)
    await app.start()
    return app


async def _timers(settings: Settings, bootstrap: str, warehouse: Warehouse, stop: asyncio.Event) -> None:
    """Alert evaluation and case escalation next to the stream processors; notifications go to Kafka."""
    from alerts.evaluator import run_evaluator
    from ingest.publisher import Publisher
    from stream_processors.case_agent import run_escalations

    publisher = Publisher(bootstrap, settings.kafka.max_record_bytes)
    await publisher.start()
    try:
        loops = [run_evaluator(settings, warehouse, publisher, stop)]
        if settings.cases.enabled:
            loops.append(run_escalations(settings, warehouse, publisher, stop))
        await asyncio.gather(*loops)
    finally:
        await publisher.stop()


async def _start_api(settings: Settings, bootstrap: str, warehouse: Warehouse,
                     stack: AsyncExitStack):
    import uvicorn

    from api.deps import Services
    from api.main import create_api
    from ingest.pipeline import IngestPipeline
    from ingest.publisher import Publisher

    publisher = Publisher(bootstrap, settings.kafka.max_record_bytes)
    await publisher.start()
    stack.push_async_callback(publisher.stop)
    ingest = IngestPipeline(settings.api.ingest_processes)
    stack.callback(ingest.close)
    services = Services(settings, warehouse, publisher, ingest)
    await ingest.warm_up(services.batch_spec(DEMO_TENANT))
    api = create_api(services)
    config = uvicorn.Config(api, host=settings.api.host, port=settings.api.port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the runtime owns SIGINT/SIGTERM
    return server


async def _demo_traffic(settings: Settings, url: str, opts: RunOptions, stop: asyncio.Event) -> None:
    """Backfill a few hours of realistic traffic, then keep it flowing live (``cxpulse simulate``'s)."""
    from tqdm import tqdm

    from cxpulse.simulate import SimulationPlan, simulate

    plan = SimulationPlan(api_url=url, keys={DEMO_TENANT: settings.dev_api_key},
                          rate_per_hour=opts.demo_rate_per_hour, backfill=timedelta(hours=opts.demo_backfill_hours))
    print(f"demo: {opts.demo_backfill_hours:g} h of history, then live traffic at ~{opts.demo_rate_per_hour:.0f} "
          f"contacts/h (weekly average). Try:\n"
          f"  curl -H 'Authorization: Bearer {settings.dev_api_key}' "
          f"'{url}/v1/kpis?metric=nps&window=1h&group_by=channel'", flush=True)
    with tqdm(desc="demo events posted", unit="ev") as bar:
        await simulate(plan, stop, progress=lambda _tenant, n: bar.update(n))
