"""The board's pure front-end helpers (board/test/*.test.js), run by node's test runner inside `make test`."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BOARD = Path(__file__).resolve().parents[2] / "board"


def test_board_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is missing (CI=true): the board's unit tests must run")
        pytest.skip("node is missing")
    proc = subprocess.run([node, "--test", "test/"], cwd=BOARD, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout
