"""Generate ``docs/configuration.md`` from ``core.settings.Settings``.

Every row comes from the model itself (field descriptions, types, constraints,
defaults), so the reference cannot drift from the code::

    python -m cxpulse.settings_doc           # (re)write docs/configuration.md
    python -m cxpulse.settings_doc --check   # exit 1 if the file is out of date
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from core.settings import ApiKey, Settings, _ShortAliases

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

ENV_PREFIX: str = Settings.model_config["env_prefix"]  # "CXPULSE_"
NESTED_DELIMITER: str = Settings.model_config["env_nested_delimiter"]  # "__"
CONFIG_FILE_ENV = "CXPULSE_CONFIG_FILE"

#: Example config file for ``CXPULSE_CONFIG_FILE`` (tests load it through Settings).
EXAMPLE_CONFIG_YAML = """\
# cxpulse.yaml: point CXPULSE_CONFIG_FILE at this file.
# Lowest priority: any CXPULSE_* environment variable overrides a value here.
# Keep secrets (pseudonym_key, a DSN with a password) in the environment instead.
data_dir: /var/lib/cxpulse
log_level: INFO
kafka:
  bootstrap: kafka-1:9092,kafka-2:9092,kafka-3:9092
  partitions: 12
  replication_factor: 3
  topic_prefix: cx
  rebalance_timeout_s: 30
  session_timeout_s: 30
  heartbeat_interval_s: 3
warehouse:
  # dsn: set CXPULSE_WAREHOUSE__DSN in the environment (it carries the password)
  database: cxpulse
stream:
  views:
    - []
    - [channel]
    - [segment]
    - [team]
    - [channel, segment]
  window_sizes: [1m, 1h, 1d]
  grace_s: 900
api:
  host: 0.0.0.0
  port: 8000
  keys_file: /run/secrets/cxpulse_api_keys
  min_sample: 30
"""

#: Example API keys file for ``api.keys_file`` (tests validate it with ApiKey).
EXAMPLE_KEYS_YAML = """\
# Bearer token -> tenant and scopes. Generate tokens with e.g.
#   python -c "import secrets; print(secrets.token_urlsafe(32))"
replace-with-a-random-token-for-acme-ingest:
  tenant: acme
  scopes: [ingest]
replace-with-a-random-token-for-acme-dashboards:
  tenant: acme
  scopes: [read]
replace-with-a-random-token-for-acme-ops:
  tenant: acme
  scopes: [ingest, read, admin]
"""

#: The error shown in the doc for ``CXPULSE_KAFKA__PARTITIONS=0`` (a test checks it is real).
EXAMPLE_ERROR_ENV = {"CXPULSE_KAFKA__PARTITIONS": "0"}
EXAMPLE_ERROR_LINES = (
    "kafka.partitions",
    "  Input should be greater than or equal to 1 [type=greater_than_equal, input_value='0', input_type=str]",
)


# -- walking the model ----------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def iter_settings(
    model: type[BaseModel] = Settings, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every leaf setting as (path, field), depth first; nested models are walked, not yielded."""
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from iter_settings(sub, path)
        else:
            yield path, field


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable that sets ``path``, e.g. ``CXPULSE_KAFKA__PARTITIONS``."""
    return ENV_PREFIX + NESTED_DELIMITER.join(p.upper() for p in path)


def short_aliases() -> dict[tuple[str, ...], str]:
    return {tuple(path): env for env, path in _ShortAliases._ALIASES.items()}


# -- formatting -----------------------------------------------------------------


def type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "Literal[" + ", ".join(json.dumps(a) for a in args) + "]"
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"),
           (annotated_types.Le, "le", "<="), (annotated_types.Lt, "lt", "<"))


def constraints(field: FieldInfo) -> list[str]:
    out: list[str] = []
    for meta in field.metadata:
        for cls, attr, sym in _BOUNDS:
            if isinstance(meta, cls):
                out.append(f"{sym} {getattr(meta, attr)}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            out.append(f"pattern `{pattern}`")
    return out


def type_cell(field: FieldInfo) -> str:
    ann, optional = field.annotation, False
    if typing.get_origin(ann) in (Union, types.UnionType) and type(None) in typing.get_args(ann):
        rest = [a for a in typing.get_args(ann) if a is not type(None)]
        ann, optional = (rest[0] if len(rest) == 1 else Union[tuple(rest)]), True
    text = f"`{type_name(ann)}`" + (", optional" if optional else "")
    cons = constraints(field)
    return f"{text}, {', '.join(cons)}" if cons else text


def default_cell(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = TypeAdapter(field.annotation).dump_python(field.get_default(call_default_factory=True), mode="json")
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def _is_json_valued(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (list, dict, set, tuple)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _settings_rows(fields: list[tuple[tuple[str, ...], FieldInfo]]) -> list[list[str]]:
    aliases = short_aliases()
    rows = []
    for path, field in fields:
        env = f"`{env_name(path)}`"
        if _is_json_valued(field.annotation):
            env += " (JSON)"
        if path in aliases:
            env += f"; alias `{aliases[path]}`"
        rows.append([f"`{'.'.join(path)}`", env, type_cell(field), default_cell(field), field.description or ""])
    return rows


# -- the document ---------------------------------------------------------------

_HEADER = ["Setting", "Env variable", "Type", "Default", "Description"]


def _intro() -> list[str]:
    example_env = next(iter(EXAMPLE_ERROR_ENV.items()))
    return [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m cxpulse.settings_doc` from `core/settings.py`; do not edit by hand. -->",
        "",
        "Every CX Pulse service (`cxpulse up`, `worker`, `api`, `migrate`) reads one `Settings` object",
        "(`core/settings.py`), built once at start.",
        "",
        "## Sources and precedence",
        "",
        "Highest priority first; a value from a higher source replaces the same setting from a lower one,",
        "and sections are merged setting by setting (e.g. `api.port` from the environment and",
        "`api.host` from the config file both apply):",
        "",
        "1. Arguments passed to `Settings(...)` in code (tests).",
        f"2. Environment variables: `{ENV_PREFIX}<FIELD>` for top-level settings and",
        f"   `{ENV_PREFIX}<SECTION>{NESTED_DELIMITER}<FIELD>` for settings in a section (nested delimiter",
        f"   `{NESTED_DELIMITER}`), e.g. `{env_name(('kafka', 'partitions'))}=12`. Names are matched",
        "   case-insensitively. List and dict settings take JSON, e.g.",
        f"   `{env_name(('stream', 'window_sizes'))}='[\"1m\", \"1h\"]'`.",
        "3. [Short aliases](#short-aliases) such as `CXPULSE_API_PORT`, kept for scripts.",
        f"4. The YAML or JSON file named by `{CONFIG_FILE_ENV}` (JSON if the name ends in `.json`), shaped",
        "   like the tables below: top-level settings, then one mapping per section; see the",
        "   [example](#example-config-file).",
        "5. The defaults below.",
        "",
        "`.env` files and secrets directories are not read. Names that match no setting (a misspelt",
        "variable, an unknown key in the config file) are ignored silently, not rejected.",
        "",
        "## Invalid values",
        "",
        "A bad value stops the process at start: `cxpulse` prints `invalid configuration:` and",
        "pydantic's validation message, which names the setting, and exits non-zero. For example",
        f"`{example_env[0]}={example_env[1]}` gives:",
        "",
        "```text",
        "invalid configuration:",
        "1 validation error for Settings",
        *EXAMPLE_ERROR_LINES,
        "```",
        "",
    ]


def _settings_tables() -> list[str]:
    out: list[str] = ["## Settings", ""]
    top = [(p, f) for p, f in iter_settings() if len(p) == 1]
    out += ["### General", "", *_table(_settings_rows(top), _HEADER), ""]
    for name, field in Settings.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is None:
            continue
        title = f"### `{name}`" + (f": {field.description.rstrip('.')}" if field.description else "")
        rows = _settings_rows([(p, f) for p, f in iter_settings() if p[0] == name])
        out += [title, "", *_table(rows, _HEADER), ""]
        if name == "stream":
            from core.dimensions import DIMENSIONS

            out += ["Dimensions allowed in `stream.views`: " + ", ".join(f"`{d}`" for d in DIMENSIONS) + ".", ""]
    return out


def _aliases_table() -> list[str]:
    rows = [[f"`{env}`", f"`{'.'.join(path)}`", f"`{env_name(tuple(path))}`"]
            for env, path in _ShortAliases._ALIASES.items()]
    return [
        "## Short aliases",
        "",
        "Shorter environment names some scripts use. They rank below the regular variables: when both",
        "are set, the regular (`__`) one wins.",
        "",
        *_table(rows, ["Alias", "Setting", "Regular variable"]),
        "",
    ]


def _examples() -> list[str]:
    key_rows = [[f"`{name}`", type_cell(f), default_cell(f), f.description or ""]
                for name, f in ApiKey.model_fields.items()]
    return [
        "## Example config file",
        "",
        f"`{CONFIG_FILE_ENV}=/etc/cxpulse/cxpulse.yaml`:",
        "",
        "```yaml",
        EXAMPLE_CONFIG_YAML.rstrip("\n"),
        "```",
        "",
        "## API keys file",
        "",
        "`api.keys_file` (`CXPULSE_API__KEYS_FILE`) names a YAML or JSON file mapping each Bearer token",
        "to the tenant it acts for and its scopes. Its keys are merged with `api.keys`",
        "(`CXPULSE_API__KEYS`, JSON of the same shape); on the same token `api.keys` wins.",
        "A relative path is taken from the working directory. The file is read when the settings",
        "are built, so its problems also stop the process at start. Each entry:",
        "",
        *_table(key_rows, ["Field", "Type", "Default", "Description"]),
        "",
        "```yaml",
        EXAMPLE_KEYS_YAML.rstrip("\n"),
        "```",
        "",
    ]


def render() -> str:
    """The whole ``docs/configuration.md``."""
    return "\n".join([*_intro(), *_settings_tables(), *_aliases_table(), *_examples()]).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxpulse.settings_doc", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help=f"default: {DOC_PATH}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date; run: python -m cxpulse.settings_doc", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
