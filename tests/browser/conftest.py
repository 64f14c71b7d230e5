"""Browser tests: the real stack in this process (the e2e `stack` fixture) and headless Debian Chromium
driven by Playwright. Chromium comes from the `chromium` Debian package (`.ci/run` installs it when it is
missing), never from `playwright install`: the machines reach package registries only."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.e2e.conftest import stack  # noqa: F401  (the running stack, reused as is)

CHROMIUM = Path("/usr/bin/chromium")
BUNDLE = Path(__file__).resolve().parents[2] / "api" / "board_static" / "index.html"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(what: str) -> None:
    """Skip on a developer's machine; fail in CI, where a skipped browser test would hide a broken board."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the browser test must run)")
    pytest.skip(what)


@pytest.fixture
async def browser_context():
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: `apt-get install -y chromium chromium-driver`")
    if not BUNDLE.exists():
        _missing("the board is not built: run `make board`")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright is not installed: `.venv/bin/pip install -e '.[dev]'`")
    with tempfile.TemporaryDirectory(prefix="cxpulse-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
            try:
                yield context
            finally:
                await context.close()
