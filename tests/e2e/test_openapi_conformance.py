"""schemathesis against the running stack: the OpenAPI document says what the API really does.

Every check is on (``--checks all``): no 5xx, no status a route does not document, every body
and header as its schema says, schema-valid requests accepted and invalid ones refused (with the
per-operation exceptions ``schemathesis.toml`` states and explains), OPTIONS answered with the
methods the path has. Bounded: a fixed seed and ``MAX_EXAMPLES`` per operation and phase, so a
run generates the same requests each time (about a minute and a half here).
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from core.settings import ApiKey
from webhooks import egress

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ADMIN_KEY = "test-key-acme-admin"
MAX_EXAMPLES = 10
SEED = 1
#: The stateful phase (following links between operations) is left out: it costs minutes here.
PHASES = "examples,coverage,fuzzing"


@pytest.fixture
def settings(settings):
    settings.api.keys[ADMIN_KEY] = ApiKey(tenant="acme", scopes=["admin"])
    return settings


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Generated webhooks may only point at loopback (allowlisted in the test settings): a rule the run
    creates could fire, and nothing may be sent off this machine. Other addresses answer 422."""
    refusal = egress.address_refusal
    monkeypatch.setattr(egress, "address_refusal",
                        lambda ip: refusal(ip) or "public (refused in tests: nothing leaves this machine)")


async def test_schemathesis_all_checks_pass(stack, settings, tmp_path):
    url = f"http://127.0.0.1:{settings.api.port}"
    doc = (await stack.get("/openapi.json")).json()
    operations = sum(len(methods) for methods in doc["paths"].values())
    cli = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(cli), "--config-file", str(HERE / "schemathesis.toml"), "--no-color",
        "run", f"{url}/openapi.json", "--checks", "all", "--phases", PHASES,
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1", "--request-timeout", "10",
        "--header", f"Authorization: Bearer {ADMIN_KEY}", "--report-dir", str(tmp_path),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the hooks module: tests.e2e.schemathesis_hooks
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 600)  # the stack keeps serving while we wait
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-20000:]
    assert f"Tested: {operations}" in text, text[-3000:]  # every operation of the document was run
