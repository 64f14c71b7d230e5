"""`cxpulse replay --mapping crm-outcomes`: a CRM CSV export becomes cx.outcome.v1 events through the API.

The API is faked at the process boundary (``httpx.MockTransport``) with the real validation of
``POST /v1/events`` (``ingest.validation.validate_items``), so each row is judged as the API judges it."""
from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from clients.replay import CRM_OUTCOMES, read_rows, rejects_path, replay
from ingest.validation import MalformedItem, TimeHorizon, validate_items

NOW_MS = 1_800_000_000_000  # 2027-01-15: the pinned server clock of the fake API

CSV = (
    "\ufeffid,time,customer_id,account_id,kind,amount,currency,product,segment,crm_owner\n"
    "o-1,2026-09-01T10:00:00Z,c-1,acct-1,renewal,1200.50,EUR,premium,smb,jane\n"
    ",2026-09-02T10:00:00Z,c-2,,churn,300,EUR,,ent,\n"          # no id: derived from the row
    "o-3,2026-09-03T10:00:00Z,c-3,,refund,-5,EUR,,,\n"           # negative: refused by the API
    "o-4,2026-09-04T10:00:00Z,,,purchase,10,EUR,,,\n"            # no customer: refused locally
    "o-5,2026-09-05T10:00:00Z,c-5,,upgrade,1 200,EUR,,,\n"       # not a number: refused locally
    "o-6,2026-09-06T10:00:00Z,c-6,,purchase,99.99,usd,,,\n"      # lowercase currency: refused by the API
)


class FakeApi:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        items = orjson.loads(request.content)
        records, rejections = validate_items(items, "acme", lambda t, c: f"p:{c}", TimeHorizon(NOW_MS))
        self.events.extend(i for i in items if i["id"] in {r["id"] for r in records})
        return httpx.Response(202, json={"accepted": len(records), "duplicates": 0,
                                         "rejected": [r.model_dump() for r in rejections]})


class Bar:
    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int) -> None:
        self.n += n


def test_a_crm_export_is_replayed_as_outcomes_with_rejections_kept(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(CSV, encoding="utf-8")
    rows = list(read_rows(path, CRM_OUTCOMES))
    assert [n for n, _ in rows] == [2, 3, 4, 5, 6, 7]
    first = rows[0][1]
    assert first == {"specversion": "1.0", "id": "o-1", "source": "/crm-export/crm.csv", "type": "cx.outcome.v1",
                     "time": "2026-09-01T10:00:00Z",
                     "data": {"customer_id": "c-1", "account_id": "acct-1", "kind": "renewal", "amount": 1200.5,
                              "currency": "EUR", "product": "premium", "segment": "smb", "crm_owner": "jane"}}
    derived = rows[1][1]["id"]
    assert derived.startswith("crm-") and derived == list(read_rows(path, CRM_OUTCOMES))[1][1]["id"]
    assert isinstance(rows[3][1], MalformedItem) and "missing column(s) ['customer_id']" in rows[3][1].error
    assert isinstance(rows[4][1], MalformedItem) and "amount: '1 200' is not a number" in rows[4][1].error

    api, bar = FakeApi(), Bar()

    async def run() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(api), base_url="http://api") as client:
            return await replay(path, client, batch_size=4, progress=bar, mapping=CRM_OUTCOMES)

    summary = asyncio.run(run())
    assert (summary.rows_total, summary.accepted, summary.rejected) == (6, 2, 4)
    assert bar.n == 6
    assert [e["id"] for e in api.events] == ["o-1", derived]
    assert api.events[1]["data"] == {"customer_id": "c-2", "kind": "churn", "amount": 300, "currency": "EUR",
                                     "segment": "ent"}
    rejected = [orjson.loads(line) for line in rejects_path(path).read_bytes().splitlines()]
    assert [(r["row"], r["path"]) for r in rejected] == [(4, "data.amount"), (5, ""), (6, ""), (7, "data.currency")]

    # a rerun resumes after the last acknowledged row: nothing is sent again
    again = asyncio.run(run())
    assert again.resumed_from == 6 and len(api.events) == 2
