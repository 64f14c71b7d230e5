"""Step 2 of `make evaluate`: every event of the scenario POSTed through the real stack (``cxpulse up``)."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path

import httpx
import orjson

from bench.detection.scenario import START, VIEWS, Scenario, tenant_profile
from bench.e2e import KEY, _processed, _wait_ready, start_stack, stop_stack
from clients.simulator import ContactCenterSimulator
from clients.times import format_time
from cxpulse.broker import free_port


async def ingest(scenario: Scenario, data_dir: Path, batch: int = 1000, concurrency: int = 1) -> dict:
    """POST the scenario a day at a time, wait until the worker processed every event; the throughput."""
    port = free_port()
    # The scenario's calendar is fixed (from START), not the wall clock's: no event-time horizon.
    proc = start_stack(data_dir, port, CXPULSE_STREAM__VIEWS=json.dumps(VIEWS), CXPULSE_CASES__ENABLED="false",
                       CXPULSE_API__MAX_FUTURE_S="1e12", CXPULSE_API__MAX_EVENT_AGE_DAYS="1e6")
    sim = ContactCenterSimulator(scenario.seed, tenant_profile(), incidents=scenario.incidents,
                                 rate_per_hour=scenario.rate_per_hour)
    posted = 0
    t0 = time.perf_counter()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                     headers={"Authorization": f"Bearer {KEY}"}) as client:
            await _wait_ready(client, proc)
            headers = {"Content-Type": "application/cloudevents-batch+json"}
            end = scenario.end
            day = START
            later: list[dict] = []
            while day < end:
                nxt = day + timedelta(days=1)
                # Post in event-time order, as live traffic arrives: answers timed after this day wait for theirs.
                cut = format_time(min(nxt, end))
                fresh = sorted(later + sim.generate(day, nxt), key=lambda e: e["time"])
                events = [e for e in fresh if e["time"] < cut]
                later = [e for e in fresh if e["time"] >= cut]
                bodies = [orjson.dumps(events[i:i + batch]) for i in range(0, len(events), batch)]
                queue: asyncio.Queue[bytes] = asyncio.Queue()
                for b in bodies:
                    queue.put_nowait(b)

                async def sender() -> None:
                    while not queue.empty():
                        r = await client.post("/v1/events", content=queue.get_nowait(), headers=headers)
                        r.raise_for_status()

                await asyncio.gather(*(sender() for _ in range(concurrency)))
                posted += len(events)
                print(f"  {day:%a %d %b}: {len(events):>7} events posted ({posted} in all)", flush=True)
                day = nxt
            deadline = time.perf_counter() + 1800
            while _processed((await client.get("/metrics")).text) < posted:
                if time.perf_counter() > deadline:
                    raise SystemExit("the worker did not process every event within 30 minutes")
                await asyncio.sleep(0.5)
    finally:
        stop_stack(proc, 60)
    seconds = time.perf_counter() - t0
    return {"events": posted, "seconds": round(seconds, 1), "events_per_s": round(posted / seconds)}
