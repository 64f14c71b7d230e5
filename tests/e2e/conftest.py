"""The running stack (broker, worker, API, chDB) in this test process, and a client for it."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from cxpulse.runtime import RunOptions, run
from tests.conftest import TEST_KEY

@pytest.fixture
async def stack(settings):
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(settings, RunOptions(api=True, worker=True), ready=ready, stop=stop))
    done, _ = await asyncio.wait([task, asyncio.create_task(ready.wait())], timeout=60,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert ready.is_set(), "stack did not start within 60 s"
    url = f"http://127.0.0.1:{settings.api.port}"
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TEST_KEY}"},
                                 timeout=30) as client:
        yield client
    stop.set()
    await asyncio.wait_for(task, 30)
