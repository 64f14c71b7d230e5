"""Import historical touchpoints and answers from NDJSON, CSV or Parquet files.

Rows go through the API (``POST /v1/events``), so they get exactly the
validation, tenancy and pseudonymization of live traffic, and land in the past
windows of their own event time (late-window reloads in the stream processor).

``--mapping crm-outcomes`` reads a CRM export instead: a CSV with one business outcome a row
(``id,time,customer_id,kind,amount,currency`` and optionally ``account_id``, ``product``,
``source`` and any dimension or other column, which goes into ``data``), turned into
``cx.outcome.v1`` events (``crm_outcome_event``). A row without ``id`` gets one derived from its
content, so re-importing the same export sends the same ids and is deduplicated.

A replay is resumable: after every acknowledged batch the number of rows done
is saved next to the file (``<file>.replay.json``); a rerun skips them.
Rejected rows are appended to ``<file>.rejected.ndjson`` with their row
number, field path and reason. Re-sending a row is harmless anyway (events are
deduplicated by id), so resuming never double-counts.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson

from ingest.validation import MalformedItem

#: CSV cells are text; these dotted paths are converted to the types the contract expects.
_CSV_INT = {"data.answers.nps", "data.answers.csat", "data.answers.ces"}
_CSV_FLOAT = {"data.wait_s", "data.handle_s", "data.weight"}
_CSV_BOOL = {"data.resolved", "data.first_contact", "data.transferred", "data.abandoned",
             "data.converted", "data.answers.fcr"}


#: ``--mapping`` values: how a CSV row becomes an event (None: the row is a flattened CloudEvent).
CRM_OUTCOMES = "crm-outcomes"
MAPPINGS = (CRM_OUTCOMES,)
_CRM_REQUIRED = ("time", "customer_id", "kind", "amount", "currency")
_CRM_ENVELOPE = ("id", "time", "source", "subject")


def crm_outcome_event(row: dict[str, str], default_source: str) -> dict[str, Any]:
    """One CRM export row -> a ``cx.outcome.v1`` CloudEvent (``ValueError`` names a missing column or a bad amount).

    ``amount`` is sent as a JSON number: ``"1 200,50"`` is not guessed at, it is refused with its row."""
    cells = {k.strip(): v.strip() for k, v in row.items() if k is not None and v not in (None, "")}
    missing = [c for c in _CRM_REQUIRED if c not in cells]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    try:
        amount: int | float = int(cells["amount"]) if cells["amount"].lstrip("-").isdigit() else float(cells["amount"])
    except ValueError:
        raise ValueError(f"amount: {cells['amount']!r} is not a number") from None
    data: dict[str, Any] = {k: v for k, v in cells.items() if k not in _CRM_ENVELOPE}
    data["amount"] = amount
    event_id = cells.get("id") or "crm-" + hashlib.sha256(
        "\x1f".join(f"{k}={cells[k]}" for k in sorted(cells)).encode()).hexdigest()[:32]
    event: dict[str, Any] = {"specversion": "1.0", "id": event_id, "source": cells.get("source", default_source),
                             "type": "cx.outcome.v1", "time": cells["time"], "data": data}
    if "subject" in cells:
        event["subject"] = cells["subject"]
    return event


@dataclass
class ReplayState:
    rows_done: int = 0
    accepted: int = 0
    rejected: int = 0


@dataclass
class ReplaySummary(ReplayState):
    rows_total: int = 0
    resumed_from: int = 0
    rejects_file: str = ""


def count_rows(path: Path, mapping: str | None = None) -> int:
    return sum(1 for _ in read_rows(path, mapping))


def read_rows(path: Path, mapping: str | None = None) -> Iterator[tuple[int, Any]]:
    """(row number, CloudEvent dict or MalformedItem) for every row of the file, streamed."""
    suffix = path.suffix.lower()
    if mapping is not None:
        if mapping != CRM_OUTCOMES:
            raise ValueError(f"unknown mapping {mapping!r} (use one of {', '.join(MAPPINGS)})")
        if suffix != ".csv":
            raise ValueError(f"{path}: the {mapping} mapping reads a .csv export")
        yield from _crm_rows(path)
    elif suffix in (".ndjson", ".jsonl", ".json"):
        yield from _ndjson_rows(path)
    elif suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (use .ndjson, .csv or .parquet)")


def _ndjson_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, MalformedItem(f"malformed JSON on line {number}: {exc}")


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):  # row 1 is the header
            try:
                yield number, _unflatten({k: _csv_value(k, v) for k, v in row.items() if v not in ("", None)})
            except ValueError as exc:
                yield number, MalformedItem(f"row {number}: {exc}")


def _crm_rows(path: Path) -> Iterator[tuple[int, Any]]:
    source = f"/crm-export/{path.name}"
    with open(path, newline="", encoding="utf-8-sig") as f:  # spreadsheet exports often start with a BOM
        for number, row in enumerate(csv.DictReader(f), start=2):
            try:
                yield number, crm_outcome_event(row, source)
            except ValueError as exc:
                yield number, MalformedItem(f"row {number}: {exc}")


def _csv_value(key: str, value: str) -> Any:
    if key in _CSV_INT:
        return int(value)
    if key in _CSV_FLOAT:
        return float(value)
    if key in _CSV_BOOL:
        lowered = value.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"{key}: {value!r} is not a boolean")
        return lowered in ("true", "1")
    return value


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield number, _unflatten(_drop_nulls(row))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """``{"data.answers.nps": 9}`` -> ``{"data": {"answers": {"nps": 9}}}``; nested values pass."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _state_path(path: Path) -> Path:
    return path.with_name(path.name + ".replay.json")


def rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejected.ndjson")


def load_state(path: Path) -> ReplayState:
    state_file = _state_path(path)
    return ReplayState(**orjson.loads(state_file.read_bytes())) if state_file.exists() else ReplayState()


def _save_state(path: Path, state: ReplayState) -> None:
    state_file = _state_path(path)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(asdict(state)))
    os.replace(tmp, state_file)  # atomic: an interruption leaves the old or the new state


async def replay(path: Path, client: httpx.AsyncClient, batch_size: int = 1000, restart: bool = False,
                 progress: Any = None, mapping: str | None = None) -> ReplaySummary:
    """Send the file's rows in batches; resume where a previous run stopped.

    ``progress`` is anything with ``update(n)`` (a tqdm bar). Raises on transport
    or server errors after saving what was acknowledged, so a rerun resumes.
    """
    if restart:
        _state_path(path).unlink(missing_ok=True)
        rejects_path(path).unlink(missing_ok=True)
    state = load_state(path)
    summary = ReplaySummary(resumed_from=state.rows_done, rejects_file=str(rejects_path(path)))
    batch: list[tuple[int, Any]] = []
    index = 0
    with open(rejects_path(path), "ab") as rejects:
        async def flush() -> None:
            items = [item for _, item in batch]
            local = [(n, item) for n, item in batch if isinstance(item, MalformedItem)]
            sendable = [item for item in items if not isinstance(item, MalformedItem)]
            rows = [n for n, item in batch if not isinstance(item, MalformedItem)]
            rejected: list[dict[str, Any]] = [
                {"row": n, "path": "", "error": item.error} for n, item in local
            ]
            accepted = 0
            if sendable:
                resp = await client.post("/v1/events", content=orjson.dumps(sendable),
                                         headers={"Content-Type": "application/cloudevents-batch+json"})
                resp.raise_for_status()
                body = resp.json()
                accepted = body["accepted"]
                for r in body["rejected"]:
                    rejected.append({"row": rows[r["index"]], "path": r["path"], "error": r["error"],
                                     "event": sendable[r["index"]]})
            for r in sorted(rejected, key=lambda r: r["row"]):
                rejects.write(orjson.dumps(r) + b"\n")
            rejects.flush()
            state.rows_done += len(batch)
            state.accepted += accepted
            state.rejected += len(rejected)
            _save_state(path, state)
            if progress is not None:
                progress.update(len(batch))
            batch.clear()

        for number, item in read_rows(path, mapping):
            index += 1
            if index <= state.rows_done:
                continue
            batch.append((number, item))
            if len(batch) >= batch_size:
                await flush()
        if batch:
            await flush()
    summary.rows_total = index
    summary.rows_done, summary.accepted, summary.rejected = state.rows_done, state.accepted, state.rejected
    return summary
