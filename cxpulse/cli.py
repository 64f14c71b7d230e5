"""`cxpulse` command line: up, worker, api, migrate, replay, rules, targets, keys, erase, status, broker."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from core import aspects, dimensions
from kpi.counts import configure_experience


def _settings():
    from core.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        sys.exit(f"invalid configuration:\n{exc}")
    except (OSError, ValueError) as exc:  # unreadable or malformed config / keys file
        sys.exit(f"invalid configuration: {exc}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cxpulse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="all-in-one: local broker (unless configured), worker, API, chDB")
    up.add_argument("--demo", action="store_true", help="add a simulated contact center's traffic")
    up.add_argument("--demo-rate", type=float, default=6000.0, help="demo contacts per hour, weekly average (peak hours run higher)")
    sub.add_parser("worker", help="Faust stream processors only")
    sub.add_parser("api", help="HTTP API only")
    mig = sub.add_parser("migrate", help="apply warehouse migrations")
    mig.add_argument("--dry-run", action="store_true")
    bf = sub.add_parser("backfill-view", help="write a view's history from the ledger (a view in stream.pending_views)")
    bf.add_argument("view", help="comma-separated dimensions, e.g. journey_step,segment ('' = overall)")
    bf.add_argument("--tenant", action="append", help="only this tenant (repeatable); default every tenant")
    rp = sub.add_parser("replay", help="import historical events (NDJSON, CSV, Parquet) through the API")
    rp.add_argument("file", type=Path)
    rp.add_argument("--api", help="API base URL (default: this machine's configured API)")
    rp.add_argument("--key", help="API key (default: CXPULSE_DEV_API_KEY or the dev key of `cxpulse up`)")
    rp.add_argument("--batch", type=int, default=1000)
    rp.add_argument("--restart", action="store_true", help="ignore saved progress and start over")
    rp.add_argument("--mapping", choices=["crm-outcomes"],
                    help="read a CRM export CSV (id,time,customer_id,kind,amount,currency,...) as cx.outcome.v1")
    sm = sub.add_parser("simulate", help="post the demo's simulated contact-centre traffic to the API, with incidents")
    sm.add_argument("--api", help="API base URL (default: this machine's configured API)")
    sm.add_argument("--key", action="append", default=[], metavar="[TENANT=]KEY",
                    help="API key of a tenant to simulate; repeat for several tenants (default: the dev key)")
    sm.add_argument("--rate", type=float, default=6000.0, help="contacts per hour per tenant, weekly average")
    sm.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per real second")
    sm.add_argument("--duration", help="simulated time to run, e.g. 30m, 2h (default: until Ctrl-C)")
    sm.add_argument("--backfill", default="0", help="history to post first, e.g. 3h")
    sm.add_argument("--incident", action="append", default=[], metavar="SPEC",
                    help="e.g. 'nps=-4,scope=journey_step:billing+segment:consumer,start=10m,for=45m'; repeatable")
    sm.add_argument("--seed", type=int, default=7)
    from cxpulse.config_as_code import add_commands

    add_commands(sub)  # rules / targets apply|export
    from cxpulse import keys_cli

    keys_cli.add_commands(sub)  # keys create|list|rotate|revoke
    er = sub.add_parser("erase", help="erase one customer's data (POST /v1/erasures; needs an admin key)")
    er.add_argument("customer_id", help="the customer's original id, as producers send it")
    er.add_argument("--api", help="API base URL (default: this machine's configured API)")
    er.add_argument("--key", help="admin API key (default: CXPULSE_DEV_API_KEY or the dev key of `cxpulse up`)")
    er.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every shard to report")
    st = sub.add_parser("status", help="broker, topics, consumer lag, API/warehouse readiness, freshness")
    st.add_argument("--api", help="API base URL (default: this machine's configured API)")
    st.add_argument("--key", help="API key for the freshness check (default: the dev key)")
    br = sub.add_parser("broker", help="run a local Tansu broker in the foreground")
    br.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)

    settings = _settings()
    dimensions.configure(settings.custom_dimensions)  # every command validates scopes and views against them
    configure_experience(settings.experience.bounds())  # positive / negative experiences
    aspects.configure(settings.aspect_inputs())  # the aspects answers may rate (core.aspects)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "faust", "mode", "kafka", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))

    from cxpulse.runtime import RunOptions, run

    if args.command == "up":
        opts = RunOptions(allow_local_broker=True, demo=args.demo, demo_rate_per_hour=args.demo_rate)
        asyncio.run(run(settings, opts))
    elif args.command == "worker":
        asyncio.run(run(settings, RunOptions(api=False, worker=True)))
    elif args.command == "api":
        asyncio.run(run(settings, RunOptions(api=True, worker=False)))
    elif args.command == "migrate":
        from warehouse.client import Warehouse
        from warehouse.migrate import migrate
        from warehouse.retention import apply_retention

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
        # The numbered migrations, then the deployment's retention policy (TTL) on top (warehouse.retention).
        statements = migrate(wh, args.dry_run) + apply_retention(wh, settings.retention, args.dry_run)
        for stmt in statements:
            print(stmt.strip() + ";\n")
        print(f"{len(statements)} statement(s) {'pending' if args.dry_run else 'applied'}")
    elif args.command == "backfill-view":
        sys.exit(asyncio.run(_backfill_view(settings, args)))
    elif args.command == "replay":
        sys.exit(asyncio.run(_replay(settings, args)))
    elif args.command == "simulate":
        sys.exit(asyncio.run(_simulate(settings, args)))
    elif args.command in ("rules", "targets"):
        from cxpulse.config_as_code import run as run_config

        sys.exit(run_config(args, args.api_url or f"http://{settings.api.host}:{settings.api.port}",
                            _api_key(settings, args.token or os.environ.get("CXPULSE_TOKEN"))))
    elif args.command == "keys":
        from cxpulse import keys_cli

        sys.exit(keys_cli.run(args, args.api_url or f"http://{settings.api.host}:{settings.api.port}",
                              _api_key(settings, args.token or os.environ.get("CXPULSE_TOKEN"))))
    elif args.command == "erase":
        sys.exit(_erase(settings, args))
    elif args.command == "status":
        from cxpulse.status import Status, api_status, broker_status, render

        status = Status()
        bootstrap, local = settings.kafka.bootstrap, settings.data_dir / "broker"
        if not bootstrap and local.exists():  # the Tansu broker of a `cxpulse up` on this machine
            bootstrap, settings.kafka.tansu = local.read_text().strip(), True
        if bootstrap:
            broker_status(settings, bootstrap, status)
        else:
            status.errors.append("no broker configured (CXPULSE_KAFKA_BOOTSTRAP) and no `cxpulse up` running here")
        api_status(args.api or f"http://{settings.api.host}:{settings.api.port}", _api_key(settings, args.key), status)
        print(render(status))
        sys.exit(0 if status.ok else 1)
    elif args.command == "broker":
        from cxpulse.broker import LocalBroker

        broker = LocalBroker(args.port).start()
        print(f"Tansu broker on {broker.bootstrap} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            broker.stop()


async def _backfill_view(settings, args: argparse.Namespace) -> int:
    from core.windows import WindowSize
    from warehouse.client import Warehouse
    from warehouse.view_backfill import backfill_view

    view = [d for d in args.view.split(",") if d]
    pending = [sorted(v) for v in settings.stream.pending_views]
    if sorted(view) not in pending and sorted(view) not in [sorted(v) for v in settings.stream.views]:
        print(f"{args.view!r} is in neither stream.pending_views nor stream.views: add it to pending_views and "
              "restart the worker first, so no event reaches a window between the backfill and the worker", file=sys.stderr)
        return 2
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)

    def report(p) -> None:
        print(f"{p.tenant}: day {p.days_done}/{p.days_total} ({p.day_ms // 1000}), {p.rows} rows", flush=True)

    rows = await backfill_view(wh, view, [WindowSize(s) for s in settings.stream.window_sizes], args.tenant, report)
    print(f"backfilled {rows} window rows; move the view to stream.views to read from it")
    return 0


def _api_key(settings, explicit: str | None) -> str | None:
    """An explicit key, else CXPULSE_DEV_API_KEY, else the dev key `cxpulse up` saved."""
    key_file = settings.data_dir / "dev-api.key"
    return explicit or settings.dev_api_key or (key_file.read_text().strip() if key_file.exists() else None)


def _erase(settings, args: argparse.Namespace) -> int:
    """POST the erasure, then poll its status until every shard reported (or ``--timeout``)."""
    import httpx

    key = _api_key(settings, args.key)
    if not key:
        print("no API key: pass --key or set CXPULSE_DEV_API_KEY", file=sys.stderr)
        return 2
    base = args.api or f"http://{settings.api.host}:{settings.api.port}"
    deadline = time.monotonic() + args.timeout
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=settings.erasure.wait_s + 30) as api:
        resp = api.post("/v1/erasures", json={"customer_id": args.customer_id})
        while resp.status_code in (200, 202) and resp.json()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(1.0)
            resp = api.get(f"/v1/erasures/{resp.json()['id']}")
    if resp.status_code not in (200, 202):
        print(f"cxpulse erase: {resp.status_code} {resp.text}", file=sys.stderr)
        return 1
    body = resp.json()
    counts = ", ".join(f"{table} {n}" for table, n in sorted(body["counts"].items()))
    print(f"erasure {body['id']}: {body['status']} ({body['shards_done']}/{body['shards']} shards): {counts}")
    return 0 if body["status"] == "done" else 1


async def _simulate(settings, args: argparse.Namespace) -> int:
    import signal
    from datetime import datetime, timezone

    from tqdm import tqdm

    from clients.simulate import SimulationPlan, parse_duration, parse_incident, simulate

    keys: dict[str, str] = {}
    for i, item in enumerate(args.key or [None]):
        tenant, sep, key = (item or "").rpartition("=")
        key = _api_key(settings, key or None)
        if not key:
            print("no API key: pass --key or set CXPULSE_DEV_API_KEY", file=sys.stderr)
            return 2
        keys[tenant if sep and tenant else f"tenant-{i + 1}" if len(args.key) > 1 else "demo"] = key
    try:
        for spec in args.incident:
            parse_incident(spec, datetime.now(timezone.utc))  # every error before anything is posted
        plan = SimulationPlan(
            api_url=args.api or f"http://{settings.api.host}:{settings.api.port}", keys=keys, rate_per_hour=args.rate,
            speedup=args.speedup, duration=parse_duration(args.duration) if args.duration else None,
            backfill=parse_duration(args.backfill), incidents=tuple(args.incident), seed=args.seed)
    except ValueError as exc:
        print(f"cxpulse simulate: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    with tqdm(unit="ev", desc="simulated events posted") as bar:
        posted = await simulate(plan, stop, progress=lambda _tenant, n: bar.update(n))
    print(", ".join(f"{tenant}: {n} events" for tenant, n in sorted(posted.items())))
    return 0


async def _replay(settings, args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    from clients.replay import count_rows, load_state, replay

    key = _api_key(settings, args.key)
    if not key:
        print("no API key: pass --key or set CXPULSE_DEV_API_KEY", file=sys.stderr)
        return 2
    base = args.api or f"http://{settings.api.host}:{settings.api.port}"
    total = count_rows(args.file, args.mapping)
    done = 0 if args.restart else load_state(args.file).rows_done
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        with tqdm(total=total, initial=min(done, total), unit="row", desc=args.file.name) as bar:
            summary = await replay(args.file, client, args.batch, args.restart, progress=bar, mapping=args.mapping)
    print(f"{summary.rows_done}/{summary.rows_total} rows done (resumed from row {summary.resumed_from}): "
          f"{summary.accepted} accepted, {summary.rejected} rejected"
          + (f" -> {summary.rejects_file}" if summary.rejected else ""))
    return 0


if __name__ == "__main__":
    main()
