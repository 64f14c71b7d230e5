"""The live board (/board) in headless Chromium against the real stack (HTTP -> Kafka -> Faust -> chDB -> API).

Checks that every tile shows exactly the value, n and interval `GET /v1/kpis` returns (and that those
match an independent computation from the posted CloudEvents), that the target comes from
`GET /v1/targets`, that a filter chosen in the page changes the tiles to the API's values for that
filter and lands in the URL, that an update arrives over `GET /v1/stream` without a reload, and that a
case can be acknowledged from the board. Saves the screenshot the README shows (docs/img/board.png) when CXPULSE_UPDATE_SCREENSHOT=1.
"""
from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest
from scipy import stats as sps

from core.settings import ApiKey, AspectConfig
from clients.incidents import Incident
from clients.profiles import TenantProfile
from clients.simulator import ContactCenterSimulator
from clients.times import parse_time
from tests.conftest import TEST_TENANT, make_settings
from tests.helpers import expected_kpis, nps, parse_ms

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-acme-board-admin"
HOUR_MS = 3_600_000
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
#: The README's screenshot, rewritten only when asked (CXPULSE_UPDATE_SCREENSHOT=1): a test run leaves the tree clean.
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "board.png"
#: Rolling 24 h, not the 1 h default: a tumbling hour just turned over holds too few answers to judge,
#: so the rule would not fire when the test runs across the turn of an hour.
RULE = {"id": "phone-csat", "name": "Phone CSAT", "metric": "csat", "scope": {"channel": "phone"}, "window": "24h",
        "condition": "below", "threshold": 80, "min_n": 5, "severity": "critical", "labels": {"owner": "phone-ops"}}
#: Decimals and unit of each tile, as the board formats them (board/src/kpi.js TILES).
TILES = {"nps": (1, ""), "csat": (1, "%"), "ces": (2, ""), "fcr": (1, "%"), "response_rate": (1, "%"),
         "volume": (0, "count"), "pos_neg_ratio": (2, ":1"), "conversion_rate": (1, "%"), "abandonment_rate": (1, "%"),
         "transfer_rate": (1, "%"), "wait_time": (0, " s"), "handle_time": (0, " s"), "aspect:wait_time": (2, "")}
#: The rated aspect configured here: its tile (from GET /v1/aspects) joins the fixed ones.
ASPECT = "wait_time"


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["ingest", "read", "admin"])
    s.cases.enabled = True
    s.alerts.evaluate_every_s = 1.0
    s.aspects = {ASPECT: AspectConfig(label="Wait time", min=1, max=5)}
    return s


def shown(metric: str, value: float | None) -> str:
    """The text of a tile's value: JavaScript's toFixed rounds half away from zero on the exact double."""
    if value is None:
        return "—"
    digits, unit = TILES[metric]
    if unit == "count":
        return f"{round(value):,}"
    text = str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return text + unit


def _history(now: datetime) -> list[dict]:
    """Three hours of a simulated contact center up to now (answers due later left out, as the demo does),
    with phone answers of consumers much worse meanwhile, so the heatmap has a cell to find."""
    incident = Incident(start=now - timedelta(hours=3), end=now, scope={"channel": "phone", "segment": "consumer"},
                        csat_shift=-2.5, nps_shift=-5, affects="answers")
    # Local time is pinned to late morning, whatever the hour the test runs at: the diurnal curve
    # would leave a night-time hour too few answers to judge any heatmap cell.
    profile = TenantProfile(utc_offset_hours=11 - now.hour)
    sim = ContactCenterSimulator(seed=23, tenant_profile=profile, rate_per_hour=4000, incidents=[incident])
    events = [e for e in sim.generate(now - timedelta(hours=3), now) if parse_time(e["time"]) <= now]
    rng = random.Random(29)
    for e in events:  # most answers also rate the wait (the simulator rates no aspect)
        if e["type"] == "cx.survey.response.v1" and rng.random() < 0.8:
            e["data"]["answers"]["aspects"] = {ASPECT: rng.randint(1, 5)}
    return events


def _aspect_scores(events: list[dict], window_start_ms: int) -> list[int]:
    """Scores of the aspect in the answers (first delivery) sent in the hour starting at ``window_start_ms``."""
    seen: dict = {}
    for e in events:
        seen.setdefault((e["source"], e["id"]), e)
    return [e["data"]["answers"]["aspects"][ASPECT] for e in seen.values()
            if e["type"] == "cx.survey.response.v1" and ASPECT in e["data"]["answers"].get("aspects", {})
            and parse_ms(e["time"]) // HOUR_MS * HOUR_MS == window_start_ms]


def _detractors(channel: str, count: int, at: datetime) -> list[dict]:
    out = []
    for i in range(count):
        iid = f"board-{uuid.uuid4().hex[:12]}"
        t = at.isoformat().replace("+00:00", "Z")
        out.append({"specversion": "1.0", "id": f"tp-{iid}", "source": "/pbx", "type": "cx.touchpoint.v1",
                    "time": t, "data": {"interaction_id": iid, "channel": channel, "segment": "consumer"}})
        out.append({"specversion": "1.0", "id": f"sr-{iid}", "source": "/survey", "type": "cx.survey.response.v1",
                    "time": t, "data": {"interaction_id": iid, "survey_id": "s", "answers": {"nps": i % 3}}})
    return out


async def _post(client: httpx.AsyncClient, events: list[dict]) -> None:
    for i in range(0, len(events), 1000):
        r = await client.post("/v1/events", json=events[i:i + 1000], headers=BATCH)
        assert r.status_code == 202 and not r.json()["rejected"], r.text


async def _latest(client: httpx.AsyncClient, metric: str, window: str = "1h", **filters: str) -> dict | None:
    r = await client.get("/v1/kpis", params={"metric": metric, "window": window, **filters})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return data[-1] if data else None


async def _wait_totals(client: httpx.AsyncClient, expected: dict[str, int], since: datetime, timeout: float = 90):
    """Until the API holds every posted event: touchpoints and NPS answers summed over the hours since `since`."""
    deadline = asyncio.get_running_loop().time() + timeout
    got: dict[str, int] = {}
    while asyncio.get_running_loop().time() < deadline:
        for metric, field in (("volume", "touchpoints"), ("nps", "nps_n")):
            r = await client.get("/v1/kpis", params={"metric": metric, "window": "1h",
                                                     "from": since.isoformat().replace("+00:00", "Z")})
            got[field] = sum(p["n"] for p in r.json()["data"])
        if got == expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"API totals {got} != posted {expected}")


async def _wait_firing(client: httpx.AsyncClient, rule_id: str, timeout: float = 60) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await client.get("/v1/alerts", params={"current": "true", "rule_id": rule_id})
        found = [a for a in r.json()["data"] if a["status"] == "firing"]
        if found:
            return found[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"alert rule {rule_id} never fired")


async def _tiles(page) -> dict[str, dict]:
    return await page.eval_on_selector_all(".tile", """els => Object.fromEntries(els.map(e => [e.dataset.metric, {
        value: e.dataset.value, n: e.dataset.n, ci_low: e.dataset.ciLow, ci_high: e.dataset.ciHigh,
        start: e.dataset.windowStart, text: (e.querySelector('.value') || {}).textContent,
        target: (e.querySelector('.target') || {}).textContent}]))""")


def _same(tile: dict, point: dict | None) -> bool:
    if point is None:
        return tile["n"] == ""
    num = lambda s: None if s == "" else float(s)  # noqa: E731
    return (tile["n"] == str(point["n"]) and num(tile["value"]) == point["value"]
            and num(tile["ci_low"]) == point["ci_low"] and num(tile["ci_high"]) == point["ci_high"]
            and parse_ms(tile["start"]) == parse_ms(point["window_start"]))


async def _wait_tiles(page, client: httpx.AsyncClient, filters: dict[str, str], timeout: float = 60,
                      until=lambda tiles: True, window: str = "1h") -> dict:
    """Until every tile shows the API's latest bucket of `window` for `filters` (and `until` holds); returns
    {metric: (tile, point)}. The page's CSP forbids eval, so this polls from Python."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        tiles = await _tiles(page)
        points = {m: await _latest(client, m, window, **filters) for m in TILES}
        if until(tiles) and all(m in tiles and _same(tiles[m], points[m]) for m in TILES):
            return {m: (tiles[m], points[m]) for m in TILES}
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"tiles {tiles} never matched the API {points}")
        await asyncio.sleep(0.5)


async def test_board_shows_the_api_values_filters_and_live_updates(stack: httpx.AsyncClient, browser_context,
                                                                   tmp_path: Path) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    now = datetime.now(timezone.utc)
    events = _history(now)
    assert len(events) > 2000
    await _post(stack, events)
    r = await stack.put("/v1/targets", headers=admin, json={
        "metric": "nps", "scope": {}, "value": 25, "valid_from": (now - timedelta(days=1)).isoformat()})
    assert r.status_code == 200, r.text
    r = await stack.post("/v1/alert-rules", headers=admin, json=RULE)
    assert r.status_code == 201, r.text
    since = now - timedelta(hours=4)
    posted = expected_kpis(events, HOUR_MS, None)
    totals = {f: int(sum(t.get(f, 0) for t in posted.values())) for f in ("touchpoints", "nps_n")}
    await _wait_totals(stack, totals, since)

    # The API's latest bucket agrees with the posted events (independent computation).
    api_nps = await _latest(stack, "nps")
    bucket = posted[(parse_ms(api_nps["window_start"]), "")]
    assert api_nps["n"] == bucket["nps_n"] and api_nps["value"] == pytest.approx(nps(bucket), abs=1e-9)
    api_volume = await _latest(stack, "volume")
    assert api_volume["n"] == posted[(parse_ms(api_volume["window_start"]), "")]["touchpoints"]
    # The aspect's mean, n and Student t interval, recomputed from the posted answers with scipy.
    api_aspect = await _latest(stack, f"aspect:{ASPECT}")
    scores = _aspect_scores(events, parse_ms(api_aspect["window_start"]))
    half = sps.t.ppf(0.975, len(scores) - 1) * statistics.stdev(scores) / math.sqrt(len(scores))
    assert api_aspect["n"] == len(scores) and api_aspect["value"] == pytest.approx(statistics.fmean(scores))
    assert (api_aspect["ci_low"], api_aspect["ci_high"]) == (
        pytest.approx(statistics.fmean(scores) - half), pytest.approx(statistics.fmean(scores) + half))

    firing = await _wait_firing(stack, RULE["id"])

    page = await browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = str(stack.base_url).rstrip("/")
    await page.goto(f"{base}/board/?interval=1#token={ADMIN_KEY}")

    # 1. Tiles: exactly the API's values, n and interval; the text is the value as formatted.
    shown_now = await _wait_tiles(page, stack, {})
    for metric, (tile, point) in shown_now.items():
        assert tile["text"] == shown(metric, point["value"]), metric
    aspect_tile = shown_now[f"aspect:{ASPECT}"][0]  # the aspect's tile: the recomputed mean, n and interval
    assert aspect_tile["n"] == str(len(scores)) and float(aspect_tile["value"]) == pytest.approx(statistics.fmean(scores))
    assert float(aspect_tile["ci_high"]) == pytest.approx(statistics.fmean(scores) + half)
    assert aspect_tile["text"] == shown(f"aspect:{ASPECT}", float(aspect_tile["value"]))
    target_text = shown_now["nps"][0]["target"]
    assert "target 25.0" in target_text
    gap = shown_now["nps"][1]["value"] - 25
    assert f"{'−' if gap < 0 else '+'}{shown('nps', abs(gap))}" in target_text
    assert "#token" not in page.url  # the key left the address bar ...
    assert await page.evaluate("sessionStorage.getItem('cxpulse.board.token')") == ADMIN_KEY  # ... for the tab
    await page.wait_for_selector("#stream-state[data-state=live]", timeout=30_000)
    await page.wait_for_selector(".heat table, .heat .err, .heat p:not(.sub)", timeout=30_000)
    await page.wait_for_selector(".cases li", timeout=60_000)
    await page.wait_for_selector(f".alerts li[data-fingerprint='{firing['fingerprint']}']", timeout=30_000)

    # The heatmap's outlined cell is the API's most severe significant shortfall of the row it is in.
    label = await page.get_attribute(".cell.worst", "aria-label")
    assert label.startswith("channel phone, segment consumer: ") and "significantly worse" in label
    r = await stack.get("/v1/gaps", params={"metric": "csat", "window": "1h", "kind": "segment", "dimension": "segment",
                                            "channel": "phone", "significant_only": "false"})
    cell = next(g for g in r.json()["data"] if g["segment"] == "consumer")
    assert cell["significant"] and cell["gap"] < 0
    assert label.startswith(f"channel phone, segment consumer: {shown('csat', cell['observed']['value'])}, "
                            f"n {cell['observed']['n']}, significantly worse")

    shot = README_SCREENSHOT if os.environ.get("CXPULSE_UPDATE_SCREENSHOT") == "1" else tmp_path / "board.png"
    await page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000  # a rendered board, not a blank page

    # 2. Acknowledge the first open case from the board; the API then has it acknowledged by "board".
    case_id = await page.get_attribute(".cases li[data-case] >> nth=0", "data-case")
    await page.click(f".cases li[data-case='{case_id}'] button")
    await page.wait_for_selector(f"text=Case {case_id} acknowledged", timeout=15_000)
    case = (await stack.get(f"/v1/cases/{case_id}")).json()
    assert case["state"] == "acknowledged" and case["acknowledged_by"] == "board"

    # 2b. Acknowledge the firing alert: a one-hour silence of its rule, created by "board".
    await page.click(f".alerts li[data-fingerprint='{firing['fingerprint']}'] button")
    await page.wait_for_selector(f".alerts li[data-fingerprint='{firing['fingerprint']}'] >> text=acknowledged until",
                                 timeout=15_000)
    silences = (await stack.get("/v1/silences", params={"active": "true"})).json()["data"]
    assert [(x["rule_id"], x["created_by"]) for x in silences] == [(RULE["id"], "board")]

    # 3. A filter chosen in the page: the URL carries it and the tiles follow the API for it.
    await page.select_option("#f-channel", "chat")
    await page.wait_for_url("**/board/?*channel=chat*")
    chat = await _wait_tiles(page, stack, {"channel": "chat"})
    assert chat["volume"][1]["n"] < shown_now["volume"][1]["n"]
    assert chat["volume"][1]["n"] == posted[(parse_ms(chat["volume"][1]["window_start"]), "")].get("touchpoints") \
        - sum(1 for e in events if e["type"] == "cx.touchpoint.v1" and e["data"].get("channel") != "chat"
              and parse_ms(e["time"]) // HOUR_MS * HOUR_MS == parse_ms(chat["volume"][1]["window_start"]))

    # 4. Live: more answers posted now reach the tile through the stream, without a reload.
    await page.evaluate("window.__sameDocument = true")
    before = chat["nps"][1]
    added = _detractors("chat", 30, datetime.now(timezone.utc))
    await _post(stack, added)
    new_hour = parse_ms(added[0]["time"]) // HOUR_MS * HOUR_MS
    expected_n = 30 + (before["n"] if parse_ms(before["window_start"]) == new_hour else 0)
    after = await _wait_tiles(page, stack, {"channel": "chat"}, until=lambda t: t["nps"]["n"] == str(expected_n))
    assert after["nps"][1]["n"] == expected_n
    assert await page.evaluate("window.__sameDocument === true")

    # 5. A role preset: the executive view reads rolling 28 days and keeps the filter.
    await page.select_option("#f-preset", "exec")
    await page.wait_for_url("**/board/?preset=exec&channel=chat&interval=1")
    exec_view = await _wait_tiles(page, stack, {"channel": "chat"}, window="28d")
    assert exec_view["nps"][1]["window_end"] != after["nps"][1]["window_end"]

    # 6. The stream refused (503): the board says so, keeps the last numbers, and reconnects by itself.
    await page.route("**/v1/stream?*", lambda route: route.fulfill(status=503, body="maintenance"))
    await page.select_option("#f-window", "1h")  # a new view opens new subscriptions
    await page.wait_for_selector("#stream-state[data-state=disconnected]", timeout=30_000)
    assert "Live updates are interrupted" in await page.inner_text(".banner")
    await page.unroute("**/v1/stream?*")
    await page.wait_for_selector("#stream-state[data-state=live]", timeout=30_000)
    assert await page.query_selector(".banner") is None
    assert not errors, errors
