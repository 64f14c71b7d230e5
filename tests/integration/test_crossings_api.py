"""GET /v1/kpis and /v1/gaps answer any crossing: from a stored view when one holds it, else from
the ledger, with the same JSON but for ``source``.

One stream is committed through the real ``Checkpointer`` with a view of journey step x segment;
two APIs read the same warehouse: one configured with that view (view-answered), one with the
default views, which hold no such crossing (ledger-answered).
"""
from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from api.deps import Services
from api.main import create_api
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from kpi.measures import Metric
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.integration.test_ledger_counts import TENANT, T0, answer, invitation, naive, tp

pytestmark = pytest.mark.integration

KEY = "k-crossings"
CROSSING = ["journey_step", "segment"]


def _api(wh, views: list[list[str]]):
    settings = Settings()
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read"])}
    settings.stream.views = views
    return create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only


def _stream(rng: random.Random) -> list[dict]:
    out = []
    for i in range(400):
        iid = f"c{i}"
        when = T0 + 9 * DAY_MS + rng.randrange(DAY_MS)  # the day evaluated; earlier days are the baseline
        if rng.random() < 0.5:
            when -= rng.choice([1, 2, 3]) * DAY_MS
        dims = {"channel": rng.choice(["chat", "voice"]), "journey_step": rng.choice(["buy", "after_sales"]),
                "segment": rng.choice(["vip", "std", "smb"])}
        out.append(tp(f"ctp-{i}", when, iid, dims, first_contact=rng.random() < 0.6, resolved=rng.random() < 0.7))
        if rng.random() < 0.8:
            out.append(invitation(f"cinv-{i}", when + MINUTE_MS, iid))
        if rng.random() < 0.7:
            late = rng.choice([-MINUTE_MS, 30 * MINUTE_MS, 2 * HOUR_MS])  # before its touchpoint, or later
            vip_bias = dims["segment"] == "vip" and dims["journey_step"] == "after_sales"
            out.append(answer(f"csr-{i}", when + late, iid,
                              {"segment": "vip"} if rng.random() < 0.05 else {},
                              nps=rng.choice(range(0, 7)) if vip_bias else rng.choice(range(0, 11)),
                              csat=rng.choice([None, 1, 2, 3, 4, 5]), ces=rng.choice([None, *range(1, 8)]),
                              fcr=rng.choice([None, True, False])))
    rng.shuffle(out)
    return out


def test_kpis_and_gaps_are_the_same_from_a_view_and_from_the_ledger(chdb_dsn: str) -> None:
    records = _stream(random.Random(7))
    with migrated_warehouse(chdb_dsn, "xapi") as wh:
        ck = Checkpointer(warehouse=wh, views=[[], ["channel"], CROSSING],
                          sizes=list(WindowSize), grace_ms=10 * MINUTE_MS)

        async def run() -> None:
            for i in range(0, len(records), 50):
                await ck.commit([dict(r) for r in records[i:i + 50]])
            with_view, default = _api(wh, [[], ["channel"], CROSSING]), _api(wh, Settings().stream.views)
            assert not any(set(CROSSING) <= set(v) for v in Settings().stream.views)
            headers = {"Authorization": f"Bearer {KEY}"}
            async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=with_view), base_url="http://a",
                                          headers=headers) as a,
                        httpx.AsyncClient(transport=httpx.ASGITransport(app=default), base_url="http://b",
                                          headers=headers) as b):
                day = "2026-11-12T00:00:00Z"
                compared = 0
                for metric in Metric:
                    for window, frm in (("1h", "2026-11-08T00:00:00Z"), ("1d", "2026-11-05T00:00:00Z"),
                                        ("24h", "2026-11-10T00:00:00Z")):
                        for params in ({"group_by": "journey_step,segment"},
                                       {"group_by": "segment", "journey_step": "buy"},
                                       {"journey_step": "after_sales", "segment": "vip"}):
                            q = {"metric": metric.value, "window": window, "from": frm, "to": day, **params}
                            ra, rb = (await a.get("/v1/kpis", params=q)), (await b.get("/v1/kpis", params=q))
                            assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
                            ja, jb = ra.json(), rb.json()
                            assert (ja.pop("source"), jb.pop("source")) == ("view:journey_step*segment", "ledger")
                            assert ja == jb and ja["count"] > 0, q
                            compared += ja["count"]
                assert compared > 1000
                # The counters behind one crossing, against the naive computation.
                want = {(k[0], k[1]): c.as_dict()
                        for k, c in naive(records, DAY_MS, ("journey_step", "segment"), {}).items()
                        if T0 + 6 * DAY_MS <= k[0] * 1000 < T0 + 10 * DAY_MS}
                for metric in ("volume", "nps", "csat", "ces", "fcr", "response_rate", "fcr_operational"):
                    q = {"metric": metric, "window": "1d", "from": "2026-11-08T00:00:00Z", "to": day,
                         "group_by": "journey_step,segment"}
                    got = {(int(_epoch(p["window_start"])), tuple(p["group"].values())): p["counts"]
                           for p in (await b.get("/v1/kpis", params=q)).json()["data"]}
                    assert set(got) == set(want) and len(want) == 4 * 6, metric
                    assert all(c == {k: want[key][k] for k in c} and c for key, c in got.items()), metric
                for metric in ("nps", "csat", "ces", "fcr", "fcr_operational", "response_rate"):
                    for window in ("1h", "1d"):
                        for params in ({"dimension": "segment", "journey_step": "after_sales"},
                                       {"dimension": "journey_step", "segment": "vip"}):
                            q = {"metric": metric, "window": window, "at": day, "significant_only": "false",
                                 **params}
                            ra, rb = (await a.get("/v1/gaps", params=q)), (await b.get("/v1/gaps", params=q))
                            assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
                            ja, jb = ra.json(), rb.json()
                            assert (ja.pop("source"), jb.pop("source")) == ("view:journey_step*segment", "ledger")
                            assert ja == jb and ja["count"] > 0, q
                q = {"metric": "nps", "window": "1d", "at": day, "dimension": "segment", "journey_step": "after_sales"}
                gaps = (await b.get("/v1/gaps", params={**q, "significant_only": "false"})).json()["data"]
                vip = [g for g in gaps if g["kind"] == "segment" and g["segment"] == "vip"]
                cell = naive(records, DAY_MS, ("journey_step", "segment"), {})[
                    ((T0 + 9 * DAY_MS) // 1000, ("after_sales", "vip"))].as_dict()
                assert len(vip) == 1 and vip[0]["observed"]["counts"] == {k: cell[k] for k in vip[0]["observed"]["counts"]}
                assert vip[0]["observed"]["n"] == cell["nps_n"] > 0 and vip[0]["gap"] < 0  # the planted drop
                r = await b.get("/v1/gaps", params={**q, "window": "live"})
                assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "dimension"]

        asyncio.run(run())


def _epoch(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso).timestamp()
