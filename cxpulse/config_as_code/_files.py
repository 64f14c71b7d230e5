"""Config files: validated whole with the API's own models, every error reported with its path in the file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ConfigDict, ValidationError, create_model

from core.aspects import UNCHECKED  # the API checks aspect names against its configuration
from cxpulse.config_as_code._resources import Record, Resource


class ConfigFileError(ValueError):
    """The file is not valid; ``errors`` lists every (path in the file, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


def format_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    """``('rules', 2, 'window')`` -> ``rules[2].window`` (a dict key's own error: the key's path)."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
        parsed = model.model_validate(raw, context=UNCHECKED)
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
