"""The ``rules``/``targets`` commands: ``apply`` (validate, diff, check on the server, write) and ``export``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import httpx
import yaml

from cxpulse.config_as_code._diff import Diff, diff, render
from cxpulse.config_as_code._files import ConfigFileError, format_loc, load_file
from cxpulse.config_as_code._resources import RESOURCES, ApiError, Record, Resource, call_api

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _server_tenant(api: httpx.Client) -> str:
    return call_api(api, "GET", "/v1/whoami").json()["tenant"]


def _precheck(api: httpx.Client, resource: Resource, records: list[Record], d: Diff) -> None:
    """Let the server check every rule that will be put, before anything is written."""
    pending = set(d.added) | {c.key for c in d.changed}
    errors: list[tuple[str, str]] = []
    for i, rec in enumerate(records):
        if resource.key(rec) not in pending:
            continue
        try:
            resource.put(api, rec, dry_run=True)
        except ApiError as exc:
            at = f"{resource.name}[{i}]"
            if exc.status == 422 and isinstance(exc.detail, list):  # FastAPI's shape: loc ["body", field, ...]
                errors += [(format_loc([at, *e.get("loc", [])[1:]]), e.get("msg", "")) for e in exc.detail]
            elif exc.status in (400, 409, 422):
                errors.append((at, str(exc.detail)))
            else:
                raise
    if errors:
        raise ConfigFileError(errors)


def apply(api: httpx.Client, resource: Resource, text: str, prune: bool, dry_run: bool, out: TextIO) -> Diff:
    """Validate, diff, print the diff and (unless ``dry_run``) apply it; see the module docstring."""
    cfg = load_file(text, resource)
    if cfg.tenant is not None and cfg.tenant != (tenant := _server_tenant(api)):
        raise ApiError(f"the file is for tenant {cfg.tenant!r} but the API key is for tenant {tenant!r}")
    wanted = {resource.key(r): r for r in cfg.records}
    current = {resource.key(r): r for r in resource.list(api)}
    d = diff(wanted, current)
    if resource.checks_on_server:
        _precheck(api, resource, cfg.records, d)
    render(d, resource.name, prune, dry_run, out)
    if not dry_run:
        for key in d.extra if prune else []:
            resource.delete(api, current[key])
        for key in [c.key for c in d.changed] + d.added:
            resource.put(api, wanted[key])
    return d


def export(api: httpx.Client, resource: Resource) -> str:
    """The server state as a file ``apply`` accepts (tenant included, sorted by key)."""
    records = sorted(resource.list(api), key=resource.key)
    return yaml.safe_dump({"tenant": _server_tenant(api), resource.name: records}, sort_keys=False,
                          allow_unicode=True)


_EXIT_CODES = "exit codes: 0 ok (also: no changes), 1 invalid file, tenant mismatch or API error, 2 usage"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``rules`` and ``targets``, each with ``apply`` and ``export``."""
    what = {"rules": "alert rules", "targets": "KPI targets"}
    for name, label in what.items():
        p = sub.add_parser(name, help=f"{label} as code, through the API (exit 0 ok, 1 invalid/API error, 2 usage)",
                           epilog=_EXIT_CODES)
        ps = p.add_subparsers(dest="config_command", required=True)
        ap = ps.add_parser("apply", help=f"make the server's {label} equal FILE: prints the diff, then applies it",
                           epilog=_EXIT_CODES)
        ap.add_argument("file", type=Path)
        ap.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
        ap.add_argument("--prune", action="store_true", help=f"delete server {label} that are not in FILE")
        ex = ps.add_parser("export", help=f"print the server's {label} as YAML that `apply` accepts",
                           epilog=_EXIT_CODES)
        ex.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
        for q in (ap, ex):
            q.add_argument("--api-url", "--api", dest="api_url",
                           help="API base URL (default: this machine's configured API)")
            q.add_argument("--token", "--key", dest="token",
                           help="API key with the admin scope (default: CXPULSE_TOKEN, else the dev key)")


def run(args: argparse.Namespace, api_url: str, token: str | None, out: TextIO | None = None) -> int:
    """Run one ``rules``/``targets`` command; returns the exit code."""
    out = out or sys.stdout
    resource = RESOURCES[args.command]
    if not token:
        print("no API key: pass --token or set CXPULSE_TOKEN", file=sys.stderr)
        return EXIT_USAGE
    text = None
    if args.config_command == "apply":
        try:
            text = args.file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"cannot read {args.file}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        try:
            if text is not None:
                apply(api, resource, text, args.prune, args.dry_run, out)
            elif args.output:
                args.output.write_text(export(api, resource))
            else:
                out.write(export(api, resource))
        except ConfigFileError as exc:
            print(f"invalid {resource.name} file {args.file}, nothing changed:", file=sys.stderr)
            for path, msg in exc.errors:
                print(f"  {path or '(file)'}: {msg}", file=sys.stderr)
            return EXIT_ERROR
        except ApiError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_OK
