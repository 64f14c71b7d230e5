"""/board without a browser: the bundle is served with its headers, a missing bundle answers 503."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.deps import Services
from api.main import create_api
from api.routers.board import BOARD_DIR, MISSING, mount_board


def _client(directory: Path) -> httpx.AsyncClient:
    app = FastAPI()
    mount_board(app, directory)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://board.test")


async def test_missing_bundle_answers_503_with_the_fix(tmp_path: Path) -> None:
    async with _client(tmp_path / "board_static") as c:
        for path in ("/board/", "/board/board.js"):
            r = await c.get(path)
            assert r.status_code == 503 and r.text == MISSING and "make board" in r.text
        r = await c.get("/board", follow_redirects=True)
        assert r.status_code == 503


async def test_bundle_is_served_with_a_same_origin_policy(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>b</title>")
    (tmp_path / "board.js").write_text("console.log(1)")
    async with _client(tmp_path) as c:
        r = await c.get("/board", follow_redirects=False)
        assert r.status_code in (307, 308) and r.headers["location"].endswith("/board/")
        r = await c.get("/board/")
        assert r.status_code == 200 and r.text == "<!doctype html><title>b</title>"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        r = await c.get("/board/board.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert (await c.get("/board/nope.js")).status_code == 404


def test_the_api_mounts_the_board_from_package_data() -> None:
    app = create_api(Services(settings=None, warehouse=None, publisher=None, ingest=None))  # type: ignore[arg-type]
    mounts = [r for r in app.routes if getattr(r, "name", "") == "board"]
    assert len(mounts) == 1 and mounts[0].path == "/board"
    assert Path(mounts[0].app.directory) == BOARD_DIR == Path(__file__).resolve().parents[2] / "api" / "board_static"


@pytest.mark.skipif(not (BOARD_DIR / "index.html").exists(), reason="the board is not built (`make board`)")
def test_built_bundle_loads_nothing_from_elsewhere() -> None:
    html = (BOARD_DIR / "index.html").read_text()
    assert 'src="board.js"' in html and 'href="board.css"' in html
    for text in (html, (BOARD_DIR / "board.js").read_text()):
        assert "//cdn" not in text and "unpkg.com" not in text and "jsdelivr" not in text
