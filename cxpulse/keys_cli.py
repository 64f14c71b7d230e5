"""``cxpulse keys create|list|rotate|revoke``: stored API keys, through the HTTP API.

Why through the API and not the warehouse (as ``cxpulse rules|targets``, ``cxpulse.config_as_code``):
in the embedded mode one process owns the chDB data path, so only the running stack can write to
it; and the API is where the rules live (an admin key acts for its own tenant only, the audit log
names the key that acted, and a change takes effect at once in that API process).

The first key is created with a settings-file admin key (``api.keys`` / ``api.keys_file``, or the
development key of ``cxpulse up``): ``--token``, else ``CXPULSE_TOKEN``, else the dev key.

``create`` and ``rotate`` print the new key alone on stdout (so ``KEY=$(cxpulse keys create ...)``
works) and what it is on stderr; it is shown this once, only its hash is stored.

Exit codes: 0 ok, 1 the API refused or is unreachable, 2 usage (bad arguments, no API key).
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from clients.simulate import parse_duration
from cxpulse.config_as_code import EXIT_ERROR, EXIT_OK, EXIT_USAGE, ApiError, call_api

__all__ = ["add_commands", "run"]

_EXIT_CODES = "exit codes: 0 ok, 1 API refused or unreachable, 2 usage"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="stored API keys: create, list, rotate, revoke (through the API)",
                       epilog=_EXIT_CODES)
    ps = p.add_subparsers(dest="keys_command", required=True)
    cr = ps.add_parser("create", help="create a key for the admin key's tenant; prints it once", epilog=_EXIT_CODES)
    cr.add_argument("--name", required=True, help="what the key is for")
    cr.add_argument("--scope", action="append", choices=["ingest", "read", "admin"], dest="scopes",
                    help="repeatable; default: read")
    when = cr.add_mutually_exclusive_group()
    when.add_argument("--expires-at", help="ISO-8601 time from which the key is refused")
    when.add_argument("--expires-in", help="e.g. 90d, 12h: from now on this machine's clock")
    cr.add_argument("--rate-per-s", type=float, help="this key's own rate limit (requests/s per API process)")
    cr.add_argument("--burst", type=int, help="this key's own burst")
    ps.add_parser("list", help="the tenant's keys, without secrets", epilog=_EXIT_CODES)
    ro = ps.add_parser("rotate", help="replace a key by a new one (printed once); the old one is revoked",
                       epilog=_EXIT_CODES)
    ro.add_argument("key_id")
    ro.add_argument("--grace", default="0", help="how long the old key keeps working, e.g. 10m (default: 0)")
    rv = ps.add_parser("revoke", help="revoke a key now", epilog=_EXIT_CODES)
    rv.add_argument("key_id")
    for q in (cr, ps.choices["list"], ro, rv):
        q.add_argument("--api-url", "--api", dest="api_url", help="API base URL (default: this machine's configured API)")
        q.add_argument("--token", "--key", dest="token",
                       help="API key with the admin scope (default: CXPULSE_TOKEN, else the dev key)")


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": args.name, "scopes": args.scopes or ["read"]}
    if args.expires_in:
        body["expires_at"] = (datetime.now(timezone.utc) + parse_duration(args.expires_in)).isoformat()
    elif args.expires_at:
        body["expires_at"] = datetime.fromisoformat(args.expires_at.replace("Z", "+00:00")).isoformat()
    if args.rate_per_s is not None:
        body["rate_per_s"] = args.rate_per_s
    if args.burst is not None:
        body["burst"] = args.burst
    return body


def _announce(key: dict[str, Any], verb: str, err: TextIO) -> None:
    expiry = f", expires {key['expires_at']}" if key.get("expires_at") else ", no expiry"
    print(f"{verb} key {key['key_id']} {key['name']!r} (tenant {key['tenant']}, scopes "
          f"{','.join(key['scopes'])}{expiry}). It is shown only now: store it.", file=err)


def _table(keys: list[dict[str, Any]]) -> str:
    cols = ("key_id", "name", "scopes", "state", "created_at", "last_used_at", "expires_at", "revoked_at")
    rows = [[",".join(k[c]) if c == "scopes" else str(k[c] or "-") for c in cols] for k in keys]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def run(args: argparse.Namespace, api_url: str, token: str | None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    """Run one ``keys`` command; returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    if not token:
        print("no API key: pass --token or set CXPULSE_TOKEN (an admin key of api.keys for the first one)",
              file=err)
        return EXIT_USAGE
    try:
        body = _create_body(args) if args.keys_command == "create" else None
        grace_s = int(parse_duration(args.grace).total_seconds()) if args.keys_command == "rotate" else 0
    except ValueError as exc:
        print(f"cxpulse keys {args.keys_command}: {exc}", file=err)
        return EXIT_USAGE
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        try:
            if args.keys_command == "create":
                key = call_api(api, "POST", "/v1/api-keys", json=body).json()
                _announce(key, "created", err)
                out.write(key["key"] + "\n")
            elif args.keys_command == "list":
                out.write(_table(call_api(api, "GET", "/v1/api-keys").json()["data"]))
            elif args.keys_command == "rotate":
                key = call_api(api, "POST", f"/v1/api-keys/{quote(args.key_id, safe='')}/rotate", json={"grace_s": grace_s}).json()
                _announce(key, f"rotated {args.key_id} (refused {'now' if not grace_s else f'in {grace_s} s'}) to",
                          err)
                out.write(key["key"] + "\n")
            else:
                call_api(api, "DELETE", f"/v1/api-keys/{quote(args.key_id, safe='')}")
                print(f"revoked key {args.key_id}", file=err)
        except ApiError as exc:
            print(f"error: {exc}", file=err)
            return EXIT_ERROR
    return EXIT_OK
