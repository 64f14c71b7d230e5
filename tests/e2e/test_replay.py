"""`cxpulse replay`: history through the API into past windows, rejections kept, resumable."""
from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clients.replay import load_state, rejects_path, replay
from clients.simulator import ContactCenterSimulator
from tests.helpers import parse_ms

pytestmark = [pytest.mark.e2e]

HOUR_MS = 3_600_000
FROM, TO = "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"


def _history() -> list[dict]:
    from datetime import datetime, timezone

    sim = ContactCenterSimulator(seed=21, rate_per_hour=300)
    start = datetime(2026, 10, 1, 6, tzinfo=timezone.utc)
    end = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
    return [e for e in sim.generate(start, end) if parse_ms(e["time"]) < parse_ms(TO)]


async def _hourly_touchpoints(client: httpx.AsyncClient) -> dict[int, int]:
    body = (await client.get("/v1/kpis", params={"metric": "volume", "window": "1h",
                                                 "from": FROM, "to": TO})).json()
    return {parse_ms(p["window_start"]): p["counts"]["touchpoints"] for p in body["data"]
            if p["counts"]["touchpoints"]}


class _FailOnce(httpx.AsyncBaseTransport):
    """Forwards to the real API but fails the n-th POST, as an interrupted run would."""

    def __init__(self, real: httpx.AsyncBaseTransport, fail_on: int) -> None:
        self.real, self.fail_on, self.posts = real, fail_on, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == self.fail_on:
                raise httpx.ConnectError("interrupted", request=request)
        return await self.real.handle_async_request(request)


async def test_ndjson_replay_rejects_bad_rows_resumes_and_lands_in_past_windows(
        stack: httpx.AsyncClient, tmp_path: Path) -> None:
    events = _history()
    assert len(events) > 1200
    lines = [orjson.dumps(e) for e in events]
    bad_score = {**events[5], "id": "bad-score", "type": "cx.survey.response.v1",
                 "data": {"survey_id": "s", "answers": {"nps": 42}}}
    lines.insert(10, orjson.dumps(bad_score))          # physical line 11
    lines.insert(700, b"{torn line")                    # physical line 701
    lines.insert(1100, b"")                             # blank: skipped, not a row
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")

    flaky = httpx.AsyncClient(base_url=str(stack.base_url), headers=dict(stack.headers),
                              transport=_FailOnce(httpx.AsyncHTTPTransport(), fail_on=2))
    with pytest.raises(httpx.ConnectError):
        await replay(path, flaky, batch_size=500)
    assert load_state(path).rows_done == 500  # the first batch was acknowledged and saved

    summary = await replay(path, stack, batch_size=500)
    assert summary.resumed_from == 500
    assert summary.rows_total == len(events) + 2
    assert (summary.accepted, summary.rejected) == (len(events), 2)
    rejected = [orjson.loads(x) for x in rejects_path(path).read_bytes().splitlines()]
    assert [(r["row"], r["path"]) for r in rejected] == [(11, "data.answers.nps"), (701, "")]

    expected = Counter(parse_ms(e["time"]) // HOUR_MS * HOUR_MS for e in events if e["type"] == "cx.touchpoint.v1")
    for _ in range(150):
        if await _hourly_touchpoints(stack) == dict(expected):
            break
        await asyncio.sleep(0.2)
    assert await _hourly_touchpoints(stack) == dict(expected)

    again = await replay(path, stack, batch_size=500)  # nothing left to do
    assert (again.resumed_from, again.accepted) == (summary.rows_done, summary.accepted)


async def test_csv_and_parquet_replay(stack: httpx.AsyncClient, tmp_path: Path) -> None:
    rows = [
        {"specversion": "1.0", "id": f"csv-{i}", "source": "/legacy", "type": "cx.survey.response.v1",
         "time": f"2026-10-01T0{i % 3}:30:00Z", "data.survey_id": "s1", "data.answers.nps": str(i % 11),
         "data.answers.fcr": "true" if i % 2 else "false", "data.channel": "email"}
        for i in range(30)
    ]
    rows.append({**rows[0], "id": "csv-bad", "data.answers.fcr": "maybe"})
    csv_path = tmp_path / "answers.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = await replay(csv_path, stack, batch_size=7)
    assert (summary.accepted, summary.rejected) == (30, 1)

    table = pa.Table.from_pylist([
        {"specversion": "1.0", "id": f"pq-{i}", "source": "/legacy", "type": "cx.survey.response.v1",
         "time": "2026-10-01T04:10:00Z",
         "data": {"survey_id": "s2", "answers": {"csat": 1 + i % 5}, "channel": "store"}}
        for i in range(25)
    ])
    pq_path = tmp_path / "answers.parquet"
    pq.write_table(table, pq_path)
    summary = await replay(pq_path, stack)
    assert (summary.accepted, summary.rejected) == (25, 0)

    want_promoters = sum(1 for i in range(30) if i % 11 >= 9)
    params = {"metric": "nps", "window": "1d", "from": FROM, "to": TO, "channel": "email"}
    for _ in range(150):
        body = (await stack.get("/v1/kpis", params=params)).json()
        if body["data"] and body["data"][0]["n"] == 30:
            break
        await asyncio.sleep(0.2)
    assert body["data"][0]["n"] == 30 and body["data"][0]["counts"]["promoters"] == want_promoters
    body = (await stack.get("/v1/kpis", params={**params, "metric": "csat", "channel": "store"})).json()
    assert body["data"][0]["counts"] == {"csat_n": 25, "csat_top2": 10}
