"""GET /v1/gaps and /v1/targets on the real stack (HTTP -> Kafka -> Faust -> chDB -> API).

One hour (2026-11-02 10:00-11:00) with 100 vip and 100 std chat contacts,
each answered: vip NPS -40, std +40. The same hour of the four previous weeks
had only email contacts (10 a week, all promoters). Expected values are
computed here from the counts, with the formulas written out again.
"""
from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.settings import ApiKey
from tests.conftest import TEST_TENANT, make_settings

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-admin"
OTHER_KEY = "test-key-other-tenant"
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
HOUR = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
Z95 = 1.959963984540054


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["admin"])
    s.api.keys[OTHER_KEY] = ApiKey(tenant="other", scopes=["ingest", "read"])
    return s


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _contact(i: str, at: datetime, nps: int, outcome: dict | None = None, **dims: str) -> list[dict]:
    tp = {"specversion": "1.0", "id": f"tp-{i}", "source": "/pbx", "type": "cx.touchpoint.v1", "time": _iso(at),
          "data": {"interaction_id": f"i-{i}", **dims, **(outcome or {})}}
    answer = {"specversion": "1.0", "id": f"r-{i}", "source": "/survey", "type": "cx.survey.response.v1",
              "time": _iso(at + timedelta(seconds=30)),
              "data": {"interaction_id": f"i-{i}", "survey_id": "s1", "answers": {"nps": nps}}}
    return [tp, answer]


def _dataset() -> tuple[list[dict], list[dict]]:
    baseline: list[dict] = []
    for week in range(1, 5):
        for j in range(10):
            baseline += _contact(f"w{week}-{j}", HOUR - timedelta(weeks=week, minutes=-j), 10,
                                 channel="email", segment="std")
    now: list[dict] = []
    # vip: 20 promoters, 20 passives, 60 detractors; std: 60 / 20 / 20. Abandoned: every other vip
    # contact (50 of 100), no std one (0 of 100).
    for seg, scores in (("vip", [10] * 20 + [8] * 20 + [3] * 60), ("std", [9] * 60 + [7] * 20 + [0] * 20)):
        for j, score in enumerate(scores):
            now += _contact(f"{seg}-{j}", HOUR + timedelta(seconds=17 * j + 1), score,
                            {"abandoned": seg == "vip" and j % 2 == 0}, channel="chat", segment=seg)
    return baseline, now


def _adjusted(p: int, pa: int, d: int) -> tuple[float, float, float]:
    n = p + pa + d + 3
    pp, pd = (p + 0.75) / n, (d + 0.75) / n
    return pp - pd, pp + pd - (pp - pd) ** 2, n


def _nps_ci(p: int, pa: int, d: int) -> tuple[float, float]:
    c, v, n = _adjusted(p, pa, d)
    h = Z95 * math.sqrt(v / n)
    return 100 * (c - h), 100 * (c + h)


def _nps_p(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    c1, v1, n1 = _adjusted(*a)
    c2, v2, n2 = _adjusted(*b)
    z = (c1 - c2) / math.sqrt(v1 / n1 + v2 / n2)
    return math.erfc(abs(z) / math.sqrt(2))


async def _wait_for(client: httpx.AsyncClient, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    want = {"vip": (20, 20, 60), "std": (60, 20, 20)}
    got = None
    while asyncio.get_running_loop().time() < deadline:
        cur = (await client.get("/v1/kpis", params={"metric": "nps", "window": "1h", "group_by": "segment",
                                                    "from": _iso(HOUR), "to": _iso(HOUR + timedelta(hours=1))})).json()
        old = (await client.get("/v1/kpis", params={"metric": "volume", "window": "1d", "group_by": "channel",
                                                    "from": "2026-10-01T00:00:00Z",
                                                    "to": "2026-11-01T00:00:00Z"})).json()
        got = ({p["group"]["segment"]: (p["counts"]["promoters"], p["counts"]["passives"], p["counts"]["detractors"])
                for p in cur["data"]}, sum(p["counts"]["touchpoints"] for p in old["data"]))
        if got == (want, 40):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not stored after {timeout}s: {got}")


async def test_targets_and_gaps_end_to_end(stack: httpx.AsyncClient) -> None:
    client = stack
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    baseline, now = _dataset()
    for batch in (baseline, now):
        r = await client.post("/v1/events", json=batch, headers=BATCH)
        assert r.status_code == 202 and r.json() == {"accepted": len(batch), "duplicates": 0, "rejected": []}, r.text

    # -- targets: validated, admin only, tenant-scoped ---------------------------------
    vip_target = {"metric": "nps", "scope": {"segment": "vip"}, "value": 0, "valid_from": "2026-11-01T00:00:00Z"}
    r = await client.put("/v1/targets", json=vip_target)
    assert r.status_code == 403
    r = await client.put("/v1/targets", json={**vip_target, "metric": "happiness"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "metric"]
    r = await client.put("/v1/targets", json={**vip_target, "scope": {"pigeon": "x"}}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "scope", "pigeon"]
    r = await client.put("/v1/targets", json={**vip_target, "value": 150}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "value"]
    r = await client.put("/v1/targets", json=vip_target, headers=admin)
    assert r.status_code == 200, r.text
    # An old overall target, replaced from November on by a stricter one.
    for body in ({"metric": "nps", "value": -50, "valid_from": "2026-01-01T00:00:00Z",
                  "valid_to": "2026-11-01T00:00:00Z"},
                 {"metric": "nps", "value": 30, "valid_from": "2026-11-01T00:00:00Z"}):
        assert (await client.put("/v1/targets", json=body, headers=admin)).status_code == 200
    listed = (await client.get("/v1/targets")).json()
    assert listed["count"] == 3
    assert {(t["value"], tuple(t["scope"].items())) for t in listed["data"]} == {
        (0.0, (("segment", "vip"),)), (-50.0, ()), (30.0, ())}
    other = await client.get("/v1/targets", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert other.json() == {"data": [], "count": 0}

    await _wait_for(client)

    # -- segment and target gaps ---------------------------------------------------------
    params = {"metric": "nps", "window": "1h", "dimension": "segment", "at": "2026-11-02T11:00:00Z",
              "kind": "segment,target"}
    r = await client.get("/v1/gaps", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_start"] == "2026-11-02T10:00:00Z" and body["window_end"] == "2026-11-02T11:00:00Z"
    by = {(g["kind"], tuple(g["scope"].items())): g for g in body["data"]}
    assert set(by) == {("segment", (("segment", "vip"),)), ("target", (("segment", "vip"),)), ("target", ())}
    assert [g["severity"] for g in body["data"]] == sorted((g["severity"] for g in body["data"]), reverse=True)

    seg = by[("segment", (("segment", "vip"),))]
    assert seg["observed"]["n"] == 100 and seg["observed"]["value"] == -40.0
    assert seg["observed"]["counts"] == {"nps_n": 100, "promoters": 20, "passives": 20, "detractors": 60}
    assert seg["reference"]["kind"] == "rest" and seg["reference"]["n"] == 100 and seg["reference"]["value"] == 40.0
    assert seg["gap"] == -80.0 and seg["significant"] and seg["comparisons"] == 2
    assert seg["p_value"] == pytest.approx(_nps_p((20, 20, 60), (60, 20, 20)), rel=1e-9)
    assert seg["alpha"] == pytest.approx(0.025)
    assert seg["severity"] == pytest.approx(80 / 200)
    lo, hi = _nps_ci(20, 20, 60)
    assert seg["observed"]["ci_low"] == pytest.approx(lo, rel=1e-9)
    assert seg["observed"]["ci_high"] == pytest.approx(hi, rel=1e-9)

    vip = by[("target", (("segment", "vip"),))]
    assert vip["reference"] == {"kind": "target", "value": 0.0, "n": None, "ci_low": None, "ci_high": None,
                                "periods": None}
    assert vip["gap"] == -40.0 and vip["observed"]["ci_high"] == pytest.approx(hi, rel=1e-9) and hi < 0
    overall = by[("target", ())]
    assert overall["reference"]["value"] == 30.0 and overall["observed"]["n"] == 200
    assert overall["observed"]["value"] == 0.0 and overall["gap"] == -30.0
    assert overall["observed"]["ci_high"] == pytest.approx(_nps_ci(80, 40, 80)[1], rel=1e-9)

    # All of them, also the better segment, with significant_only=false.
    r = await client.get("/v1/gaps", params={**params, "significant_only": "false"})
    std = next(g for g in r.json()["data"] if g["kind"] == "segment" and g["scope"] == {"segment": "std"})
    assert std["gap"] == 80.0 and not std["significant"] and std["severity"] == 0.0

    # -- baseline and data gaps: the same hour of the previous 4 weeks ----------------------
    r = await client.get("/v1/gaps", params={"metric": "nps", "window": "1h", "dimension": "channel",
                                             "at": "2026-11-02T11:00:00Z", "kind": "baseline,data"})
    gaps = r.json()["data"]
    base = next(g for g in gaps if g["kind"] == "baseline" and g["scope"] == {})
    assert base["observed"]["value"] == 0.0 and base["reference"]["value"] == 100.0
    assert base["reference"]["n"] == 40 and base["reference"]["periods"] == 4 and base["significant"]
    assert base["p_value"] == pytest.approx(_nps_p((80, 40, 80), (40, 0, 0)), rel=1e-9)
    silent = {g["metric"]: g for g in gaps if g["kind"] == "data" and g["scope"] == {"channel": "email"}}
    assert set(silent) == {"volume", "responses"}
    for g in silent.values():
        assert g["status"] == "silent" and g["observed"]["n"] == 0 and g["reference"]["value"] == 10.0
        assert g["severity"] == 1.0
    assert gaps[0]["severity"] == 1.0  # a silent feed sorts first

    # -- lower-is-better and the positive:negative ratio ----------------------------------
    r = await client.get("/v1/gaps", params={"metric": "abandonment_rate", "window": "1h", "dimension": "segment",
                                             "at": "2026-11-02T11:00:00Z", "kind": "segment"})
    assert r.status_code == 200, r.text
    [ab] = r.json()["data"]  # only the worse segment is significant
    assert ab["scope"] == {"segment": "vip"} and ab["observed"]["value"] == 50.0 and ab["reference"]["value"] == 0.0
    assert ab["gap"] == -50.0 and ab["significant"] and ab["severity"] == pytest.approx(0.5)
    pooled = 50 / 200
    z = 0.5 / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert ab["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    # No pos_neg_ratio target was put: the default 3:1 applies to every scope.
    r = await client.get("/v1/gaps", params={"metric": "pos_neg_ratio", "window": "1h", "dimension": "segment",
                                             "at": "2026-11-02T11:00:00Z", "kind": "target",
                                             "significant_only": "false"})
    ratio = {tuple(g["scope"].items()): g for g in r.json()["data"]}
    assert {k: (g["observed"]["value"], g["observed"]["n"], g["reference"]["value"], g["significant"])
            for k, g in ratio.items()} == {
        (("segment", "vip"),): (20 / 60, 80, 3.0, True), (("segment", "std"),): (3.0, 80, 3.0, False),
        (): (1.0, 160, 3.0, True)}
    assert ratio[(("segment", "vip"),)]["gap"] == pytest.approx(20 / 60 - 3.0)
    r = await client.put("/v1/targets", json={"metric": "wait_time", "value": -1, "valid_from": "2026-11-01T00:00:00Z"},
                         headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "value"]

    # -- bad queries ----------------------------------------------------------------------
    r = await client.get("/v1/gaps", params={"metric": "volume"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "metric"]
    r = await client.get("/v1/gaps", params={"dimension": "pigeon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "dimension"]
    r = await client.get("/v1/gaps", params={"kind": "vibes"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "kind"]
