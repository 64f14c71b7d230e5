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
        # Touchpoint outcomes: rates over the touchpoints stating the flag; durations counted in deciseconds.
        "conversion_rate": ("tp_converted_n", lambda t: 100.0 * t.get("tp_converted", 0) / t["tp_converted_n"]),
        "abandonment_rate": ("tp_abandoned_n", lambda t: 100.0 * t.get("tp_abandoned", 0) / t["tp_abandoned_n"]),
        "transfer_rate": ("tp_transferred_n", lambda t: 100.0 * t.get("tp_transferred", 0) / t["tp_transferred_n"]),
        "wait_time": ("tp_wait_n", lambda t: t["tp_wait_ds"] / t["tp_wait_n"] / 10),
        "handle_time": ("tp_handle_n", lambda t: t["tp_handle_ds"] / t["tp_handle_n"] / 10),
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
    outcome_totals = {f: sum(t.get(f, 0) for t in hourly_all.values())
                      for f in ("tp_converted", "tp_abandoned", "tp_transferred", "tp_handle_n")}
    assert min(outcome_totals.values()) > 20 and outcome_totals["tp_handle_n"] < total_touchpoints, outcome_totals
    await _check_outcome_intervals(stack, window, hourly_all)
    await _check_pos_neg_ratio(stack, window, hourly_channel)


async def _check_outcome_intervals(client: httpx.AsyncClient, window: dict, hourly_all: dict) -> None:
    """Wilson for the outcome rates and Student t for the durations, recomputed with scipy from the
    posted events, per hour."""
    from scipy import stats as sps
    z = sps.norm.ppf(0.975)
    for metric, (x, n) in {"abandonment_rate": ("tp_abandoned", "tp_abandoned_n"),
                           "conversion_rate": ("tp_converted", "tp_converted_n")}.items():
        body = await _kpis(client, metric=metric, **window)
        for p in body["data"]:
            if p["n"] == 0:  # an hour of answers only
                continue
            t = hourly_all[(parse_ms(p["window_start"]), "")]
            k, m = t.get(x, 0), t[n]
            centre = (k / m + z * z / (2 * m)) / (1 + z * z / m)
            half = z / (1 + z * z / m) * (k / m * (1 - k / m) / m + z * z / (4 * m * m)) ** 0.5
            assert (p["ci_low"], p["ci_high"]) == (pytest.approx(100 * (centre - half), rel=1e-9),
                                                   pytest.approx(100 * (centre + half), rel=1e-9)), metric
    for metric, prefix in (("wait_time", "tp_wait"), ("handle_time", "tp_handle")):
        body = await _kpis(client, metric=metric, **window)
        assert body["data"], metric
        for p in body["data"]:
            if p["n"] < 2:
                continue
            t = hourly_all[(parse_ms(p["window_start"]), "")]
            m, total, sumsq = t[f"{prefix}_n"], t[f"{prefix}_ds"], t[f"{prefix}_ds2"]
            sd = ((sumsq - total * total / m) / (m - 1)) ** 0.5
            half = sps.t.ppf(0.975, m - 1) * sd / m ** 0.5 / 10
            assert p["ci_high"] == pytest.approx(total / m / 10 + half, rel=1e-9), metric
            assert p["ci_low"] == pytest.approx(max(0.0, total / m / 10 - half), rel=1e-9, abs=1e-12), metric


async def _check_pos_neg_ratio(client: httpx.AsyncClient, window: dict, hourly_channel: dict) -> None:
    """positive / negative experiences per hour and channel: n = both, no value without a negative."""
    body = await _kpis(client, metric="pos_neg_ratio", group_by="channel", **window)
    got = {(parse_ms(p["window_start"]), p["group"]["channel"]): p for p in body["data"] if p["n"] > 0}
    want = {k: t for k, t in hourly_channel.items() if t.get("experiences", 0) > 0}
    assert set(got) == set(want)
    with_value = 0
    for key, t in want.items():
        p = got[key]
        assert p["n"] == t["experiences"] == t.get("answers_positive", 0) + t.get("answers_negative", 0), key
        # no signals were posted: the ratio's signal counters are zero
        assert p["counts"] == {"answers_positive": t.get("answers_positive", 0),
                               "answers_negative": t.get("answers_negative", 0), "sig_positive": 0, "sig_negative": 0}
        if t.get("answers_negative", 0):
            with_value += 1
            assert p["value"] == pytest.approx(t.get("answers_positive", 0) / t["answers_negative"], rel=1e-12)
            assert p["ci_low"] <= p["value"] <= p["ci_high"]
        else:
            assert p["value"] is None and p["ci_high"] is None and p["ci_low"] > 0
    assert with_value > 5
