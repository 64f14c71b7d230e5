"""The operational metrics move when their events happen (alerting, webhook delivery, sink retries).

Values are read back from the process registry as deltas: other tests in the
same process may have moved the same counters before.
"""
from __future__ import annotations

import time

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from alerts.evaluator import evaluate
from alerts.metrics import observe_alert_round
from api.metrics import HttpMetrics
from alerts.rules import Rule
from alerts.state import AlertState, Status
from core.domain_settings import WebhookSettings
from kpi.counts import KpiCounts
from core.errors import WarehouseUnavailable
from warehouse.webhook_queries import SubscriptionRow
from warehouse.writer import KpiWriter
from notifications import Notification
from webhooks.delivery import Deliverer
from webhooks.metrics import MeteredRecorder
from webhooks.signing import generate_secret


def value(name: str, **labels: str) -> float:
    got = REGISTRY.get_sample_value(name, labels)
    return 0.0 if got is None else got


def snapshot(*keys: tuple[str, dict[str, str]]) -> dict[tuple[str, tuple], float]:
    return {(n, tuple(sorted(lab.items()))): value(n, **lab) for n, lab in keys}


RULE = {"id": "r", "name": "CSAT chat", "metric": "csat", "scope": {"channel": "chat"}, "condition": "below",
        "threshold": 80, "min_n": 20, "repeat_interval_s": 0}


async def test_alert_round_counts_rules_notifications_and_states() -> None:
    breaching = Rule(**RULE)
    disabled = Rule(**{**RULE, "id": "off", "enabled": False})
    rules = [("acme", breaching), ("acme", disabled)]
    # A firing alert of another tenant stays firing; one ok alert of acme is the one that now fires.
    states = {("other", "fp-other"): AlertState(status=Status.firing),
              ("acme", breaching.fingerprint()): AlertState()}

    async def read(tenant: str, rule: Rule, at_ms: int) -> KpiCounts:
        return KpiCounts(csat_n=100, csat_top2=50)  # CSAT 50 % < 80 %

    before = snapshot(("cxpulse_alert_rules_evaluated_total", {}),
                      ("cxpulse_alert_notifications_total", {"kind": "firing"}),
                      ("cxpulse_alert_notifications_total", {"kind": "resolved"}),
                      ("cxpulse_alert_evaluations_total", {"outcome": "ok"}))
    started = time.time()
    transitions = await evaluate(rules, read, 60_000, states)
    observe_alert_round(rules, states, transitions)

    assert [t.after.status for t in transitions] == [Status.firing]
    assert value("cxpulse_alert_rules_evaluated_total") - before[("cxpulse_alert_rules_evaluated_total", ())] == 1
    assert value("cxpulse_alert_notifications_total", kind="firing") - before[
        ("cxpulse_alert_notifications_total", (("kind", "firing"),))] == 1
    assert value("cxpulse_alert_notifications_total", kind="resolved") == before[
        ("cxpulse_alert_notifications_total", (("kind", "resolved"),))]
    assert value("cxpulse_alert_evaluations_total", outcome="ok") - before[
        ("cxpulse_alert_evaluations_total", (("outcome", "ok"),))] == 1
    # Gauges are absolute: the states after the round, every status present.
    assert {s.value: value("cxpulse_alerts", status=s.value) for s in Status} == {
        "ok": 0, "pending": 0, "firing": 2, "resolved": 0}
    assert value("cxpulse_alert_last_evaluation_timestamp_seconds") >= started


def _sub() -> SubscriptionRow:
    return SubscriptionRow(tenant="acme", id="wh_m", url="https://hooks.example/m", event_types=("cx.alert.*",),
                           filters={}, secret=generate_secret())


class Inner:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def attempt(self, row) -> None:
        self.calls.append(f"attempt:{row.status}")

    async def dead_letter(self, row) -> None:
        self.calls.append("dead_letter")

    async def delivered(self, tenant: str, delivery_id: str) -> None:
        self.calls.append("delivered")

    async def disable(self, sub, reason: str) -> None:
        self.calls.append("disable")


async def test_metered_recorder_counts_attempts_dead_letters_and_disabled_endpoints() -> None:
    script = [503, 500, 410]
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda req: httpx.Response(script.pop(0))))
    inner = Inner()
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    deliverer = Deliverer(client, MeteredRecorder(inner), WebhookSettings(max_attempts=5),
                          sleep=sleep, rand=lambda: 0.0)
    outcomes = ("delivered", "retrying", "dead_lettered", "gone")
    before = {o: value("cxpulse_webhook_attempts_total", outcome=o) for o in outcomes}
    dead, disabled = value("cxpulse_webhook_dead_letters_total"), value("cxpulse_webhook_endpoints_disabled_total")
    observed = value("cxpulse_webhook_attempt_seconds_count")
    body = orjson.dumps({"specversion": "1.0", "id": "a-1", "source": "/alerts", "type": "cx.alert.firing.v1",
                         "tenant": "acme", "data": {}})
    result = await deliverer.deliver(Notification.parse(body), _sub())
    await client.aclose()

    assert result.status == "gone" and result.attempts == 3
    assert inner.calls == ["attempt:retrying", "attempt:retrying", "attempt:gone", "disable", "dead_letter"]
    assert {o: value("cxpulse_webhook_attempts_total", outcome=o) - before[o] for o in outcomes} == {
        "delivered": 0, "retrying": 2, "dead_lettered": 0, "gone": 1}
    assert value("cxpulse_webhook_dead_letters_total") - dead == 1
    assert value("cxpulse_webhook_endpoints_disabled_total") - disabled == 1
    assert value("cxpulse_webhook_attempt_seconds_count") - observed == 3


async def test_a_skipped_delivery_counts_as_an_attempt_without_latency() -> None:
    from warehouse.webhook_queries import AttemptRow

    inner = Inner()
    skipped = value("cxpulse_webhook_attempts_total", outcome="skipped")
    observed = value("cxpulse_webhook_attempt_seconds_count")
    await MeteredRecorder(inner).attempt(AttemptRow(
        tenant="acme", subscription_id="wh_m", delivery_id="d", event_id="e", event_type="cx.case.opened.v1",
        attempt=0, status="skipped", http_status=None, error="no Alertmanager form", attempted_at=0.0,
        duration_ms=0))
    assert inner.calls == ["attempt:skipped"]
    assert value("cxpulse_webhook_attempts_total", outcome="skipped") - skipped == 1
    assert value("cxpulse_webhook_attempt_seconds_count") == observed


class FlakyWarehouse:
    """Refuses the first ``failures`` inserts the way an unreachable server does, then stores them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inserted: list[str] = []

    async def araw_insert(self, table: str, columns, body: bytes, fmt: str) -> None:
        if self.failures:
            self.failures -= 1
            raise WarehouseUnavailable("connection refused", retry_after=0.01)
        self.inserted.append(table)


async def test_sink_retries_are_counted_while_the_write_is_still_failing() -> None:
    wh = FlakyWarehouse(failures=2)
    writer = KpiWriter(wh)  # type: ignore[arg-type]
    before = value("cxpulse_sink_retries_total")
    writer.add_ledger({"type": "cx.touchpoint.v1", "tenant": "acme", "_key": 1, "source": "s", "id": "e1",
                       "time_ms": 0, "_shard": 0, "_offset": 0})
    stats = await writer.flush()
    assert stats.retries == 2 and wh.inserted == ["touchpoints"]
    assert value("cxpulse_sink_retries_total") - before == 2


@pytest.mark.parametrize("status", list(Status))
def test_every_alert_status_has_a_series_from_the_start(status: Status) -> None:
    assert REGISTRY.get_sample_value("cxpulse_alerts", {"status": status.value}) is not None


async def test_http_middleware_counts_by_route_template_and_status_class() -> None:
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    app.add_middleware(HttpMetrics)

    @app.get("/probe/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(404)
        if item_id == "boom":
            raise RuntimeError("boom")
        return {"id": item_id}

    @app.get("/probe/stream")
    async def stream() -> StreamingResponse:
        async def events():
            yield b"data: 1\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    route = "/probe/items/{item_id}"
    before = {c: value("cxpulse_http_requests_total", method="GET", route=route, code=c) for c in ("2xx", "4xx", "5xx")}
    timed = value("cxpulse_http_request_seconds_count", route=route)
    streams_timed = value("cxpulse_http_request_seconds_count", route="/probe/stream")
    streams = value("cxpulse_http_requests_total", method="GET", route="/probe/stream", code="2xx")
    unmatched = value("cxpulse_http_requests_total", method="GET", route="unmatched", code="4xx")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        codes = [(await client.get(f"/probe/items/{i}")).status_code for i in ("a", "b", "missing", "boom")]
        codes.append((await client.get("/probe/stream")).status_code)
        codes.append((await client.get("/probe/nowhere")).status_code)
    assert codes == [200, 200, 404, 500, 200, 404]
    assert {c: value("cxpulse_http_requests_total", method="GET", route=route, code=c) - before[c]
            for c in before} == {"2xx": 2, "4xx": 1, "5xx": 1}
    assert value("cxpulse_http_request_seconds_count", route=route) - timed == 4
    assert value("cxpulse_http_requests_total", method="GET", route="/probe/stream", code="2xx") - streams == 1
    assert value("cxpulse_http_request_seconds_count", route="/probe/stream") == streams_timed
    assert value("cxpulse_http_requests_total", method="GET", route="unmatched", code="4xx") - unmatched == 1
