"""`cxpulse` command line: up, worker, api, migrate, broker."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from pydantic import ValidationError


def _settings():
    from cxpulse.config import Settings

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
    br = sub.add_parser("broker", help="run a local Tansu broker in the foreground")
    br.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)

    settings = _settings()
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

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        statements = migrate(Warehouse.open(settings.warehouse_dsn, settings.warehouse.database), args.dry_run)
        for stmt in statements:
            print(stmt.strip() + ";\n")
        print(f"{len(statements)} statement(s) {'pending' if args.dry_run else 'applied'}")
    elif args.command == "broker":
        from cxpulse.broker import LocalBroker

        broker = LocalBroker(args.port).start()
        print(f"Tansu broker on {broker.bootstrap} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            broker.stop()


if __name__ == "__main__":
    main()
