"""`cxpulse simulate` against the real stack: exactly the simulator's events arrive, incidents included."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from cxpulse.simulate import SimulationPlan, parse_incident, simulate
from ingest.simulator import ContactCenterSimulator, TenantProfile, format_time
from tests.conftest import TEST_KEY, TEST_TENANT

pytestmark = [pytest.mark.e2e]


async def test_simulate_posts_the_simulators_traffic_with_its_incident(stack: httpx.AsyncClient) -> None:
    # The last 20 simulated minutes, replayed at 1200x (about a second), with the chat feed stopped.
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=20)
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
    assert touchpoints["chat"] == 0 and sum(touchpoints.values()) > 500

    # What the pipeline counted: every touchpoint, per channel, and none on chat.
    params = {"metric": "volume", "window": "1d", "group_by": "channel",
              "from": (start - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")}
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
