"""GET /metrics of the API: OpenMetrics text when the Accept header asks for it, the Prometheus text format otherwise."""
from __future__ import annotations

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from api.deps import Services
from api.main import create_api
from core.settings import Settings


@pytest.fixture
async def client():
    app = create_api(Services(Settings(), None, None, None))  # type: ignore[arg-type]  # /metrics uses none
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
        yield c


async def test_openmetrics_when_asked_for(client) -> None:
    # what Prometheus sends when it scrapes
    accept = "application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
    r = await client.get("/metrics", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert r.text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(r.text)}  # raises unless valid OpenMetrics
    assert families["cxpulse_webhook_egress_refused"].type == "counter"
    assert {s.labels["stage"] for s in families["cxpulse_webhook_egress_refused"].samples} >= {"registration", "delivery"}


@pytest.mark.parametrize("accept", [None, "text/plain", "*/*", "text/html,application/xhtml+xml"])
async def test_the_text_format_otherwise(client, accept: str | None) -> None:
    r = await client.get("/metrics", headers={"Accept": accept} if accept else {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in r.text
    assert "cxpulse_webhook_egress_refused_total" in {f.name + "_total" for f in parse_text(r.text)
                                                       if f.type == "counter"}
