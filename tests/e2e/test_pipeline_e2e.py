"""HTTP -> Kafka (Tansu) -> Faust -> ClickHouse (chDB) -> API, on a generated contact center.

The expected values are computed in the test from the posted CloudEvents
(tests/helpers.py), independently of the pipeline's code.
"""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone

import httpx
import pytest

from clients.simulator import ContactCenterSimulator
from tests.helpers import expected_kpis, parse_ms

pytestmark = [pytest.mark.e2e]

HOUR_MS = 3_600_000
START = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def _dataset() -> list[dict]:
    sim = ContactCenterSimulator(seed=11, rate_per_hour=900)
    events = [e for e in sim.generate(START, END) if parse_ms(e["time"]) < int(END.timestamp() * 1000) + HOUR_MS]
    # Locally shuffled, as real producers deliver: answers often arrive before their touchpoint.
    rng = random.Random(5)
    chunks = [events[i:i + 400] for i in range(0, len(events), 400)]
    for c in chunks:
        rng.shuffle(c)
    return [e for c in chunks for e in c]




async def _kpis(client: httpx.AsyncClient, **params) -> dict:
    resp = await client.get("/v1/kpis", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _wait_for_total(client, field: str, metric: str, expected: int, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    got = None
    while asyncio.get_running_loop().time() < deadline:
        body = await _kpis(client, metric=metric, window="1d", **{"from": "2026-11-02T00:00:00Z",
                                                                  "to": "2026-11-04T00:00:00Z"})
        got = sum(p["counts"][field] for p in body["data"])
        if got == expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{field}: {got} != {expected} after {timeout}s")


async def test_generated_contact_center_end_to_end(stack: httpx.AsyncClient) -> None:
    events = _dataset()
    assert len(events) > 3000
    bad = [
        {**events[0], "id": "bad-1", "data": {**events[0]["data"], "channel": "pigeon"}},
        {"specversion": "1.0", "source": "/x", "type": "cx.touchpoint.v1", "time": "2026-11-02T09:00:00Z",
         "data": {"interaction_id": "i", "channel": "chat"}},
        {"specversion": "1.0", "id": "bad-3", "source": "/x", "type": "cx.unknown.v1",
         "time": "2026-11-02T09:00:00Z", "data": {}},
        {"specversion": "1.0", "id": "bad-4", "source": "/x", "type": "cx.survey.response.v1",
         "time": "2026-11-02T09:00:00Z", "data": {"survey_id": "s", "answers": {"nps": 11}}},
    ]
    batches = [events[i:i + 500] for i in range(0, len(events), 500)]
    batches[1] = batches[1][:100] + bad + batches[1][100:]
    for i, batch in enumerate(batches):
        resp = await stack.post("/v1/events", json=batch,
                                headers={"Content-Type": "application/cloudevents-batch+json"})
        assert resp.status_code == 202, resp.text
        body = resp.json()
        if i == 1:
            assert body["accepted"] == len(batch) - 4
            assert [(r["index"], r["path"]) for r in body["rejected"]] == [
                (100, "data.channel"), (101, "id"), (102, "type"), (103, "data.answers.nps")]
        else:
            assert body == {"accepted": len(batch), "duplicates": 0, "rejected": []}
    # A producer retry of a whole batch changes nothing.
    resp = await stack.post("/v1/events", json=batches[3],
                            headers={"Content-Type": "application/cloudevents-batch+json"})
    # Ingest counts resends within one body only; across requests the stream processors drop them.
    assert (resp.status_code, resp.json()) == (202, {"accepted": len(batches[3]), "duplicates": 0, "rejected": []})

    hourly_channel = expected_kpis(events, HOUR_MS, "channel")
    hourly_all = expected_kpis(events, HOUR_MS, None)
    total_responses = int(sum(t.get("responses", 0) for t in hourly_all.values()))
    total_touchpoints = int(sum(t.get("touchpoints", 0) for t in hourly_all.values()))
    await _wait_for_total(stack, "touchpoints", "volume", total_touchpoints)
    await _wait_for_total(stack, "responses", "responses", total_responses)
    total_invitations = int(sum(t.get("invitations", 0) for t in hourly_all.values()))
    await _wait_for_total(stack, "invitations", "response_rate", total_invitations)

    window = {"window": "1h", "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"}
    checks = {
        "nps": ("nps_n", lambda t: 100.0 * (t["promoters"] - t["detractors"]) / t["nps_n"]),
        "csat": ("csat_n", lambda t: 100.0 * t["csat_top2"] / t["csat_n"]),
        "ces": ("ces_n", lambda t: t["ces_sum"] / t["ces_n"]),
        "fcr": ("fcr_n", lambda t: 100.0 * t["fcr_yes"] / t["fcr_n"]),
        # Invitations answered / invitations: answers without an invitation are not in the numerator.
        "response_rate": ("invitations", lambda t: 100.0 * t.get("invitations_answered", 0) / t["invitations"]),
    }
    for metric, (n_field, value_of) in checks.items():
        for expected, group_by in ((hourly_channel, "channel"), (hourly_all, "")):
            body = await _kpis(stack, metric=metric, group_by=group_by, **window)
            got = {
                (parse_ms(p["window_start"]), p["group"].get("channel", "")): p for p in body["data"]
            }
            want = {k: t for k, t in expected.items() if t.get(n_field, 0) > 0}
            assert {k for k, p in got.items() if p["n"] > 0} == set(want), metric
            for key, t in want.items():
                point = got[key]
                assert point["n"] == t[n_field], (metric, key)
                assert point["value"] == pytest.approx(value_of(t), rel=1e-12), (metric, key)
                if point["n"] >= 2:
                    assert point["ci_low"] <= point["value"] <= point["ci_high"], (metric, key)
    assert total_responses > 300
