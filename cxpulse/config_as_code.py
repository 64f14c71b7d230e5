"""Configuration as code: ``cxpulse rules|targets apply|export`` over the HTTP API.

Why through the API and not the warehouse: in the embedded mode one process
owns the chDB data path, so only the running stack can write to it; the API
also applies the server's own checks (servable scopes, rule limits).

Files (``deploy/config/*.example.yaml``)::

    tenant: demo          # optional; when given it must be the API key's tenant
    rules: [ {id: ..., name: ..., metric: ..., ...}, ... ]     # or `targets: [...]`

Apply:

1. Validate the whole file with the API's own models (``alerts.rules.Rule``,
   ``schemas.gaps.TargetIn``, both with unknown fields forbidden). Every error
   is reported with its path in the file (``rules[2].window``); nothing changes.
2. Read the server state and diff it against the file, field by field on
   ``model_dump`` (new rule fields are diffed without code here): added,
   changed (``field: old -> new``), removed, unchanged.
3. Rules: ask the server to check every added or changed rule
   (``PUT ...?dry_run=true``), so server-side errors also change nothing.
4. Unless ``--dry-run``: delete (only with ``--prune``; otherwise the server's
   extra entries are left and reported), then put changed, then added.

Applying the same file twice changes nothing the second time (and if an API
error stops an apply part-way, applying again converges). ``export`` prints
the server state in the file format, so export -> apply is a no-op.

Exit codes: 0 ok (including "no changes"), 1 invalid file, tenant mismatch or
API error, 2 usage (bad arguments, unreadable file, no API key).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, TextIO

import httpx
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from alerts.rules import Rule
from core.dimensions import DIMENSIONS
from schemas.gaps import TargetIn

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "ApiError", "Change", "ConfigFileError", "Diff", "RULES",
           "Resource", "TARGETS", "add_commands", "apply", "diff", "export", "format_loc", "load_file", "render",
           "run"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

Record = dict[str, Any]  # one rule or target as ``model_dump(mode="json")``, normalized


class ConfigFileError(ValueError):
    """The file is not valid; ``errors`` lists every (path in the file, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


class ApiError(RuntimeError):
    """The API was unreachable (``status`` 0) or refused a request (``detail``: its answer)."""

    def __init__(self, message: str, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


def format_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    """``('rules', 2, 'window')`` -> ``rules[2].window`` (a dict key's own error: the key's path)."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- resources ------------------------------------------------------------------------
class _TargetEntry(TargetIn):
    """A target in a file: the API body, with unknown (misspelt) fields rejected."""

    model_config = ConfigDict(extra="forbid")


def _iso_ms(dt: datetime | None) -> str | None:
    """UTC, millisecond precision: what the warehouse keeps, so file and server compare equal."""
    if dt is None:
        return None
    ms = int(dt.astimezone(timezone.utc).timestamp() * 1000)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class Resource:
    """What differs between rules and targets: the model, the identity and the endpoints."""

    name: ClassVar[str]  # the file's list key and the command name
    model: ClassVar[type[BaseModel]]

    def record(self, item: BaseModel) -> Record:
        return item.model_dump(mode="json")

    def key(self, rec: Record) -> str:
        raise NotImplementedError

    def from_server(self, item: dict[str, Any]) -> Record:
        """A server item as a record; fields the client's model does not know are dropped."""
        try:
            return self.record(self.model.model_validate({k: v for k, v in item.items()
                                                          if k in self.model.model_fields}))
        except ValidationError as exc:  # a newer server: better stop than diff against a guess
            raise ApiError(f"the server's {self.name} include one this client cannot read ({item}): {exc}") from None

    def list(self, api: httpx.Client) -> list[Record]:
        raise NotImplementedError

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        raise NotImplementedError

    def delete(self, api: httpx.Client, rec: Record) -> None:
        raise NotImplementedError

    checks_on_server: ClassVar[bool] = False  # put(dry_run=True) validates beyond the model


class _Rules(Resource):
    name = "rules"
    model = Rule
    checks_on_server = True

    def key(self, rec: Record) -> str:
        return rec["id"]

    def list(self, api: httpx.Client) -> list[Record]:
        return [self.from_server(r) for r in _call(api, "GET", "/v1/alert-rules").json()["data"]]

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        body = {k: v for k, v in rec.items() if k != "id"}
        _call(api, "PUT", f"/v1/alert-rules/{rec['id']}", json=body, params={"dry_run": "true"} if dry_run else None)

    def delete(self, api: httpx.Client, rec: Record) -> None:
        _call(api, "DELETE", f"/v1/alert-rules/{rec['id']}")


class _Targets(Resource):
    name = "targets"
    model = _TargetEntry

    def record(self, item: BaseModel) -> Record:
        rec = item.model_dump(mode="json")
        rec["scope"] = {d: rec["scope"][d] for d in DIMENSIONS if d in rec["scope"]}
        rec["valid_from"], rec["valid_to"] = _iso_ms(item.valid_from), _iso_ms(item.valid_to)
        return rec

    def key(self, rec: Record) -> str:
        scope = ",".join(f"{d}={v}" for d, v in rec["scope"].items())
        return f"{rec['metric']}{{{scope}}} from {rec['valid_from']}"

    def list(self, api: httpx.Client) -> list[Record]:
        return [self.from_server(t) for t in _call(api, "GET", "/v1/targets").json()["data"]]

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        if not dry_run:  # the model is all the server checks
            _call(api, "PUT", "/v1/targets", json=rec)

    def delete(self, api: httpx.Client, rec: Record) -> None:
        _call(api, "DELETE", "/v1/targets",
              params={"metric": rec["metric"], "valid_from": rec["valid_from"], **rec["scope"]})


RULES, TARGETS = _Rules(), _Targets()
RESOURCES: dict[str, Resource] = {r.name: r for r in (RULES, TARGETS)}


# -- files ------------------------------------------------------------------------------
@dataclass
class ConfigFile:
    tenant: str | None
    records: list[Record]  # in file order


def load_file(text: str, resource: Resource) -> ConfigFile:
    """Validate a whole file; every error at once in ``ConfigFileError``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError([("", f"not valid YAML: {exc}")]) from None
    name = resource.name
    if not isinstance(raw, dict):
        raise ConfigFileError([("", f"expected a mapping with a `{name}:` list (and optionally `tenant:`)")])
    model = create_model(f"{name.title()}File", __config__=ConfigDict(extra="forbid"),
                         tenant=(str | None, None), **{name: (list[resource.model], ...)})
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigFileError([(format_loc(e["loc"]), e["msg"].removeprefix("Value error, "))
                               for e in exc.errors()]) from None
    records = [resource.record(item) for item in getattr(parsed, name)]
    errors, first = [], {}
    for i, rec in enumerate(records):
        k = resource.key(rec)
        if k in first:
            errors.append((f"{name}[{i}]", f"duplicate of {name}[{first[k]}] ({k})"))
        first.setdefault(k, i)
    if errors:
        raise ConfigFileError(errors)
    return ConfigFile(parsed.tenant, records)


# -- diff ---------------------------------------------------------------------------------
@dataclass
class Change:
    key: str
    fields: dict[str, tuple[Any, Any]]  # field -> (server, file)


@dataclass
class Diff:
    """What applying a file does: keys by outcome; ``extra`` = on the server, not in the file."""

    added: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def changes(self, prune: bool) -> int:
        return len(self.added) + len(self.changed) + (len(self.extra) if prune else 0)


def _field_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Changed fields by dotted path; mappings on both sides are compared key by key (``scope.channel``)."""
    out: dict[str, tuple[Any, Any]] = {}
    for f in {**old, **new}:
        a, b = old.get(f), new.get(f)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_field_changes(a, b, f"{prefix}{f}."))
        else:
            out[f"{prefix}{f}"] = (a, b)
    return out


def diff(wanted: dict[str, Record], current: dict[str, Record]) -> Diff:
    """Field-by-field difference of server records (``current``) to file records (``wanted``)."""
    d = Diff()
    for key, rec in wanted.items():
        old = current.get(key)
        if old is None:
            d.added.append(key)
            continue
        fields = _field_changes(old, rec)
        if fields:
            d.changed.append(Change(key, fields))
        else:
            d.unchanged.append(key)
    d.extra = [k for k in current if k not in wanted]
    return d


def _show(value: Any) -> str:
    return orjson.dumps(value).decode() if isinstance(value, (dict, list, str)) or value is None else str(value)


def render(d: Diff, name: str, prune: bool, dry_run: bool, out: TextIO) -> None:
    """The diff as text: ``+`` added, ``~`` changed (``field: old -> new``), ``-`` removed, ``=`` left."""
    for key in d.added:
        print(f"+ {key}", file=out)
    for c in d.changed:
        print(f"~ {c.key}", file=out)
        for f in sorted(c.fields):
            old, new = c.fields[f]
            print(f"    {f}: {_show(old)} -> {_show(new)}", file=out)
    for key in d.extra:
        print(f"- {key}" if prune else f"= {key} (not in the file; kept, --prune deletes it)", file=out)
    removed = len(d.extra) if prune else 0
    summary = (f"{name}: {len(d.added)} added, {len(d.changed)} changed, {removed} removed, "
               f"{len(d.unchanged)} unchanged")
    if not prune and d.extra:
        summary += f", {len(d.extra)} not in the file (kept)"
    n = d.changes(prune)
    outcome = "no changes" if n == 0 else (f"dry run, {n} change(s) not applied" if dry_run else f"{n} change(s) applied")
    print(f"{summary}; {outcome}", file=out)


# -- commands -------------------------------------------------------------------------------
def _call(api: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        r = api.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot reach the API at {api.base_url}: {exc}") from None
    if r.status_code >= 400:
        try:
            body = r.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except ValueError:
            detail = r.text
        raise ApiError(f"{method} {url}: HTTP {r.status_code}: {detail}", r.status_code, detail)
    return r


def _server_tenant(api: httpx.Client) -> str:
    return _call(api, "GET", "/v1/whoami").json()["tenant"]


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
