"""`cxpulse simulate` against the real stack: exactly the simulator's events arrive, incidents included."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from clients.profiles import TenantProfile
from clients.simulate import SimulationPlan, parse_incident, simulate
from clients.simulator import ContactCenterSimulator
from clients.times import format_time
from tests.conftest import TEST_KEY, TEST_TENANT

pytestmark = [pytest.mark.e2e]

#: Start of the simulated span: Wednesday 10:40 UTC, the tenant's late morning (TenantProfile offset 0).
START = datetime(2026, 11, 4, 10, 40, tzinfo=timezone.utc)


async def test_simulate_posts_the_simulators_traffic_with_its_incident(stack: httpx.AsyncClient) -> None:
    # 20 simulated minutes, replayed at 1200x (about a second), with the chat feed stopped. The span is
    # pinned (a Wednesday late morning, tenant local time = UTC), not the minutes before the wall clock,
    # whose volume follows the diurnal curve and the weekday (184 touchpoints before 07:00 UTC); so the
    # counts below are exact at any hour.
    start = START
    plan = SimulationPlan(api_url=str(stack.base_url), keys={TEST_TENANT: TEST_KEY}, rate_per_hour=3000,
                          speedup=1200, duration=timedelta(minutes=20),
                          incidents=("volume=0,scope=channel:chat,start=0,for=20m",), seed=3)
    seen: Counter[str] = Counter()
    posted = await simulate(plan, progress=lambda tenant, n: seen.update({tenant: n}), now=start)

    # Independently: the same seeded simulator over the same span, answers due after the end left out.
    sim = ContactCenterSimulator(3, TenantProfile(name=TEST_TENANT), rate_per_hour=3000,
                                 incidents=[parse_incident(plan.incidents[0], start)])
    expected = [e for e in sim.generate(start, start + timedelta(minutes=20))
                if e["time"] <= format_time(start + timedelta(minutes=20))]
    assert posted == {TEST_TENANT: len(expected)} == dict(seen)
    touchpoints = Counter(e["data"]["channel"] for e in expected if e["type"] == "cx.touchpoint.v1")
    # The seeded simulator's traffic over the pinned span: 3000/h x 20 min x diurnal weight 2.15 x the
    # 78 % non-chat channel share is about 1677 touchpoints; seed 3 gives these.
    assert dict(touchpoints) == {"phone": 698, "email": 332, "web": 243, "app": 148, "store": 143, "social": 115}
    assert len(expected) == 1870

    # What the pipeline counted: every touchpoint, per channel, and none on chat.
    params = {"metric": "volume", "window": "1d", "group_by": "channel",
              "from": (start - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
              "to": (start + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")}
    counted: dict[str, int] = {}
    for _ in range(300):
        body = (await stack.get("/v1/kpis", params=params)).json()
        counted = Counter()
        for point in body["data"]:
            counted[point["group"]["channel"]] += point["n"]
        if sum(counted.values()) == sum(touchpoints.values()):
            break
        await asyncio.sleep(0.2)
    assert {c: n for c, n in counted.items() if n} == dict(touchpoints)
