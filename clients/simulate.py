"""``cxpulse simulate``: the demo traffic, through the API, with incidents on demand.

The same seeded contact-centre simulator as ``cxpulse up --demo`` and
``make evaluate`` (:mod:`clients.simulator`): a backfill of past hours, then
live traffic at ``speedup`` x real time for ``duration`` (or until Ctrl-C).
Each tenant is simulated separately and posts with its own key (the key
decides the tenant). An incident is written like::

    --incident "nps=-4,scope=journey_step:billing+segment:consumer,start=10m,for=45m"
    --incident "volume=0,scope=channel:chat,start=5m,for=20m"

``start`` counts from the start of the live traffic (simulated time);
``nps``/``csat``/``ces`` shift answers (points of their scale, ``affects=answers``
by default: answers given during the incident), ``volume`` multiplies the
contact rate in scope.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import re
import time as _time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from clients.incidents import Incident
from clients.profiles import TenantProfile
from clients.simulator import ContactCenterSimulator, Event
from clients.times import format_time, parse_time, utc
from core.dimensions import DIMENSIONS

__all__ = ["SimulationPlan", "drive", "parse_duration", "parse_incident", "simulate"]

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>s|m|h|d)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``10m``, ``2h``, ``1d`` -> a timedelta (a bare number is seconds)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration like 90s, 10m, 2h or 1d")
    return timedelta(seconds=float(m["n"]) * _UNITS[m["unit"]])


def parse_incident(text: str, live_start: datetime) -> Incident:
    """An incident from ``key=value`` pairs (see the module docstring); errors name the bad key."""
    fields: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(f"incident: {part!r} is not key=value")
        fields[key.strip()] = value.strip()
    known = {"nps", "csat", "ces", "volume", "scope", "start", "for", "affects"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"incident: unknown key(s) {unknown}; use {sorted(known)}")
    scope: dict[str, str] = {}
    for item in filter(None, fields.get("scope", "").split("+")):
        dim, sep, value = item.partition(":")
        if not sep or dim not in DIMENSIONS or not value:
            raise ValueError(f"incident: scope item {item!r} must be dimension:value, dimension one of {list(DIMENSIONS)}")
        scope[dim] = value
    try:
        start = live_start + parse_duration(fields.get("start", "0"))
        end = start + parse_duration(fields.get("for", "30m"))
        shifts = {k: float(fields[k]) for k in ("nps", "csat", "ces", "volume") if k in fields}
    except ValueError as exc:
        raise ValueError(f"incident: {exc}") from None
    if not shifts:
        raise ValueError("incident: give at least one of nps=, csat=, ces=, volume=")
    return Incident(start, end, scope, nps_shift=shifts.get("nps", 0.0), csat_shift=shifts.get("csat", 0.0),
                    ces_shift=shifts.get("ces", 0.0), volume_factor=shifts.get("volume", 1.0),
                    affects=fields.get("affects", "answers"))


@dataclass(frozen=True)
class SimulationPlan:
    api_url: str
    keys: dict[str, str]  # tenant -> API key
    rate_per_hour: float = 6000.0
    speedup: float = 1.0
    duration: timedelta | None = None  # simulated; None = until stopped
    backfill: timedelta = timedelta(0)
    incidents: tuple[str, ...] = ()
    seed: int = 7
    batch: int = 500


async def simulate(plan: SimulationPlan, stop: asyncio.Event | None = None,
                   progress: Callable[[str, int], None] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Run every tenant's traffic concurrently; returns the events each tenant's key posted.

    ``progress(tenant, n)`` is called after each posted batch. HTTP errors propagate (a 4xx is a
    bug in the simulator or a bad key, not something to retry).
    """
    now = now or datetime.now(timezone.utc)
    incidents = [parse_incident(spec, now) for spec in plan.incidents]
    posted = {tenant: 0 for tenant in plan.keys}

    async def one(i: int, tenant: str, key: str) -> None:
        sim = ContactCenterSimulator(plan.seed + i, TenantProfile(name=tenant), incidents=incidents,
                                     rate_per_hour=plan.rate_per_hour)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"}
        async with httpx.AsyncClient(base_url=plan.api_url, headers=headers, timeout=60) as client:
            async def post(batch: list[dict]) -> None:
                (await client.post("/v1/events", json=batch)).raise_for_status()
                posted[tenant] += len(batch)
                if progress:
                    progress(tenant, len(batch))

            if plan.backfill > timedelta(0):
                # Answers due after `now` are left out: the live traffic brings its own.
                history = [e for e in sim.generate(now - plan.backfill, now) if parse_time(e["time"]) < now]
                for j in range(0, len(history), plan.batch):
                    await post(history[j:j + plan.batch])
            until = now + plan.duration if plan.duration is not None else None
            await drive(post, sim, speedup=plan.speedup, batch_size=plan.batch, stop=stop, start=now, until=until)

    await asyncio.gather(*(one(i, t, k) for i, (t, k) in enumerate(sorted(plan.keys.items()))))
    return posted


async def drive(
    post_batch: Callable[[list[Event]], Awaitable[None]],
    simulator: ContactCenterSimulator,
    speedup: float = 1.0,
    batch_size: int = 200,
    stop: asyncio.Event | None = None,
    *,
    start: datetime | None = None,
    until: datetime | None = None,
    tick_s: float = 0.5,
    clock: Callable[[], float] = _time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> int:
    """Emit the simulator's traffic in (accelerated) real time, in batches.

    Simulated time is ``start + (clock() - clock_at_start) * speedup``
    (``start`` defaults to now, UTC). Each tick generates the touchpoints
    started since the previous tick and posts, in ``time`` order, every
    pending event whose ``time`` has come; events timed in the future
    (invitations and responses that come after their touchpoint) wait in a
    heap until then. Batches hold at most ``batch_size`` events and are
    awaited one by one, so a slow receiver slows the driver (backpressure);
    errors from ``post_batch`` propagate.

    Stops when ``stop`` is set or when simulated time reaches ``until``
    (events timed after ``until`` are not sent). Returns the number of
    events posted. ``clock`` and ``sleep`` exist for tests (a fake clock).
    """
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    sim_start = utc(start) if start is not None else datetime.now(timezone.utc)
    end = utc(until) if until is not None else None
    real0 = clock()
    cursor = sim_start
    pending: list[tuple[str, str, int, Event]] = []
    seq = 0
    posted = 0

    while True:
        sim_now = sim_start + timedelta(seconds=(clock() - real0) * speedup)
        finished = end is not None and sim_now >= end
        if finished:
            sim_now = end
        if sim_now > cursor:
            for ev in simulator.events_between(cursor, sim_now):
                heapq.heappush(pending, (ev["time"], ev["id"], seq, ev))
                seq += 1
            cursor = sim_now
        due_before = format_time(sim_now)
        batch: list[Event] = []
        while pending and pending[0][0] <= due_before:
            batch.append(heapq.heappop(pending)[3])
            if len(batch) >= batch_size:
                await post_batch(batch)
                posted += len(batch)
                batch = []
        if batch:
            await post_batch(batch)
            posted += len(batch)
        if finished or (stop is not None and stop.is_set()):
            return posted
        if stop is not None and sleep is asyncio.sleep:
            # Wake up at once when asked to stop instead of finishing the tick.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick_s)
        else:
            await sleep(tick_s)
