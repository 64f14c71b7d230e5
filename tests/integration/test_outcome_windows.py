"""Through the worker on the real broker and chDB: touchpoint outcomes and positive/negative
experiences land in ``kpi_windows`` exactly, per hour and channel, with answers attributed to their
touchpoint's channel, resends counted once and an out-of-bounds duration dead-lettered at its path.
The expected counters are computed here from the generated events, without ``kpi.counts``."""
from __future__ import annotations

import asyncio
import math
import random
from datetime import datetime, timezone

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.topics import topic_names
from cxpulse.runtime import RunOptions, run
from kpi.measures import Metric, measure
from tests.helpers import read_topic
from warehouse.client import Warehouse
from warehouse.queries import read_windows

pytestmark = [pytest.mark.integration]

HOUR_S = 3600
T0_S = 1_793_613_600  # 2026-11-02T10:00:00Z
TENANT = "acme"


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat().replace("+00:00", "Z")


def _generate(seed: int = 12):
    rng = random.Random(seed)
    touchpoints, answers = [], []
    for i in range(80):
        t = T0_S + rng.randrange(2 * HOUR_S)
        data = {"interaction_id": f"i-{i}", "channel": rng.choice(["phone", "chat"])}
        for flag in ("converted", "abandoned", "transferred"):
            v = rng.choice([True, False, None])
            if v is not None:
                data[flag] = v
        if rng.random() < 0.9:
            data["wait_s"] = round(rng.uniform(0, 600), rng.choice([0, 1, 2, 3]))
        if rng.random() < 0.9:
            data["handle_s"] = 0.0 if data.get("abandoned") else round(rng.uniform(5, 1800), 2)
        touchpoints.append((t, data))
    for k in range(60):
        i = rng.randrange(80)
        scores = {}
        for name, low, high in (("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)):
            if rng.random() < 0.6:
                scores[name] = rng.randint(low, high)
        if not scores:
            scores["fcr"] = rng.random() < 0.5
        answers.append((touchpoints[i][0] + 30, {"interaction_id": f"i-{i}", "survey_id": "s1", "answers": scores}))
    return touchpoints, answers


def _event(event_id: str, typ: str, t_s: float, data: dict) -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/crm", "type": typ, "time": _iso(t_s), "data": data,
            "tenant": TENANT}


def _expected(touchpoints, answers) -> dict[tuple[int, str], dict[str, int]]:
    """Counters per (hour start, channel), from the rules in kpi.counts' docstring, written out again."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    channel_of = {d["interaction_id"]: d["channel"] for _, d in touchpoints}

    def cell(t_s: float, channel: str) -> dict[str, int]:
        return out.setdefault((int(t_s) - int(t_s) % HOUR_S, channel), {
            "touchpoints": 0, "tp_converted_n": 0, "tp_converted": 0, "tp_abandoned_n": 0, "tp_abandoned": 0,
            "tp_transferred_n": 0, "tp_transferred": 0, "tp_wait_n": 0, "tp_wait_ds": 0, "tp_wait_ds2": 0,
            "tp_handle_n": 0, "tp_handle_ds": 0, "tp_handle_ds2": 0, "answers_positive": 0, "answers_negative": 0})

    for t, d in touchpoints:
        c = cell(t, d["channel"])
        c["touchpoints"] += 1
        for flag, n_name in (("converted", "tp_converted_n"), ("abandoned", "tp_abandoned_n"),
                             ("transferred", "tp_transferred_n")):
            if flag in d:
                c[n_name] += 1
                c[f"tp_{flag}"] += d[flag] is True
        if "wait_s" in d:
            ds = math.floor(d["wait_s"] * 10 + 0.5)
            c["tp_wait_n"] += 1
            c["tp_wait_ds"] += ds
            c["tp_wait_ds2"] += ds * ds
        if "handle_s" in d and d.get("abandoned") is not True:
            ds = math.floor(d["handle_s"] * 10 + 0.5)
            c["tp_handle_n"] += 1
            c["tp_handle_ds"] += ds
            c["tp_handle_ds2"] += ds * ds
    for t, d in answers:
        s = d["answers"]
        negative = s.get("nps", 99) <= 6 or s.get("csat", 99) <= 2 or s.get("ces", 99) <= 3
        positive = s.get("nps", -1) >= 9 or s.get("csat", -1) >= 4 or s.get("ces", -1) >= 6
        c = cell(t, channel_of[d["interaction_id"]])
        c["answers_negative"] += negative
        c["answers_positive"] += positive and not negative
    return out


@pytest.fixture
async def worker(settings):
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(settings, RunOptions(api=False, worker=True), ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_outcome_and_experience_counters_are_exact_per_hour_and_channel(worker) -> None:
    settings = worker
    names = topic_names(settings.kafka.topic_prefix)
    touchpoints, answers = _generate()
    events = [_event(f"tp-{i}", "cx.touchpoint.v1", t, d) for i, (t, d) in enumerate(touchpoints)]
    events += [_event(f"ans-{k}", "cx.survey.response.v1", t, d) for k, (t, d) in enumerate(answers)]
    # Answers first for half of them (attribution waits for the touchpoint), resends of ten events.
    order = events[80:110] + events[:80] + events[110:] + events[:5] + events[100:105]
    too_long = _event("tp-long", "cx.touchpoint.v1", T0_S, {"interaction_id": "i-long", "channel": "phone",
                                                             "wait_s": 30 * 86_400 + 1})
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        for start in range(0, len(order), 25):
            await producer.send_and_wait(names["raw"], orjson.dumps(order[start:start + 25]))
        await producer.send_and_wait(names["raw"], orjson.dumps([too_long]))
    finally:
        await producer.stop()

    [letter] = await read_topic(settings.kafka.bootstrap, names["dead_letter"], 1)
    assert orjson.loads(letter.value)["path"] == "data.wait_s"

    want = _expected(touchpoints, answers)
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    got: dict[tuple[int, str], dict[str, int]] = {}
    for _ in range(240):
        rows = await read_windows(wh, TENANT, "1h", ("channel",), ("channel",), {}, T0_S, T0_S + 2 * HOUR_S)
        got = {(r.window_start, r.group[0]): {f: getattr(r.counts, f) for f in next(iter(want.values()))}
               for r in rows if not r.counts.is_zero()}  # cells of answers re-attributed are left at zero
        if got == want:
            break
        await asyncio.sleep(0.25)
    assert got == want
    assert sum(c["answers_positive"] + c["answers_negative"] for c in want.values()) > 20  # the data exercise it

    # The overall view of the same hours sums the channels, and the measures read it back.
    overall = await read_windows(wh, TENANT, "1h", (), (), {}, T0_S, T0_S + 2 * HOUR_S)
    first = overall[0].counts
    phone, chat = want[(T0_S, "phone")], want[(T0_S, "chat")]
    assert first.tp_wait_ds2 == phone["tp_wait_ds2"] + chat["tp_wait_ds2"]
    wait = measure(Metric.wait_time, first)
    assert wait.value == pytest.approx((phone["tp_wait_ds"] + chat["tp_wait_ds"]) / 10
                                       / (phone["tp_wait_n"] + chat["tp_wait_n"]))
