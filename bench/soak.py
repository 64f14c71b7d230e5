"""Memory over a long run of the embedded stack: ``python -m bench.soak`` (``make soak``). Issue 10, item 5.

Starts ``cxpulse up`` as ``bench.e2e`` does (Tansu, Faust worker, chDB and the API in one process
group), offers ``--rate`` events/s (default 5,000) of live traffic for ``SOAK_MINUTES`` minutes
(default 60), and every ``--sample-s`` seconds prints the RSS of every process of the stack, the
rates accepted over HTTP and processed by the worker in that interval, and the gauges of what the
worker holds (``/metrics``: interaction and answered caches, windows and cells in memory, answers
waiting for their touchpoint, closed windows kept). At the end it prints each process's RSS growth
between the first steady-state sample (after ``--warmup-minutes``) and the last; the goal is < 10 %.

The load is open-loop: batches are sent on a fixed schedule whatever the answers' latency, with at
most ``--max-in-flight`` requests outstanding (beyond that a batch is skipped and counted, so a
stack slower than the offer shows as a lower achieved rate, not as a pile of waiting requests in
the load generator). Traffic is a pool of simulated events replayed with fresh ids, interaction
ids and current times, so caches see as many new interactions as live traffic brings. The load
generator runs on the same machine as the stack. Results go to ``bench/results/soak-<time>.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson

from bench.e2e import KEY, _events, _wait_ready, start_stack, stop_stack
from clients.times import format_time, parse_time
from cxpulse.broker import free_port

#: The gauges of what the worker holds, and what the soak calls them.
HELD = {
    "cxpulse_interaction_cache_entries": "interactions", "cxpulse_answered_cache_entries": "answered",
    "cxpulse_windows_held": "windows", "cxpulse_window_cells_held": "cells",
    "cxpulse_closed_windows_held": "closed", "cxpulse_pending_attribution": "pending",
    "cxpulse_ingest_log_pending_events": "log_pending",
}


def process_tree(root: int) -> dict[int, str]:
    """``root`` and its descendants (pid -> command name), from /proc."""
    parents: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = _label(entry, stat[stat.index("(") + 1:stat.rindex(")")])
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
        names[int(entry.name)] = name
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in names:
            out[pid] = names[pid]
            todo.extend(parents.get(pid, []))
    return out


def _label(proc: Path, name: str) -> str:
    """A short name for a process of the stack: the broker, the stack, or which Python helper."""
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return name
    text = b" ".join(argv).decode(errors="replace")
    for marker, label in (("resource_tracker", "mp-tracker"), ("spawn_main", "mp-worker"), ("cxpulse.cli", "stack")):
        if marker in text:
            return label
    return name


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def scrape(text: str) -> dict[str, float]:
    """Unlabelled samples of ``/metrics`` (the gauges above and the processed counter)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("cxpulse_") and "{" not in line.split(" ", 1)[0]:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class Traffic:
    """Batches of live events: a simulated pool replayed with new ids, interactions and times."""

    def __init__(self, pool: list[dict]) -> None:
        first = parse_time(pool[0]["time"])
        self.pool = [(e, (parse_time(e["time"]) - first).total_seconds()) for e in pool]
        self.span_s = max(o for _, o in self.pool) or 1.0
        self.round = 0
        self.pos = 0

    def batch(self, n: int) -> bytes:
        out = []
        now = datetime.now(timezone.utc)
        for _ in range(n):
            if self.pos == len(self.pool):
                self.pos, self.round = 0, self.round + 1
            e, offset = self.pool[self.pos]
            self.pos += 1
            tag = f".{self.round}"
            data = dict(e["data"])
            if "interaction_id" in data:
                data["interaction_id"] += tag
            # live: within the last second, in the pool's order
            ev = {**e, "id": e["id"] + tag, "data": data,
                  "time": format_time(now - timedelta(seconds=1 - offset / self.span_s))}
            if e.get("subject"):
                ev["subject"] = e["subject"] + tag
            out.append(ev)
        return orjson.dumps(out)


async def offer(client: httpx.AsyncClient, traffic: Traffic, rate: int, batch: int, seconds: float,
                max_in_flight: int, stats: dict) -> None:
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    interval = batch / rate
    in_flight: set[asyncio.Task] = set()

    async def post(body: bytes, n: int) -> None:
        try:
            r = await client.post("/v1/events", content=body, headers=headers)
            stats["accepted" if r.status_code == 202 else "refused"] += n
        except httpx.HTTPError:
            stats["errors"] += n

    started = time.perf_counter()
    k = 0
    while (target := started + k * interval) < started + seconds:
        k += 1
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            stats["skipped"] += batch
            continue
        task = asyncio.create_task(post(traffic.batch(batch), batch))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)


async def sample_loop(client: httpx.AsyncClient, root: int, stats: dict, every: float, stop: asyncio.Event,
                      samples: list[dict]) -> None:
    started = time.perf_counter()
    last = {"t": started, "accepted": 0, "processed": scrape((await client.get("/metrics")).text).get(
        "cxpulse_records_processed_total", 0.0)}
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass
        now = time.perf_counter()
        m = scrape((await client.get("/metrics")).text)
        processed = m.get("cxpulse_records_processed_total", 0.0)
        rss = {f"{name}:{pid}": round(v, 1) for pid, name in sorted(process_tree(root).items())
               if (v := rss_mb(pid)) is not None}
        dt = now - last["t"]
        s = {"minute": round((now - started) / 60, 2), "accepted_per_s": round((stats["accepted"] - last["accepted"]) / dt),
             "processed_per_s": round((processed - last["processed"]) / dt), "rss_mb": rss,
             "held": {short: int(m.get(name, 0)) for name, short in HELD.items()}}
        last = {"t": now, "accepted": stats["accepted"], "processed": processed}
        samples.append(s)
        print(f"  {s['minute']:6.1f} min  accepted {s['accepted_per_s']:6,}/s  processed {s['processed_per_s']:6,}/s  "
              f"RSS {', '.join(f'{k} {v:,.0f} MB' for k, v in rss.items())}  held "
              f"{', '.join(f'{k} {v:,}' for k, v in s['held'].items())}", flush=True)


def growth(samples: list[dict], warmup_minutes: float) -> dict[str, dict]:
    """Per process: RSS at the first steady-state sample, at the last, and the growth in %."""
    steady = [s for s in samples if s["minute"] >= warmup_minutes] or samples
    first, last = steady[0], samples[-1]
    out = {}
    for proc, end in last["rss_mb"].items():
        begin = first["rss_mb"].get(proc)
        if begin:
            out[proc] = {"from_minute": first["minute"], "from_mb": begin, "to_mb": end,
                         "growth_pct": round(100 * (end - begin) / begin, 1)}
    return out


async def run(args: argparse.Namespace) -> dict:
    print(f"soak: {args.rate:,} events/s offered for {args.minutes:g} min, a sample every {args.sample_s:g} s; "
          "generating the traffic pool ...", flush=True)
    traffic = Traffic(_events(args.pool))
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="cxpulse-soak-"))
    proc = start_stack(data, port)
    stats = {"accepted": 0, "refused": 0, "errors": 0, "skipped": 0}
    samples: list[dict] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {KEY}"},
                                     limits=httpx.Limits(max_connections=args.max_in_flight + 4)) as client:
            await _wait_ready(client, proc)
            print(f"stack ready (pid {proc.pid}, data {data})", flush=True)
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_loop(client, proc.pid, stats, args.sample_s, stop, samples))
            await offer(client, traffic, args.rate, args.batch, args.minutes * 60, args.max_in_flight, stats)
            stop.set()
            await sampler
    finally:
        stop_stack(proc)
    return {"offered_events_per_s": args.rate, "minutes": args.minutes, **stats,
            "achieved_events_per_s": round(stats["accepted"] / (args.minutes * 60)),
            "samples": samples, "growth": growth(samples, args.warmup_minutes), "cpus": os.cpu_count()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 60)),
                        help="duration (default: $SOAK_MINUTES, else 60)")
    parser.add_argument("--rate", type=int, default=5_000, help="events/s offered")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--sample-s", type=float, default=60.0)
    parser.add_argument("--warmup-minutes", type=float, default=2.0,
                        help="samples before this are start-up, not steady state")
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--pool", type=int, default=10_000, help="simulated events replayed with fresh ids")
    args = parser.parse_args(argv)
    r = asyncio.run(run(args))
    print(f"  offered {args.rate:,}/s, accepted {r['achieved_events_per_s']:,}/s on average "
          f"({r['accepted']:,} events; refused {r['refused']:,}, errors {r['errors']:,}, "
          f"not sent (too many in flight) {r['skipped']:,})")
    for proc, g in r["growth"].items():
        print(f"  RSS {proc}: {g['from_mb']:,.0f} MB at minute {g['from_minute']:g} -> {g['to_mb']:,.0f} MB, "
              f"growth {g['growth_pct']:+.1f} % (goal < 10 %)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (out / f"soak-{stamp}.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
