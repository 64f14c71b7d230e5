"""Write the JSON Schema files of the event contract: ``python -m schemas.generate [--check]``.

The pydantic models in ``schemas/events.py`` are the source of truth; the files
in ``schemas/json/`` are what producers (and other languages) validate against.
They are checked in so a contract change shows up in review as a diff, and
``--check`` (run by the unit tests and CI) fails when someone changed a model
without regenerating them. Output is deterministic: sorted keys, two-space
indent, trailing newline.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.events import (
    CLOUD_EVENT_ADAPTER,
    IngestResult,
    SignalEvent,
    SurveyInvitationEvent,
    SurveyResponseEvent,
    OutcomeEvent,
    TouchpointEvent,
)
from schemas.records import EventType

__all__ = ["JSON_DIR", "render_schemas", "write_schemas", "drifted", "main"]

JSON_DIR = Path(__file__).parent / "json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SUFFIX = ".schema.json"


def render_schemas() -> dict[str, bytes]:
    """File name -> exact file content, for every schema CX Pulse publishes."""
    documents: dict[str, dict[str, Any]] = {
        "cloudevent": _with_header(CLOUD_EVENT_ADAPTER.json_schema(), "CloudEvent",
                                   "Any CX Pulse CloudEvent; the data model depends on type."),
        "ingest-result": _with_header(IngestResult.model_json_schema(), None, None),
    }
    model: type[BaseModel]
    for event_type, model in (
        (EventType.touchpoint, TouchpointEvent),
        (EventType.survey_response, SurveyResponseEvent),
        (EventType.survey_invitation, SurveyInvitationEvent),
        (EventType.signal, SignalEvent),
        (EventType.outcome, OutcomeEvent),
    ):
        documents[event_type.value] = _with_header(model.model_json_schema(), None, None)
    return {
        f"{name}{_SUFFIX}": orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        for name, doc in sorted(documents.items())
    }


def _with_header(schema: dict[str, Any], title: str | None, description: str | None) -> dict[str, Any]:
    schema = {"$schema": _DIALECT, **schema}
    if title:
        schema["title"] = title
    if description:
        schema["description"] = description
    return schema


def drifted(directory: Path = JSON_DIR) -> list[str]:
    """Names of files that are missing, different, or no longer generated."""
    expected = render_schemas()
    problems = [
        name for name, content in expected.items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]
    if directory.is_dir():
        problems += sorted(p.name for p in directory.glob(f"*{_SUFFIX}") if p.name not in expected)
    return problems


def write_schemas(directory: Path = JSON_DIR) -> list[str]:
    """Regenerate every file (and delete stale ones); return the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = render_schemas()
    for stale in directory.glob(f"*{_SUFFIX}"):
        if stale.name not in expected:
            stale.unlink()
    for name, content in expected.items():
        (directory / name).write_bytes(content)
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate schemas/json/*.schema.json from schemas/events.py.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")
    parser.add_argument("--dir", type=Path, default=JSON_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = drifted(args.dir)
        if problems:
            print(f"schema drift in {args.dir}: {', '.join(problems)}; run `python -m schemas.generate`",
                  file=sys.stderr)
            return 1
        print("schemas up to date")
        return 0
    for name in write_schemas(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
