"""``/board``: the live KPI board, a static bundle served next to the API.

The bundle is built from ``board/`` (preact, htm, uPlot, bundled by esbuild: ``make board``)
into ``api/board_static/``, package data of ``api``, so a closed network needs nothing but this
process. The page only calls the public API (``/v1/kpis``, ``/v1/gaps``, ``/v1/targets``,
``/v1/alerts``, ``/v1/silences``, ``/v1/cases``, ``/v1/status``, ``/v1/stream``) with the
caller's API key; serving it needs no key. Without a bundle every ``/board`` URL answers 503
saying how to build it, instead of a bare 404.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["BOARD_DIR", "MISSING", "BoardFiles", "mount_board"]

BOARD_DIR = Path(__file__).resolve().parents[1] / "board_static"
MISSING = "The board is not built: run `make board` (needs node and npm), then reload this page.\n"

#: Everything the page loads comes from this origin; the stream and API calls included.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class BoardFiles(StaticFiles):
    """Static files that answer 503 while the bundle is missing (checked per request, so a
    ``make board`` run while the API is up is picked up without a restart)."""

    async def check_config(self) -> None:
        if Path(str(self.directory)).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (Path(str(self.directory)) / "index.html").is_file():
            return PlainTextResponse(MISSING, status_code=503, headers={"Retry-After": "60"})
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def mount_board(app: FastAPI, directory: Path = BOARD_DIR) -> None:
    app.mount("/board", BoardFiles(directory=directory, html=True, check_dir=False), name="board")
