"""Query side at scale: ``python -m bench.queries`` (``make bench-queries``). Issue 10, item 4.

1. Loads ``--answers`` survey answers (default 10 M) with one touchpoint each and the
   ``kpi_windows`` rows the worker would have stored for them, over ``--days`` ending now, into a
   fresh embedded warehouse (chDB), through the fast path of :mod:`bench.scale_data`
   (ClickHouse generates the rows: ``INSERT … SELECT … FROM numbers(…)``), with a progress bar.
   ``--data DIR`` keeps the warehouse there and reuses it when it already holds the answers.
2. Times the queries the board issues (``board/src/main.js``: the tiles per window, a filtered
   tile, the filter options, the heatmap's two gap reads, the status line) and a few more of
   ``/v1/kpis``, each through the HTTP API in-process (``httpx.ASGITransport`` over
   ``api.main.create_api``: routing, validation, the query, KPI maths and JSON), and ledger
   crossings (two dimensions no view stores, answered from the ledger), called directly.
3. Prints p50 / p99 per query against the targets (board ≤ 50 ms, ledger crossing ≤ 200 ms at
   p99), the process's RSS (chDB runs in it) and writes ``bench/results/queries-<time>.json``.

A ledger crossing is any ``async def f(wh, tenant, metric, dims, from_ms, to_ms)`` returning
rows (``dims`` two dimension names, times in ms): ``--crossing module:function`` (repeatable)
times another implementation beside the product's own and the two representative ones of
:mod:`bench.crossing_probes`.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from api.deps import Services
from api.main import create_api
from bench import crossing_probes as crossing_mod
from bench.scale_data import ledger_steps, load, window_steps
from core.settings import ApiKey, Settings
from warehouse.client import Warehouse
from warehouse.migrate import migrate

TENANT = "bench"
KEY = "bench-queries-key-0123456789"
BOARD_P99_MS = 50.0
CROSSING_P99_MS = 200.0


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB (chDB's memory is in it)."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


_last_bar = [0.0]


def progress_bar(done: int, total: int, label: str, started: float, width: int = 30) -> None:
    """One line on stderr, redrawn at most twice a second."""
    if done < total and time.perf_counter() - _last_bar[0] < 0.5:
        return
    _last_bar[0] = time.perf_counter()
    filled = width * done // total
    elapsed = time.perf_counter() - started
    eta = elapsed / done * (total - done) if done else 0
    sys.stderr.write(f"\r  load [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<11} "
                     f"{elapsed:5.0f} s, eta {eta:4.0f} s, RSS {rss_mb()[0]:,.0f} MB")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def stored_answers(wh: Warehouse) -> int:
    return int(wh.query("SELECT count() FROM survey_responses WHERE tenant = {t:String}", {"t": TENANT}).result_rows[0][0])


def ensure_loaded(wh: Warehouse, settings: Settings, args: argparse.Namespace, end_ms: int) -> dict:
    """Load what the warehouse does not hold yet: the ledger, then the windows (a run stopped between the
    two resumes with the windows)."""
    migrate(wh)
    have = stored_answers(wh)
    if have not in (0, args.answers):
        raise SystemExit(f"{args.data} holds {have:,} answers, not {args.answers:,}: use another --data")
    windows = int(wh.query("SELECT count() FROM kpi_windows").result_rows[0][0])
    if have and windows:
        print(f"  reusing {have:,} stored answers in {args.data}")
        return {"load_s": None}
    views = [tuple(v) for v in settings.stream.views]
    steps = [] if have else list(ledger_steps(TENANT, args.answers, end_ms, args.days, settings.kafka.partitions))
    steps += window_steps(TENANT, args.answers, end_ms, args.days, views, list(settings.stream.window_sizes))
    started = time.perf_counter()
    load(wh, steps, lambda d, t, label: progress_bar(d, t, label, started))
    loaded = time.perf_counter() - started
    # A warehouse that has been merging for weeks: the ledger months merged, the windows too.
    started = time.perf_counter()
    for table in ("survey_responses", "touchpoints", "kpi_windows"):
        wh.command(f"OPTIMIZE TABLE {table} FINAL")
    return {"load_s": round(loaded, 1), "optimize_s": round(time.perf_counter() - started, 1)}


def live_parts(wh: Warehouse, end_ms: int, inserts: int) -> None:
    """The parts a live worker leaves: the last hour's cells rewritten (newer version) by ``inserts``
    commits, unmerged, as ``FINAL`` meets them between merges."""
    for i in range(inserts):
        wh.command(
            "INSERT INTO kpi_windows SELECT * EXCEPT (version, updated_at), {v:UInt64} AS version, now64(3) "
            "FROM kpi_windows WHERE tenant = {t:String} AND size IN ('1m', '1h', '1d') "
            "AND window_start >= toDateTime({from:Int64}, 'UTC') AND window_start < toDateTime({to:Int64}, 'UTC') "
            "AND cityHash64(view, shard, window_start) % {k:UInt64} = {i:UInt64}",
            {"v": 2 + i, "t": TENANT, "from": end_ms // 1000 - 3600, "to": end_ms // 1000 + 86400,
             "k": inserts, "i": i})


def board_queries(now: datetime) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, params) of what the board asks (board/src/main.js), then other /v1/kpis reads."""
    day_ago = (now - timedelta(days=1)).isoformat()
    out = [(f"board: tile nps {w}", "/v1/kpis", {"metric": "nps", "window": w}) for w in ("1h", "1d", "7d", "28d")]
    out += [
        ("board: tile csat 1h channel=chat", "/v1/kpis", {"metric": "csat", "window": "1h", "channel": "chat"}),
        ("board: options volume 28d by team", "/v1/kpis",
         {"metric": "volume", "window": "28d", "group_by": "team", "from": day_ago}),
        ("board: heatmap rows (gaps by channel)", "/v1/gaps",
         {"metric": "csat", "window": "1h", "kind": "segment", "significant_only": "false", "dimension": "channel"}),
        ("board: heatmap cells (chat, by segment)", "/v1/gaps",
         {"metric": "csat", "window": "1h", "kind": "segment", "significant_only": "false", "channel": "chat",
          "dimension": "segment"}),
        ("board: status", "/v1/status", {}),
        ("kpis: nps 1m (last hour)", "/v1/kpis", {"metric": "nps", "window": "1m"}),
        ("kpis: nps 1h by agent_id", "/v1/kpis", {"metric": "nps", "window": "1h", "group_by": "agent_id"}),
        ("kpis: ces 1d by channel, 28 days", "/v1/kpis", {"metric": "ces", "window": "1d", "group_by": "channel"}),
    ]
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(samples), 1), "p99_ms": round(q[98], 1),
            "max_ms": round(max(samples), 1), "n": len(samples)}


async def time_http(client: httpx.AsyncClient, path: str, params: dict, repeat: int, warmup: int) -> dict:
    samples = []
    for i in range(warmup + repeat):
        started = time.perf_counter()
        r = await client.get(path, params=params)
        took = (time.perf_counter() - started) * 1000
        r.raise_for_status()
        if i >= warmup:
            samples.append(took)
    return {**percentiles(samples), "points": r.json().get("count")}


async def time_call(fn, args: tuple, repeat: int, warmup: int) -> dict:
    samples = []
    for i in range(warmup + repeat):
        started = time.perf_counter()
        rows = await fn(*args)
        if i >= warmup:
            samples.append((time.perf_counter() - started) * 1000)
    return {**percentiles(samples), "points": len(rows)}


def crossings(extra: list[str]) -> list[tuple[str, object]]:
    out = [("ledger: /v1/kpis crossing (product)", crossing_mod.product_ledger),
           ("ledger: stored attribution", crossing_mod.stored_attribution),
           ("ledger: joined to touchpoints", crossing_mod.joined_attribution)]
    for spec in extra:
        module, _, name = spec.partition(":")
        out.append((f"ledger: {spec}", getattr(importlib.import_module(module), name)))
    return out


async def measure(wh: Warehouse, settings: Settings, args: argparse.Namespace, now: datetime) -> list[dict]:
    rows = []
    app = create_api(Services(settings, wh, None, None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"Authorization": f"Bearer {KEY}"}) as client:
        for name, path, params in board_queries(now):
            r = await time_http(client, path, params, args.repeat, args.warmup)
            rows.append({"query": name, "target_p99_ms": BOARD_P99_MS if name.startswith("board") else None, **r})
            _print_row(rows[-1])
    now_ms = int(now.timestamp() * 1000)
    # The view-answered crossing first (channel x segment is a default view), then the ledger-answered ones.
    view_dims = ("channel", "segment")
    for days in (1, 7, 28):
        r = await time_call(crossing_mod.product_view, (wh, TENANT, "nps", view_dims, now_ms - days * 86_400_000,
                                                        now_ms), args.crossing_repeat, 1)
        rows.append({"query": f"view: /v1/kpis crossing (product), channel x segment, {days} d",
                     "target_p99_ms": None, **r})
        _print_row(rows[-1])
    for name, fn in crossings(args.crossing):
        for days in (1, 7, 28):
            r = await time_call(fn, (wh, TENANT, "nps", ("queue", "site"), now_ms - days * 86_400_000, now_ms),
                                args.crossing_repeat, 1)
            rows.append({"query": f"{name}, queue x site, {days} d", "target_p99_ms": CROSSING_P99_MS, **r})
            _print_row(rows[-1])
    return rows


def print_crossings_side_by_side(answers: int, rows: list[dict]) -> None:
    """The crossing answered by a stored view beside the one answered from the ledger (issue 12), per range."""
    by_name = {q["query"]: q for q in rows}
    print(f"  crossing over {answers:,} stored answers, p50 / p99 ms: view (channel x segment) | ledger "
          f"(queue x site, the product's read; target p99 <= {CROSSING_P99_MS:g} ms)")
    for days in (1, 7, 28):
        view = by_name.get(f"view: /v1/kpis crossing (product), channel x segment, {days} d")
        ledger = by_name.get(f"ledger: /v1/kpis crossing (product), queue x site, {days} d")
        if view and ledger:
            verdict = "ok" if ledger["p99_ms"] <= CROSSING_P99_MS else "MISSED"
            print(f"    {days:>2} d: {view['p50_ms']:7.1f} / {view['p99_ms']:7.1f} | {ledger['p50_ms']:7.1f} / "
                  f"{ledger['p99_ms']:7.1f}  {verdict}")


def _print_row(row: dict) -> None:
    target = row["target_p99_ms"]
    verdict = "" if target is None else ("  ok" if row["p99_ms"] <= target else f"  MISSED (p99 <= {target:g} ms)")
    print(f"  {row['query']:<48} p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
          f"({row['points']} rows){verdict}", flush=True)


async def run(args: argparse.Namespace) -> dict:
    settings = Settings()
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read"])}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    end_ms = int(now.timestamp() * 1000)
    with tempfile.TemporaryDirectory(prefix="cxpulse-bench-queries-") as tmp:
        args.data = args.data or tmp
        wh = Warehouse.open(f"chdb://{args.data}")
        try:
            load_info = ensure_loaded(wh, settings, args, end_ms)
            if load_info["load_s"] is not None:
                live_parts(wh, end_ms, args.live_parts)
            counts = wh.query("SELECT (SELECT count() FROM survey_responses), (SELECT count() FROM touchpoints), "
                              "(SELECT count() FROM kpi_windows)").result_rows[0]
            print(f"  stored: {counts[0]:,} answers, {counts[1]:,} touchpoints, {counts[2]:,} window rows; "
                  f"load {load_info}; RSS {rss_mb()[0]:,.0f} MB")
            rows = await measure(wh, settings, args, now)
        finally:
            wh.close()
    current, peak = rss_mb()
    return {"answers": counts[0], "touchpoints": counts[1], "window_rows": counts[2], **load_info,
            "queries": rows, "rss_mb": round(current), "peak_rss_mb": round(peak)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=28.0, help="span of the stored answers, ending now")
    parser.add_argument("--repeat", type=int, default=100, help="timed calls of each API query")
    parser.add_argument("--crossing-repeat", type=int, default=20, help="timed calls of each ledger crossing")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--live-parts", type=int, default=20,
                        help="unmerged inserts rewriting the last hour's cells, as a live worker leaves them")
    parser.add_argument("--data", help="warehouse directory to keep (and reuse when it holds --answers answers)")
    parser.add_argument("--crossing", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="another ledger crossing to time (see the module docstring for its signature)")
    args = parser.parse_args(argv)
    print(f"queries at scale: {args.answers:,} answers over {args.days:g} days (chDB, in-process API)", flush=True)
    r = asyncio.run(run(args))
    print_crossings_side_by_side(r["answers"], r["queries"])
    missed = [q["query"] for q in r["queries"] if q["target_p99_ms"] and q["p99_ms"] > q["target_p99_ms"]]
    print(f"  RSS {r['rss_mb']:,} MB, peak {r['peak_rss_mb']:,} MB (this process, chDB included); "
          f"{'all targets met' if not missed else f'{len(missed)} target(s) missed'}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (out / f"queries-{stamp}.json").write_text(json.dumps({**r, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
