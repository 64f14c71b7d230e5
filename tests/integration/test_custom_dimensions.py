"""Custom dimensions (``custom_dimensions``): from ``data`` into records, the ledger's and the windows'
``extra_dims`` (migration 0013), views, filters, group_by and the ledger path, like built-in ones."""
from __future__ import annotations

import asyncio
import copy
import random

import httpx
import orjson
import pytest

from api.deps import Services
from api.main import create_api
from core import dimensions
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, MINUTE_MS, WindowSize
from ingest.validation import validate_items, validate_raw_message
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.integration.test_ledger_counts import FROM_S, TENANT, TO_S, T0, answer, invitation, naive, rows_of, tp
from warehouse.count_sources import LEDGER, CountSource, read_counts

pytestmark = pytest.mark.integration

CUSTOM = ["account", "market"]
VIEWS = [(), ("channel",), ("account",), ("channel", "account")]


@pytest.fixture
def custom():
    dimensions.configure(CUSTOM)
    yield
    dimensions.configure([])


def _event(eid: str, **data) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/crm", "type": "cx.touchpoint.v1",
            "time": "2026-11-03T10:00:00Z", "data": {"interaction_id": f"i-{eid}", "channel": "chat", **data}}


def test_custom_dimensions_come_from_data_and_bad_values_are_rejected_at_their_path() -> None:
    items = [_event("a", account="acme-corp", note="kept"), _event("b", account=7), _event("c", market="x" * 129),
             _event("d")]
    records, rejected = validate_items(items, "t1", lambda t, c: c, custom=tuple(CUSTOM))
    assert [(r.index, r.path) for r in rejected] == [(1, "data.account"), (2, "data.market")]
    assert [(r["dims"], r["attributes"]) for r in records] == [
        ({"channel": "chat", "account": "acme-corp"}, {"note": "kept"}), ({"channel": "chat"}, {})]
    plain, _ = validate_items(items[:1], "t1", lambda t, c: c)  # not configured: an attribute, as before
    assert (plain[0]["dims"], plain[0]["attributes"]) == ({"channel": "chat"}, {"account": "acme-corp", "note": "kept"})


def test_the_raw_topic_takes_custom_dimensions_too() -> None:
    value = orjson.dumps([{**_event("r1", account="acme"), "tenant": "t1"}, {**_event("r2", account=["x"]), "tenant": "t1"}])
    records, rejected = validate_raw_message(value, None, lambda t, c: c, custom=tuple(CUSTOM))
    assert [r["dims"] for r in records] == [{"channel": "chat", "account": "acme"}]
    assert [(r.index, r.path) for r in rejected] == [(1, "data.account")]


@pytest.mark.parametrize("bad", [["Account"], ["channel"], ["from"], ["a-b"], ["x", "x"], ["extra_dims"]])
def test_custom_dimension_names_are_checked_at_start(bad) -> None:
    with pytest.raises(ValueError):
        Settings(custom_dimensions=bad)
    Settings(custom_dimensions=["account"], stream={"views": [["account", "channel"]]})
    with pytest.raises(ValueError):
        Settings(stream={"views": [["account"]]})  # not configured


def _stream(rng: random.Random) -> list[dict]:
    out = []
    for i in range(120):
        iid = f"a{i}"
        when = T0 + rng.randrange(2 * DAY_MS)
        dims = {"channel": rng.choice(["chat", "voice"])}
        if rng.random() < 0.9:
            dims["account"] = rng.choice(["acme", "globex", "initech"])
        if rng.random() < 0.5:
            dims["market"] = rng.choice(["fr", "pt"])
        out.append(tp(f"atp-{i}", when, iid, dims, shard=i % 2))
        if rng.random() < 0.7:
            override = {"account": "globex"} if rng.random() < 0.1 else {}
            out.append(answer(f"asr-{i}", when + rng.choice([-MINUTE_MS, 10 * MINUTE_MS, DAY_MS]), iid, override,
                              nps=rng.randrange(11), csat=rng.choice([None, 1, 5]), shard=i % 2))
        if rng.random() < 0.5:
            out.append(invitation(f"ainv-{i}", when, iid, shard=i % 2))
    rng.shuffle(out)
    return out


def test_custom_dimensions_in_views_filters_and_the_ledger(chdb_dsn: str, custom) -> None:
    records = _stream(random.Random(3))
    with migrated_warehouse(chdb_dsn, "cdim") as wh:
        async def run() -> None:
            ck = Checkpointer(warehouse=wh, views=VIEWS, sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)
            for i in range(0, len(records), 40):
                await ck.commit(copy.deepcopy(records[i:i + 40]))
            ck = Checkpointer(warehouse=wh, views=VIEWS, sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)
            await ck.commit([tp("atp-late", T0 + 3 * DAY_MS, "late", {"account": "acme"})])  # a restart
            committed = [*records, tp("atp-late", T0 + 3 * DAY_MS, "late", {"account": "acme"})]
            for size in (WindowSize.hour, WindowSize.day):
                for view, group, filters in [(("account",), ("account",), {}), (("channel", "account"), ("account",),
                                             {"channel": "chat"}), (("channel", "account"), ("channel",),
                                             {"account": "acme"}), (("channel", "account"), (), {"account": ""})]:
                    got_view = rows_of(await read_counts(wh, TENANT, size.value, CountSource.of_view(view), group,
                                                         filters, FROM_S, TO_S))
                    got_ledger = rows_of(await read_counts(wh, TENANT, size.value, LEDGER, group, filters, FROM_S, TO_S))
                    want = naive(committed, size.ms, group, filters)
                    assert got_view == got_ledger == want and want, (size, view, group, filters)
                # market: in no view, answered from the ledger only, crossed with a built-in and a custom one
                group = ("channel", "account", "market")
                got = rows_of(await read_counts(wh, TENANT, size.value, LEDGER, group, {}, FROM_S, TO_S))
                assert got == naive(committed, size.ms, group, {}) and got

            settings = Settings(custom_dimensions=CUSTOM)
            settings.api.keys = {"k": ApiKey(tenant=TENANT, scopes=["read", "admin"])}
            settings.stream.views = [list(v) for v in VIEWS]
            app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                         headers={"Authorization": "Bearer k"}) as client:
                q = {"metric": "volume", "window": "1d", "from": "2026-11-02T00:00:00Z", "to": "2026-11-06T00:00:00Z"}
                r = (await client.get("/v1/kpis", params={**q, "group_by": "account", "channel": "voice"})).json()
                assert r["source"] == "view:channel*account"
                want = naive(committed, DAY_MS, ("account",), {"channel": "voice"})
                got = {(p["window_start"][:10], p["group"]["account"]): p["counts"]["touchpoints"] for p in r["data"]}
                assert {k: v for k, v in got.items() if v} == {
                    (_day(start), g[0]): c.touchpoints for (start, g), c in want.items() if c.touchpoints}
                r = (await client.get("/v1/kpis", params={**q, "group_by": "market,account"})).json()
                assert r["source"] == "ledger" and r["count"] > 0
                r = await client.get("/v1/gaps", params={"metric": "nps", "window": "1d", "dimension": "market",
                                                         "at": "2026-11-03T00:00:00Z", "significant_only": "false"})
                assert r.status_code == 200 and r.json()["source"] == "ledger"
                assert {g["scope"].get("market") for g in r.json()["data"]} >= {"fr", "pt"}
                r = await client.get("/v1/responses", params={"metric": "nps", "account": "acme",
                                                              "from": "2026-11-02T00:00:00Z", "to": "2026-11-06T00:00:00Z"})
                want = {x["id"] for x in committed if x["type"] == "cx.survey.response.v1" and x["nps"] is not None
                        and {**next((t["dims"] for t in committed if t["type"] == "cx.touchpoint.v1"
                                     and t["interaction_id"] == x["interaction_id"]), {}), **x["dims"]}.get("account")
                        == "acme"}
                assert r.status_code == 200 and {x["id"] for x in r.json()["data"]} == want and want
                assert {x["dims"]["account"] for x in r.json()["data"]} == {"acme"}  # rows carry it too
                r = await client.get("/v1/responses/export", params={
                    "metric": "nps", "account": "acme", "format": "csv",
                    "from": "2026-11-02T00:00:00Z", "to": "2026-11-06T00:00:00Z"})
                lines = r.text.splitlines()
                column = lines[0].split(",").index("account")
                assert r.status_code == 200 and lines[0].split(",")[-2:] == ["account", "market"]
                assert len(lines) - 1 == len(want) and {x.split(",")[column] for x in lines[1:]} == {"acme"}
                target = {"metric": "nps", "scope": {"account": "acme"}, "value": 50,
                          "valid_from": "2026-11-01T00:00:00Z"}
                assert (await client.put("/v1/targets", json=target)).status_code == 200
                listed = (await client.get("/v1/targets")).json()["data"]
                assert [t["scope"] for t in listed] == [{"account": "acme"}]
                r = (await client.get("/v1/gaps", params={"metric": "nps", "window": "1d", "dimension": "account",
                                                          "kind": "target", "at": "2026-11-03T00:00:00Z",
                                                          "significant_only": "false"})).json()
                cell = naive(committed, DAY_MS, ("account",), {})[(T0 // 1000, ("acme",))]
                [gap] = [g for g in r["data"] if g["scope"] == {"account": "acme"}]
                assert r["source"] == "view:account" and gap["observed"]["n"] == cell.nps_n > 0
                assert gap["reference"]["value"] == 50
                bad = await client.put("/v1/targets", json={**target, "scope": {"shoe_size": "9"}})
                assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "scope"]
                r = await client.get("/v1/kpis", params={**q, "group_by": "shoe_size"})
                assert r.status_code == 422

        asyncio.run(run())


def _day(start_s: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(start_s, tz=timezone.utc).strftime("%Y-%m-%d")
