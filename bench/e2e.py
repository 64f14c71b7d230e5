"""End-to-end benchmark of the embedded stack (`cxpulse up`: Tansu, Faust, chDB, API in one process).

Prints:
1. throughput: events/s accepted over HTTP and events/s sustained end to end
   (POST of the first batch until the worker has committed the last event);
2. latency: at a steady offered load (default 5k events/s), p50 / p99 / max
   from POSTing a probe event until `GET /v1/kpis` shows it.

By default both run twice with the durable ingest log off and on, alternating
(off, on, on, off), and the cost of durability is printed as the on/off ratio
of the medians (`--ingest-log on|off` for one run).

The load generator runs in this process, the stack in a child process, both on
the same machine: on a 2-core box they compete for CPU, so figures are a floor.
Results are also written to bench/results/e2e-<time>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson

from clients.simulator import ContactCenterSimulator
from clients.times import format_time, parse_time
from cxpulse.broker import free_port

KEY = "bench-dev-key-0123456789"


_seeds = iter(range(1000, 2000))


def _events(n: int, span_s: float = 60.0) -> list[dict]:
    """``n`` live events never posted before in this run.

    A fresh seed each call (re-sent ids would be skipped as duplicates); the
    simulated history is compressed into the last ``span_s`` seconds so the load
    is live traffic, as in production, not a backfill of closed windows.
    """
    sim = ContactCenterSimulator(seed=next(_seeds), rate_per_hour=40_000)
    end = datetime.now(timezone.utc)
    out: list[dict] = []
    hours = 1
    while len(out) < n:
        out = sim.generate(end - timedelta(hours=hours), end)
        hours *= 2
    out = out[:n]
    first, last = parse_time(out[0]["time"]), parse_time(out[-1]["time"])
    scale = span_s / max((last - first).total_seconds(), 1e-9)
    for e in out:
        at = end - timedelta(seconds=span_s) + (parse_time(e["time"]) - first) * scale
        e["time"] = format_time(at)
    return out


def _processed(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("cxpulse_records_processed_total "):
            return float(line.split()[1])
    return 0.0


def _histogram(metrics_text: str, name: str) -> dict[str, float]:
    """Cumulative bucket counts of a Prometheus histogram, by ``le``."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_stack(data: Path, port: int, **env: str) -> subprocess.Popen:
    """``cxpulse up`` in a child process on ``port`` with the bench key; its output goes to ``data/up.log``."""
    full = {**os.environ, "CXPULSE_DATA_DIR": str(data), "CXPULSE_API_PORT": str(port),
            "CXPULSE_DEV_API_KEY": KEY, "CXPULSE_LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "-m", "cxpulse.cli", "up"], env=full,
                            stdout=open(data / "up.log", "wb"), stderr=subprocess.STDOUT)


def stop_stack(proc: subprocess.Popen, timeout: float = 90) -> None:
    """Stop it as an operator would (SIGTERM: the ingest log is drained), killing it only if that hangs."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"cxpulse up exited with {proc.returncode}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("stack not ready")


async def throughput(client: httpx.AsyncClient, n: int, batch: int, concurrency: int) -> dict:
    events = _events(n)
    bodies = [orjson.dumps(events[i:i + batch]) for i in range(0, len(events), batch)]
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    base = _processed((await client.get("/metrics")).text)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def sender() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = await client.post("/v1/events", content=body, headers=headers)
            r.raise_for_status()

    t0 = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    accepted_s = time.perf_counter() - t0
    deadline = time.perf_counter() + 600
    while _processed((await client.get("/metrics")).text) - base < len(events):
        if time.perf_counter() > deadline:
            raise SystemExit("the worker did not process every event within 10 minutes")
        await asyncio.sleep(0.05)
    total_s = time.perf_counter() - t0
    return {"events": len(events), "batch": batch, "concurrency": concurrency,
            "http_accept_events_per_s": round(len(events) / accepted_s),
            "end_to_end_events_per_s": round(len(events) / total_s), "seconds": round(total_s, 2)}


async def latency(client: httpx.AsyncClient, rate: int, seconds: float, batch: int) -> dict:
    """Offer `rate` events/s; every 250 ms one event carries a unique queue, polled until visible."""
    events = _events(int(rate * seconds))
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    interval = batch / rate
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = asyncio.Event()
    now = datetime.now(timezone.utc)

    async def poll() -> None:
        params = {"metric": "volume", "window": "1m", "group_by": "queue",
                  "from": (now - timedelta(minutes=5)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
        while not stop.is_set() or len(seen) < len(sent):
            r = await client.get("/v1/kpis", params=params)
            t = time.perf_counter()
            for p in r.json()["data"]:
                q = p["group"]["queue"]
                if q in sent and q not in seen:
                    seen[q] = t
            if stop.is_set() and time.perf_counter() - stop_time[0] > 30:
                break
            await asyncio.sleep(0.02)

    stop_time = [0.0]
    poller = asyncio.create_task(poll())
    t_start = time.perf_counter()
    next_probe = t_start
    in_flight: set[asyncio.Task] = set()
    for k, i in enumerate(range(0, len(events), batch)):
        chunk = [dict(e) for e in events[i:i + batch]]
        target = t_start + k * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        probe_id = None
        if time.perf_counter() >= next_probe:
            probe_id = f"probe-{uuid.uuid4().hex[:8]}"
            tp = next(e for e in chunk if e["type"] == "cx.touchpoint.v1")
            tp["time"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            tp["data"] = {**tp["data"], "queue": probe_id}
            next_probe += 0.25

        async def post(body: bytes, pid: str | None) -> None:
            if pid:
                sent[pid] = time.perf_counter()
            (await client.post("/v1/events", content=body, headers=headers)).raise_for_status()

        task = asyncio.create_task(post(orjson.dumps(chunk), probe_id))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    offered_s = time.perf_counter() - t_start
    stop_time[0] = time.perf_counter()
    stop.set()
    await poller
    lat = sorted(seen[q] - sent[q] for q in seen)
    if not lat:
        return {"error": "no probe became visible"}
    return {"offered_events_per_s": rate, "achieved_offer_events_per_s": round(len(events) / offered_s),
            "probes": len(sent), "visible": len(lat),
            "p50_s": round(statistics.median(lat), 3), "p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3),
            "max_s": round(lat[-1], 3)}


async def main_async(args: argparse.Namespace, ingest_log: str = "auto") -> dict:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    proc = start_stack(data, port, CXPULSE_INGEST_LOG__ENABLED=ingest_log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {KEY}"},
                                     limits=httpx.Limits(max_connections=16)) as client:
            await _wait_ready(client, proc)
            print("stack ready; warming up ...", flush=True)
            await throughput(client, 5_000, args.batch, args.concurrency)
            print(f"throughput: {args.events} events in batches of {args.batch} ...", flush=True)
            tp = await throughput(client, args.events, args.batch, args.concurrency)
            print(f"latency: {args.rate} events/s offered for {args.seconds}s ...", flush=True)
            names = ("cxpulse_produce_to_receive_seconds", "cxpulse_produce_to_stored_seconds")
            text = (await client.get("/metrics")).text
            before = {n: _histogram(text, n) for n in names}
            lat = await latency(client, args.rate, args.seconds, args.latency_batch)
            text = (await client.get("/metrics")).text
            for n in names:
                after = _histogram(text, n)
                total = max(after["+Inf"] - before[n].get("+Inf", 0), 1)
                lat[n] = {le: round((after[le] - before[n].get(le, 0)) / total, 3)
                          for le in ("0.25", "0.5", "1.0", "1.5", "2.0")}
        return {"throughput": tp, "latency": lat, "peak_rss_mb": round(_rss_mb(proc.pid), 1),
                "cpus": os.cpu_count()}
    finally:
        stop_stack(proc)


def _print_run(label: str, result: dict) -> None:
    t, lat = result["throughput"], result["latency"]
    print(f"\n  [{label}]")
    print(f"  throughput   {t['events']} events, batches of {t['batch']}, {t['concurrency']} clients")
    print(f"               HTTP accepted {t['http_accept_events_per_s']:>8} events/s")
    print(f"               end to end    {t['end_to_end_events_per_s']:>8} events/s   (target >= 20000)")
    if "error" in lat:
        print(f"  latency      {lat['error']}")
    else:
        print(f"  latency      offered {lat['offered_events_per_s']} events/s (achieved {lat['achieved_offer_events_per_s']}),"
              f" {lat['visible']}/{lat['probes']} probes")
        print(f"               POST->visible p50 {lat['p50_s']} s  p99 {lat['p99_s']} s  max {lat['max_s']} s"
              "   (target p99 <= 2 s)")
        for name, label in (("cxpulse_produce_to_receive_seconds", "produced->received"),
                            ("cxpulse_produce_to_stored_seconds", "produced->stored  ")):
            shares = ", ".join(f"<={le}s {v:.0%}" for le, v in lat[name].items())
            print(f"               {label} (messages) {shares}")
    print(f"  peak RSS     {result['peak_rss_mb']} MB (stack process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency-batch", type=int, default=100)
    parser.add_argument("--ingest-log", choices=("compare", "on", "off"), default="compare",
                        help="compare (default): the durable ingest log off and on, in alternating runs, and "
                        "the cost of durability as a ratio; on/off: one run")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs with --ingest-log compare")
    args = parser.parse_args()
    if args.ingest_log == "compare":  # off, on, on, off, ...: drift of a busy machine hits both alike
        modes = [m for r in range(args.rounds) for m in (("off", "on") if r % 2 == 0 else ("on", "off"))]
    else:
        modes = [args.ingest_log]
    runs = []
    for mode in modes:
        print(f"== run with the ingest log {mode}", flush=True)
        runs.append({"ingest_log": mode, **asyncio.run(main_async(args, mode))})
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"e2e-{time.strftime('%Y%m%dT%H%M%S')}.json"
    summary: dict = {"runs": runs}
    print("\nCX Pulse end-to-end benchmark (embedded: Tansu + Faust + chDB + API, one process)")
    for i, run in enumerate(runs):
        _print_run(f"run {i + 1}: ingest log {run['ingest_log']}", run)
    if args.ingest_log == "compare":
        def median(mode: str, key: str) -> float:
            return statistics.median(r["throughput"][key] for r in runs if r["ingest_log"] == mode)

        print("\n  durability cost (median of each mode; on / off):")
        for key, label in (("http_accept_events_per_s", "HTTP accepted"), ("end_to_end_events_per_s", "end to end")):
            off, on = median("off", key), median("on", key)
            summary[f"{key}_ratio_on_off"] = round(on / off, 3)
            print(f"               {label:<14} off {off:>8.0f}  on {on:>8.0f} events/s   ratio {on / off:.3f}"
                  "   (target >= 0.90)")
        p99 = {m: statistics.median(r["latency"].get("p99_s", float("nan")) for r in runs if r["ingest_log"] == m)
               for m in ("off", "on")}
        print(f"               POST->visible p99  off {p99['off']} s  on {p99['on']} s")
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"  written to   {path}")


if __name__ == "__main__":
    main()
