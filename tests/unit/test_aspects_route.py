"""GET /v1/aspects lists the configured aspects (label, scale, top-2 threshold, metric names) by name,
with the defaults ``core.aspects.validate_specs`` fills in, and needs a ``read`` key."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from api.deps import Services
from api.main import create_api
from core import aspects as aspect_config
from core.settings import ApiKey, Settings

READ, INGEST = "k-aspects-read", "k-aspects-ingest"
CONFIG = {"wait_time": {"label": "Wait time", "min": 1, "max": 5},
          "cleanliness": {"min": 0, "max": 10, "top2_min": 9}}


@pytest.fixture(autouse=True)
def _reset_aspects():
    yield
    aspect_config.configure({})


def _get(aspects: dict, key: str) -> httpx.Response:
    settings = Settings(aspects=aspects)
    settings.api.keys = {READ: ApiKey(tenant="acme", scopes=["read"]), INGEST: ApiKey(tenant="acme", scopes=["ingest"])}
    app = create_api(Services(settings, None, None, None))  # type: ignore[arg-type]  # the route reads no warehouse

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get("/v1/aspects", headers={"Authorization": f"Bearer {key}"} if key else {})

    return asyncio.run(get())


def test_lists_the_configured_aspects_by_name_with_their_scales() -> None:
    r = _get(CONFIG, READ)
    assert r.status_code == 200, r.text
    expected = []
    for name in sorted(CONFIG):
        cfg = CONFIG[name]
        expected.append({"name": name, "label": cfg.get("label", name), "min": cfg["min"], "max": cfg["max"],
                         "top2_min": cfg.get("top2_min", cfg["max"] - 1),
                         "metrics": [f"aspect:{name}", f"aspect_top2:{name}"]})
    assert r.json() == {"data": expected, "count": len(CONFIG)}


def test_no_aspects_configured_is_an_empty_list() -> None:
    assert _get({}, READ).json() == {"data": [], "count": 0}


def test_needs_a_read_key() -> None:
    assert _get(CONFIG, "").status_code == 401
    assert _get(CONFIG, INGEST).status_code == 403
