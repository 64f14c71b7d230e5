"""The field-by-field diff of a file against the server, and its text rendering."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from cxpulse.config_as_code._resources import Record


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
