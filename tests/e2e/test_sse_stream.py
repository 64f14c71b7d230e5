"""GET /v1/stream on the real stack: KPI updates with the exact counts of posted answers, an alert
state change pushed as it is written, resume with Last-Event-ID, and the `access_token` parameter."""
from __future__ import annotations

import asyncio
import contextlib

import httpx
import orjson
import pytest

from alerts.evaluator import evaluate_once
from core.settings import ApiKey
from notifications import Publisher
from tests.conftest import TEST_KEY, TEST_TENANT, make_settings
from tests.e2e.test_alerts_api import BATCH, HOUR, NOW_MS, RULE, _answers
from warehouse.client import Warehouse

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-acme-admin"
STREAM = {"metric": "csat", "window": "1h", "channel": "chat", "from": f"{HOUR}:00:00Z", "interval": 0.5}


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["read", "admin"])
    return s


class SseReader:
    """Reads one SSE response in a task; events (and comments) land in ``events``."""

    def __init__(self, client: httpx.AsyncClient, params: dict, headers: dict | None = None) -> None:
        self.client, self.params, self.headers = client, params, headers or {}
        self.events: list[dict] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self.content_type = ""
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with self.client.stream("GET", "/v1/stream", params=self.params, headers=self.headers) as resp:
            self.status, self.content_type = resp.status_code, resp.headers.get("content-type", "")
            self._new.set()
            if resp.status_code != 200:
                await resp.aread()
                return
            ev: dict = {}
            async for line in resp.aiter_lines():
                if line == "":
                    if ev:
                        if "data" in ev:
                            ev["data"] = orjson.loads(ev["data"])
                        self.events.append(ev)
                        self._new.set()
                    ev = {}
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    ev[name] = value[1:] if value.startswith(" ") else value

    async def wait_for(self, pred, what: str, timeout: float = 60) -> dict:
        async def loop() -> dict:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                if self._task.done():
                    self._task.result()
                    raise AssertionError(f"stream ended before {what}: {self.events}")
                self._new.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._new.wait(), 1)
        try:
            return await asyncio.wait_for(loop(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; got {self.events}") from None

    async def started(self, timeout: float = 30) -> None:
        await asyncio.wait_for(self._new.wait(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await asyncio.wait_for(self._task, 10)


def _kpi_with_n(n: int):
    def pred(ev: dict) -> bool:
        return ev.get("event") == "kpi" and any(p["n"] == n for p in ev["data"]["data"])
    return pred


async def test_stream_pushes_kpi_counts_and_alerts(stack: httpx.AsyncClient, settings) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    live = SseReader(stack, {**STREAM, "gaps": "true"})
    try:
        await live.started()
        assert live.status == 200 and live.content_type.startswith("text/event-stream")

        # Chat CSAT: 20 top-2-box answers out of 40.
        resp = await stack.post("/v1/events", json=_answers("bad", [5] * 20 + [1] * 20, 5), headers=BATCH)
        assert resp.status_code == 202 and resp.json()["accepted"] == 80
        kpi = await live.wait_for(_kpi_with_n(40), "kpi event with n=40")
        assert kpi["data"]["metric"] == "csat" and kpi["data"]["filters"] == {"channel": "chat"}
        (point,) = [p for p in kpi["data"]["data"] if p["n"] == 40]
        assert point["window_start"] == f"{HOUR}:00:00Z" and point["value"] == 50.0
        assert point["counts"]["csat_n"] == 40 and point["counts"]["csat_top2"] == 20

        # A rule that fires on it: the transition arrives as an `alert` event.
        r = await stack.post("/v1/alert-rules", json=RULE, headers=admin)
        assert r.status_code == 201
        fp = r.json()["fingerprint"]
        wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
        publisher = Publisher(settings.kafka.bootstrap, settings.kafka.max_record_bytes)
        await publisher.start()
        try:
            (t,) = await asyncio.wait_for(evaluate_once(settings, wh, publisher, NOW_MS), 60)
        finally:
            await publisher.stop()
        assert t.after.status.value == "firing"
        alert = await live.wait_for(lambda e: e.get("event") == "alert", "alert event")
        a = alert["data"]
        assert (a["fingerprint"], a["status"], a["prev_status"], a["value"], a["n"]) == (fp, "firing", "ok", 50.0, 40)
        assert a["scope"] == {"channel": "chat"} and a["at"] == "2026-11-03T10:30:00Z"
        assert alert["id"] == f"{NOW_MS}:{fp}:firing"

        # 10 more answers: only the changed bucket is pushed again, with the new exact counts.
        resp = await stack.post("/v1/events", json=_answers("more", [5] * 10, 20), headers=BATCH)
        assert resp.json()["accepted"] == 20
        kpi = await live.wait_for(_kpi_with_n(50), "kpi event with n=50")
        assert [(p["n"], p["counts"]["csat_top2"]) for p in kpi["data"]["data"]] == [(50, 30)]
        assert kpi["id"] == alert["id"]  # the alert cursor rides on every event
        assert not [e for e in live.events if e.get("event") == "error"], live.events
        assert len([e for e in live.events if e.get("event") == "alert"]) == 1
    finally:
        await live.close()

    # A browser: no header, the key as ?access_token=, resuming from an earlier cursor.
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as browser:
        assert (await browser.get("/v1/stream", params=STREAM)).status_code == 401
        r = await browser.get("/v1/stream", params={**STREAM, "access_token": "nope"})
        assert r.status_code == 401
        bad = {**STREAM, "access_token": TEST_KEY, "window": "1m"}
        r = await browser.get("/v1/stream", params=bad)  # 19 days of minutes
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from"]
        recent = {k: v for k, v in bad.items() if k != "from"}  # the last hour of minutes
        r = await browser.get("/v1/stream", params={**recent, "gaps": "true"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "window"]
        r = await browser.get("/v1/stream", params={**STREAM, "access_token": TEST_KEY, "group_by": "planet"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "group_by"]
        resumed = SseReader(browser, {**STREAM, "access_token": TEST_KEY}, {"Last-Event-ID": "0::"})
        try:
            alert = await resumed.wait_for(lambda e: e.get("event") == "alert", "replayed alert")
            assert (alert["data"]["fingerprint"], alert["id"]) == (fp, f"{NOW_MS}:{fp}:firing")
            kpi = await resumed.wait_for(lambda e: e.get("event") == "kpi", "kpi on reconnect")
            assert [p["n"] for p in kpi["data"]["data"]] == [50]
        finally:
            await resumed.close()
        # Resuming after the last alert replays nothing.
        after = SseReader(browser, {**STREAM, "access_token": TEST_KEY}, {"Last-Event-ID": alert["id"]})
        try:
            await after.wait_for(lambda e: e.get("event") == "kpi", "kpi on reconnect")
            assert not [e for e in after.events if e.get("event") == "alert"]
        finally:
            await after.close()
