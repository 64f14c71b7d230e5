"""`chromium --headless --screenshot --virtual-time-budget` on /board finishes: the picture is taken.

Such tools wait for pending requests before their virtual clock moves, and an event stream never
completes; so the board opens its stream only after the first paint plus a delay, and not at all
with `?static=1` (board/src/api.js openStream, board/src/main.js).
"""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import ARGS, BUNDLE, CHROMIUM, _missing
from tests.conftest import TEST_KEY

pytestmark = [pytest.mark.e2e]


#: static: any budget; live: a budget shorter than the stream's start delay (main.js STREAM_START_MS)
@pytest.mark.parametrize(("query", "budget_ms"), [("?static=1", 8000), ("", 1000)])
async def test_a_headless_screenshot_of_the_board_finishes(stack: httpx.AsyncClient, tmp_path: Path,
                                                           query: str, budget_ms: int) -> None:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing")
    if not BUNDLE.exists():
        _missing("the board is not built: run `make board`")
    shot = tmp_path / "board.png"
    url = f"{str(stack.base_url).rstrip('/')}/board/{query}#token={TEST_KEY}"
    with tempfile.TemporaryDirectory(prefix="cxpulse-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            str(CHROMIUM), *ARGS, f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,900",
            f"--virtual-time-budget={budget_ms}", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"chromium --screenshot did not finish on /board/{query}")
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty one
