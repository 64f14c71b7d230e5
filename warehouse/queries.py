"""Every SQL statement CX Pulse reads with. Values are bound (``{name:Type}``);
identifiers come only from enums and the dimension allowlist."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import orjson

from kpi.counts import FIELDS as COUNTER_FIELDS
from kpi.counts import KpiCounts
from core.dimensions import DIMENSIONS, custom_dimensions, dim_sql, validate_view, view_name
from core.errors import NoViewCovers
from schemas.records import ATTRIBUTED, EFFECTIVE_DIMS, EVENT_KEY, OFFSET, SHARD, EventType, Record
from warehouse.client import Warehouse
from warehouse.tables import LEDGER_COLUMNS, TABLE_OF_TYPE, TYPE_OF_TABLE, Table

EventKey = tuple[str, str, str]  # tenant, source, event id


# -- stream processor reads ----------------------------------------------------
async def stored_events(wh: Warehouse, table: Table, records: list[Record]) -> set[EventKey]:
    """Which of ``records`` (each with its ``_key``) the ledger already holds, or held until an erasure.

    The dedup check for replays and resends. It looks up the 64-bit event keys
    (the primary key after tenant, and cheap to bind) and confirms each hit by
    the full (tenant, source, id), so a hash collision never drops an event.
    ``erased_events`` counts as held: a delivery of an erased event replayed after
    a crash (or from the ingest log) is skipped, never stored again.
    """
    if not records:
        return set()
    tenants = sorted({r["tenant"] for r in records})
    where = "WHERE tenant IN {tenants:Array(String)} AND event_key IN {keys:Array(UInt64)}"
    res = await wh.aquery(
        f"SELECT tenant, source, event_id FROM {table.value} {where} "
        f"UNION ALL SELECT tenant, source, event_id FROM {Table.erased_events.value} {where}",
        {"tenants": tenants, "keys": [r[EVENT_KEY] for r in records]},
    )
    wanted = {(r["tenant"], r["source"], r["id"]) for r in records}
    return {k for k in map(tuple, res.result_rows) if k in wanted}


async def touchpoint_dims(wh: Warehouse, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """Dimensions of stored touchpoints by (tenant, interaction_id); the latest touchpoint wins."""
    keys = list(keys)
    if not keys:
        return {}
    tenants = sorted({k[0] for k in keys})
    iids = sorted({k[1] for k in keys})
    # The custom dimensions' map only when there are some: without it the read is answered from the
    # by_interaction projection (0009), which holds the built-in dimensions only.
    extra = bool(custom_dimensions())
    dims_sql = ", ".join([*(f"argMax({d}, time_ms)" for d in DIMENSIONS), *(["argMax(extra_dims, time_ms)"] * extra)])
    res = await wh.aquery(
        f"SELECT tenant, interaction_id, {dims_sql} FROM {Table.touchpoints.value} "
        "WHERE tenant IN {tenants:Array(String)} AND interaction_id IN {iids:Array(String)} "
        "GROUP BY tenant, interaction_id",
        {"tenants": tenants, "iids": iids},
    )
    wanted = set(keys)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in res.result_rows:
        if (row[0], row[1]) in wanted:
            dims = {d: v for d, v in zip(DIMENSIONS, row[2:]) if v}
            if extra:
                dims.update((d, v) for d, v in row[-1].items() if v)
            out[(row[0], row[1])] = dims
    return out


async def answered_interactions(wh: Warehouse, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (tenant, interaction_id) have at least one stored survey answer (the invitation join).

    Existence only, so no FINAL: every version of an answer keeps its interaction id. GROUP BY, not
    DISTINCT: ClickHouse answers it from the by_interaction projection (0009), DISTINCT from the table.
    """
    keys = {k for k in keys if k[1]}
    if not keys:
        return set()
    res = await wh.aquery(
        f"SELECT tenant, interaction_id FROM {Table.survey_responses.value} "
        "WHERE tenant IN {tenants:Array(String)} AND interaction_id IN {iids:Array(String)} "
        "GROUP BY tenant, interaction_id",
        {"tenants": sorted({k[0] for k in keys}), "iids": sorted({k[1] for k in keys})},
    )
    return {k for k in map(tuple, res.result_rows) if k in keys}


async def stored_invitations(wh: Warehouse, shard: int, keys: Iterable[tuple[str, str]]) -> list[Record]:
    """Stored invitations of one shard for (tenant, interaction_id), latest version of each, as records.

    Their dimensions are those their window cells count them under (the ledger row is re-versioned
    whenever they change), so the first answer of an interaction can move them to "answered".
    """
    keys = {k for k in keys if k[1]}
    if not keys:
        return []
    table = Table.survey_invitations
    cols = ledger_read_columns(table)
    res = await wh.aquery(
        f"SELECT {', '.join(cols)} FROM {table.value} WHERE kafka_partition = {{shard:UInt16}} "
        "AND tenant IN {tenants:Array(String)} AND interaction_id IN {iids:Array(String)}",
        {"shard": shard, "tenants": sorted({k[0] for k in keys}), "iids": sorted({k[1] for k in keys})},
    )
    latest: dict[tuple[int, str, str], tuple] = {}
    for row in res.result_rows:
        if (row[0], row[5]) not in keys:  # tenant, interaction_id
            continue
        key = (row[1], row[2], row[3])  # event_key, source, event_id
        kept = latest.get(key)
        if kept is None or row[-1] > kept[-1]:
            latest[key] = row
    out = []
    for row in latest.values():
        rec = row_to_record(TYPE_OF_TABLE[table], cols, row)
        rec[SHARD] = shard
        out.append(rec)
    out.sort(key=lambda r: r["time_ms"])
    return out


async def shard_watermark(wh: Warehouse, shard: int) -> int | None:
    """Latest event time the ledger holds for a shard (the restored watermark)."""
    parts = " UNION ALL ".join(
        f"SELECT max(time_ms) AS m, count() AS c FROM {t.value} WHERE kafka_partition = {{shard:UInt16}}"
        for t in TABLE_OF_TYPE.values()
    )
    res = await wh.aquery(f"SELECT max(m), sum(c) FROM ({parts})", {"shard": shard})
    m, c = res.result_rows[0]
    return int(m) if c else None


async def ledger_records(
    wh: Warehouse, shard: int, from_ms: int, to_ms: int, tenant: str | None = None,
    only_unattributed: bool = False,
) -> list[Record]:
    """Stored events of one shard with ``from_ms <= time_ms < to_ms``, as records.

    Used to rebuild window state after a restart; rows come FINAL so a re-attributed
    answer counts once.
    """
    return await ledger_records_in(wh, {shard: [(from_ms, to_ms)]}, None if tenant is None else [tenant],
                                   only_unattributed)


async def ledger_records_in(
    wh: Warehouse, spans_of_shard: Mapping[int, Sequence[tuple[int, int]]], tenants: Iterable[str] | None = None,
    only_unattributed: bool = False,
) -> list[Record]:
    """Stored events of each shard with ``from <= time_ms < to`` for any of its spans, as records in time order.

    One read (two queries per table) for every closed window a batch needs, whatever the number
    of windows and shards; spans should be disjoint (``core.windows.merged_spans``).
    """
    out: list[Record] = []
    params: dict[str, Any] = {}
    in_shard = []
    for shard, spans in sorted(spans_of_shard.items()):
        in_span = []
        for from_ms, to_ms in spans:
            i = len(params) // 2
            in_span.append(f"(time_ms >= {{from{i}:Int64}} AND time_ms < {{to{i}:Int64}})")
            params[f"from{i}"], params[f"to{i}"] = from_ms, to_ms
        if in_span:
            in_shard.append(f"(kafka_partition = {int(shard)} AND ({' OR '.join(in_span)}))")
    if not in_shard:
        return out
    where = [f"({' OR '.join(in_shard)})"]
    if tenants is not None:
        where.append("tenant IN {tenants:Array(String)}")
        params["tenants"] = sorted(set(tenants))
    tables = [t for t in TYPE_OF_TABLE if not only_unattributed or "attributed" in dict(LEDGER_COLUMNS[t])]
    # 1. The event keys in range, from the by_time projection (migration 0007): a range read per table,
    # run together (mostly empty when replayed history reaches new windows: their latency is the cost).
    # (Not DISTINCT: ClickHouse then reads the table in key order instead of the projection.)
    found = await asyncio.gather(*(
        wh.aquery(f"SELECT event_key FROM {table.value} WHERE {' AND '.join(where)}", params) for table in tables))
    for table, in_range in zip(tables, found):
        etype = TYPE_OF_TABLE[table]
        keys = sorted({k for (k,) in in_range.result_rows})
        if not keys:
            continue
        cols = ledger_read_columns(table)
        # 2. Their rows by primary key. Not FINAL (it would scan the partition): the latest version of
        # each event is kept below, as FINAL would; `attributed` changes between versions, so it is
        # tested on the latest only.
        lookup = [*where, "event_key IN {keys:Array(UInt64)}"]
        if only_unattributed:
            lookup.append("interaction_id != ''")
        res = await wh.aquery(
            f"SELECT {', '.join(cols)}, kafka_partition FROM {table.value} WHERE {' AND '.join(lookup)}",
            {**params, "keys": keys})
        latest: dict[tuple[int, str, str], tuple] = {}
        for row in res.result_rows:
            key = (row[1], row[2], row[3])  # event_key, source, event_id
            kept = latest.get(key)
            if kept is None or row[-2] > kept[-2]:  # version (kafka_partition is last)
                latest[key] = row
        attributed = cols.index("attributed") if only_unattributed else None
        for row in latest.values():
            if attributed is not None and row[attributed]:
                continue
            rec = row_to_record(etype, cols, row[:-1])
            rec[SHARD] = row[-1]
            out.append(rec)
    out.sort(key=lambda r: r["time_ms"])
    return out


async def customer_records(wh: Warehouse, shard: int, tenant: str, customer: str) -> list[Record]:
    """Every stored event of one customer (a pseudonym) in one shard, latest version of each, in time order.

    What an erasure retracts from the shard's windows before deleting it (``stream_processors.erasure``).
    """
    out: list[Record] = []
    params = {"shard": shard, "tenant": tenant, "customer": customer}
    for table, etype in TYPE_OF_TABLE.items():
        cols = ledger_read_columns(table)
        res = await wh.aquery(
            f"SELECT {', '.join(cols)} FROM {table.value} WHERE tenant = {{tenant:String}} "
            "AND customer = {customer:String} AND kafka_partition = {shard:UInt16}", params)
        latest: dict[tuple[int, str, str], tuple] = {}
        for row in res.result_rows:
            key = (row[1], row[2], row[3])  # event_key, source, event_id
            kept = latest.get(key)
            if kept is None or row[-1] > kept[-1]:
                latest[key] = row
        for row in latest.values():
            rec = row_to_record(etype, cols, row)
            rec[SHARD] = shard
            out.append(rec)
    out.sort(key=lambda r: r["time_ms"])
    return out


async def customer_answers(wh: Warehouse, groups: Iterable[tuple[str, str, str]], from_ms: int,
                           to_ms: int) -> list[Record]:
    """Stored answers of (tenant, customer, survey_id) with ``from_ms <= time_ms < to_ms``, every shard,
    latest version of each, in time order: the neighbours the respondent rule compares a new answer
    with (``kpi.panel.repeats``)."""
    groups = {g for g in groups if g[1]}
    if not groups:
        return []
    table = Table.survey_responses
    cols = ledger_read_columns(table)
    res = await wh.aquery(
        f"SELECT {', '.join(cols)}, kafka_partition FROM {table.value} WHERE tenant IN {{tenants:Array(String)}} "
        "AND customer IN {customers:Array(String)} AND survey_id IN {surveys:Array(String)} "
        "AND time_ms >= {lo:Int64} AND time_ms < {hi:Int64}",
        {"tenants": sorted({g[0] for g in groups}), "customers": sorted({g[1] for g in groups}),
         "surveys": sorted({g[2] for g in groups}), "lo": from_ms, "hi": to_ms})
    latest: dict[tuple[int, str, str], tuple] = {}
    survey = cols.index("survey_id")
    for row in res.result_rows:
        if (row[0], row[7], row[survey]) not in groups:  # tenant, customer, survey_id
            continue
        key = (row[1], row[2], row[3])  # event_key, source, event_id
        kept = latest.get(key)
        if kept is None or row[-2] > kept[-2]:  # version (kafka_partition is last)
            latest[key] = row
    out = []
    for row in latest.values():
        rec = row_to_record(TYPE_OF_TABLE[table], cols, row[:-1])
        rec[SHARD] = row[-1]
        out.append(rec)
    out.sort(key=lambda r: r["time_ms"])
    return out


async def answered_without(wh: Warehouse, tenant: str, interaction_ids: Iterable[str], customer: str) -> set[str]:
    """Which of ``interaction_ids`` have a stored answer of a customer other than ``customer`` (an erasure's
    check: an invitation stays answered after the erased customer's answers are gone only then)."""
    iids = sorted({i for i in interaction_ids if i})
    if not iids:
        return set()
    res = await wh.aquery(
        f"SELECT interaction_id FROM {Table.survey_responses.value} WHERE tenant = {{tenant:String}} "
        "AND interaction_id IN {iids:Array(String)} AND customer != {customer:String} GROUP BY interaction_id",
        {"tenant": tenant, "iids": iids, "customer": customer})
    return {i for (i,) in res.result_rows}


# Whole events, not just what counts: a waiting answer read back here is written again
# (re-versioned) when its touchpoint arrives, so every stored field must survive the trip.
_LEDGER_READ_HEAD = ("tenant", "event_key", "source", "event_id", "time_ms", "interaction_id", "subject", "customer",
                     "attributes")
_DIM_COLUMNS = (*DIMENSIONS, "extra_dims")


def ledger_read_columns(table: Table) -> list[str]:
    """The columns a whole-event ledger read selects, in the order :func:`row_to_record` takes them."""
    return [*_LEDGER_READ_HEAD, *_DIM_COLUMNS, *(c for c, _ in LEDGER_COLUMNS[table]), "kafka_offset", "version"]


def row_to_record(etype: str, cols: list[str], row: tuple) -> Record:
    values = dict(zip(cols, row))
    rec: Record = {
        "type": etype, "tenant": values["tenant"], "source": values["source"], "id": values["event_id"],
        "time_ms": values["time_ms"], "interaction_id": values["interaction_id"],
        "subject": values["subject"] or None, "customer": values["customer"],
        "attributes": orjson.loads(values["attributes"]) if values["attributes"] else {},
        OFFSET: values["kafka_offset"], EVENT_KEY: values["event_key"],
    }
    effective = {d: values[d] for d in DIMENSIONS if values[d]}
    effective.update((d, v) for d, v in values["extra_dims"].items() if v)
    for c in cols[len(_LEDGER_READ_HEAD) + len(_DIM_COLUMNS):-2]:  # up to kafka_offset, version
        rec[c] = values[c]
    if etype == EventType.touchpoint.value or etype == EventType.signal.value:
        rec["dims"] = effective
        if etype == EventType.signal.value:  # stored as '' when absent; records say None
            rec["sentiment"] = rec["sentiment"] or None
            rec["text"] = rec["text"] or None
    else:
        rec["dims"] = orjson.loads(rec.pop("overrides")) if rec.get("overrides") else {}
        rec[EFFECTIVE_DIMS] = effective
        rec[ATTRIBUTED] = bool(rec.pop("attributed"))
    return rec


# -- API reads ------------------------------------------------------------------
def choose_view(views: list[list[str]], needed: set[str]) -> tuple[str, ...]:
    """The smallest configured view holding every needed dimension."""
    candidates = [tuple(v) for v in views if needed <= set(v)]
    if not candidates:
        available = ", ".join("+".join(v) or "(overall)" for v in views)
        raise NoViewCovers(f"no stored view covers {sorted(needed)}; available views: {available}")
    return validate_view(list(min(candidates, key=len)))


@dataclass(frozen=True, slots=True)
class WindowRow:
    window_start: int  # epoch seconds
    group: tuple[str, ...]
    counts: KpiCounts


def view_cells_where(tenant: str, size: str, view: tuple[str, ...], filters: dict[str, str], from_s: int,
                      to_s: int, step_s: int | None) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions and bound values selecting a view's cells in a range (``kpi_windows`` and
    ``aspect_windows`` share the cell key); with ``step_s``, only windows starting a multiple of it
    after ``from_s``. Filter names are checked against the dimension allowlist."""
    view = validate_view(list(view))
    where = [
        "tenant = {tenant:String}", "size = {size:String}", "view = {view:String}",
        "window_start >= toDateTime({from:Int64}, 'UTC')", "window_start < toDateTime({to:Int64}, 'UTC')",
    ]
    params: dict[str, Any] = {"tenant": tenant, "size": size, "view": view_name(view), "from": from_s, "to": to_s}
    for i, (dim, value) in enumerate(sorted(filters.items())):
        validate_view([dim])
        where.append(f"{dim_sql(dim)} = {{f{i}:String}}")
        params[f"f{i}"] = value
    if step_s:
        where.append("(toInt64(toUnixTimestamp(window_start)) - {from:Int64}) % {step:Int64} = 0")
        params["step"] = int(step_s)
    return where, params


async def read_windows(
    wh: Warehouse, tenant: str, size: str, view: tuple[str, ...], group_by: tuple[str, ...],
    filters: dict[str, str], from_s: int, to_s: int, step_s: int | None = None,
) -> list[WindowRow]:
    """Counters of a view summed over shards (and over view dimensions not grouped by).

    With ``step_s``, only windows starting a multiple of it after ``from_s`` (a gap baseline's same
    hour of previous weeks: 5 of 673 hourly windows, so the rest are not summed and shipped)."""
    group_by = validate_view(list(group_by))
    where, params = view_cells_where(tenant, size, view, filters, from_s, to_s, step_s)
    keys = ", ".join(["toUnixTimestamp(window_start)", *map(dim_sql, group_by)])
    sums = ", ".join(f"sum({f})" for f in COUNTER_FIELDS)
    res = await wh.aquery(
        f"SELECT {keys}, {sums} FROM {Table.kpi_windows.value} FINAL "
        f"WHERE {' AND '.join(where)} GROUP BY {keys} ORDER BY {keys}",
        params,
    )
    g = len(group_by)
    return [
        WindowRow(int(r[0]), tuple(r[1:1 + g]), KpiCounts.from_mapping(dict(zip(COUNTER_FIELDS, r[1 + g:]))))
        for r in res.result_rows
    ]
