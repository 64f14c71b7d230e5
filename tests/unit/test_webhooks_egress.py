"""The webhook egress policy (webhooks/egress.py): address verdicts, the allowlist, schemes, registration 422s.

No DNS and no traffic: resolvers are stubs, and the API tests stop at the policy.
"""
from __future__ import annotations

import ipaddress

import httpx
import pytest
from pydantic import ValidationError

from api.deps import Services
from api.main import create_api
from core.domain_settings import WebhookSettings
from core.errors import EgressRefused, RetryableDelivery
from core.metrics import WEBHOOK_EGRESS_REFUSED
from core.settings import ApiKey
from tests.conftest import make_settings
from warehouse.client import Warehouse
from warehouse.migrate import migrate
from webhooks.egress import EgressPolicy, address_refusal

#: address -> exact verdict of address_refusal (None: may be connected to)
VERDICTS = {
    # IPv4
    "8.8.8.8": None,
    "93.184.215.14": None,
    "0.0.0.0": "unspecified (this network)",
    "0.1.2.3": "unspecified (this network)",
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.5": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "172.32.0.1": None,
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "100.64.0.1": "CGNAT (shared address space)",
    "100.127.255.255": "CGNAT (shared address space)",
    "100.128.0.1": None,
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved (broadcast)",
    "192.0.0.8": "reserved (IETF protocol assignments)",
    "192.0.2.1": "reserved (documentation)",
    "198.51.100.7": "reserved (documentation)",
    "203.0.113.9": "reserved (documentation)",
    "198.18.0.1": "reserved (benchmarking)",
    "192.88.99.1": "reserved (6to4 relay anycast)",
    # IPv6
    "2606:4700::1111": None,
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "private (unique local)",
    "fd12:3456::1": "private (unique local)",
    "fec0::1": "private (site-local)",
    "ff02::1": "multicast",
    "2001:db8::1": "reserved (documentation)",
    "3fff::1": "reserved (documentation)",
    "100::1": "reserved (discard)",
    "2001::1": "reserved (Teredo: the endpoint cannot be checked)",
    "2001:2::1": "reserved (IETF protocol assignments)",
    "64:ff9b:1::a": "private (local-use NAT64)",
    # IPv6 embedding IPv4: judged by the IPv4 address
    "::ffff:127.0.0.1": "loopback (embeds 127.0.0.1)",
    "::ffff:10.0.0.1": "private (embeds 10.0.0.1)",
    "::ffff:169.254.169.254": "link-local (embeds 169.254.169.254)",
    "::ffff:8.8.8.8": None,
    "::127.0.0.1": "loopback (embeds 127.0.0.1)",
    "::ffff:0:7f00:1": "loopback (embeds 127.0.0.1)",
    "2002:7f00:1::1": "loopback (embeds 127.0.0.1)",
    "2002:a9fe:a9fe::": "link-local (embeds 169.254.169.254)",
    "2002:808:808::1": None,
    "64:ff9b::7f00:1": "loopback (embeds 127.0.0.1)",
    "64:ff9b::6440:1": "CGNAT (shared address space) (embeds 100.64.0.1)",
    "64:ff9b::808:808": None,
}


@pytest.mark.parametrize("address", list(VERDICTS))
def test_address_verdicts(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == VERDICTS[address]


def _stub(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


def _policy(table: dict[str, list[str]] | None = None, **settings) -> EgressPolicy:
    return EgressPolicy(WebhookSettings(**settings), _stub(table or {}))


async def _verdict(policy: EgressPolicy, url: str) -> str:
    try:
        return "allowed " + " ".join(str(a) for a in await policy.check_url(url))
    except EgressRefused as exc:
        return exc.message


@pytest.mark.parametrize(("settings", "url", "verdict"), [
    ({}, "https://8.8.8.8/h", "allowed 8.8.8.8"),
    ({}, "https://[2606:4700::1111]:8443/h", "allowed 2606:4700::1111"),
    ({}, "http://8.8.8.8/h", "egress policy: http URLs are refused: use https (or set webhooks.allow_http)"),
    ({"allow_http": True}, "http://8.8.8.8/h", "allowed 8.8.8.8"),
    ({}, "ftp://8.8.8.8/h", "egress policy: scheme 'ftp' is refused: use https"),
    ({}, "https://127.0.0.1/h", "egress policy: 127.0.0.1 is loopback"),
    ({}, "https://[::ffff:127.0.0.1]/h", "egress policy: ::ffff:7f00:1 is loopback (embeds 127.0.0.1)"),
    ({}, "https://public.test/h", "allowed 93.184.215.14"),
    ({}, "https://metadata.test/h",
     "egress policy: metadata.test resolves to 169.254.169.254, which is link-local"),
    # one refused address refuses the host, whatever the others are
    ({}, "https://mixed.test/h", "egress policy: mixed.test resolves to 10.0.0.7, which is private"),
    ({}, "https://v6.test/h", "egress policy: v6.test resolves to fd00::1, which is private (unique local)"),
    # the allowlist: CIDRs (IPv4-mapped addresses match IPv4 ones) and exact host names
    ({"egress_allow": ["127.0.0.1/32"]}, "https://127.0.0.1/h", "allowed 127.0.0.1"),
    ({"egress_allow": ["127.0.0.1/32"]}, "https://[::ffff:127.0.0.1]/h", "allowed ::ffff:7f00:1"),
    ({"egress_allow": ["127.0.0.1/32"]}, "https://127.0.0.2/h", "egress policy: 127.0.0.2 is loopback"),
    ({"egress_allow": ["10.0.0.0/8"]}, "https://mixed.test/h", "allowed 93.184.215.14 10.0.0.7"),
    ({"egress_allow": ["fd00::/8"]}, "https://v6.test/h", "allowed fd00::1"),
    ({"egress_allow": ["metadata.test"]}, "https://METADATA.test./h", "allowed 169.254.169.254"),
    ({"egress_allow": ["metadata.test"]}, "https://other.metadata.test/h",
     "egress policy: other.metadata.test resolves to 127.0.0.1, which is loopback"),
    # the allowlist never lifts the scheme rule
    ({"egress_allow": ["127.0.0.1/32"]}, "http://127.0.0.1/h",
     "egress policy: http URLs are refused: use https (or set webhooks.allow_http)"),
])
async def test_policy_verdicts(settings: dict, url: str, verdict: str) -> None:
    table = {"public.test": ["93.184.215.14"], "metadata.test": ["169.254.169.254"],
             "mixed.test": ["93.184.215.14", "10.0.0.7"], "v6.test": ["fd00::1"],
             "other.metadata.test": ["127.0.0.1"]}
    assert await _verdict(_policy(table, **settings), url) == verdict


async def test_a_name_that_does_not_resolve_is_retryable_not_refused() -> None:
    with pytest.raises(RetryableDelivery, match="cannot resolve gone.test"):
        await _policy().check_url("https://gone.test/h")


async def test_refusals_are_counted_by_stage() -> None:
    before = WEBHOOK_EGRESS_REFUSED.labels("delivery")._value.get()
    with pytest.raises(EgressRefused):
        await _policy().check_url("https://10.1.1.1/h", stage="delivery")
    assert WEBHOOK_EGRESS_REFUSED.labels("delivery")._value.get() == before + 1


def test_the_allowlist_takes_cidrs_and_host_names_only() -> None:
    assert WebhookSettings(egress_allow=["10.0.0.0/8", "fd00::/8", "192.168.1.5", "hooks.corp"]).egress_allow
    with pytest.raises(ValidationError, match="neither a CIDR nor a host name"):
        WebhookSettings(egress_allow=["http://hooks.corp/"])


ADMIN = "k-egress-admin"


@pytest.fixture
async def api(tmp_path, chdb_dsn):
    """The API with the default egress policy (no test opt-in); names resolve through tests/conftest.py's stub."""
    settings = make_settings(tmp_path, "unused:9092", chdb_dsn)
    settings.webhooks = WebhookSettings()
    settings.api.keys = {ADMIN: ApiKey(tenant="acme", scopes=["admin"])}
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    migrate(wh)
    app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


@pytest.mark.parametrize(("url", "reason"), [
    ("https://169.254.169.254/latest/meta-data", "egress policy: 169.254.169.254 is link-local"),
    ("https://[::1]:8080/h", "egress policy: ::1 is loopback"),
    ("https://100.64.1.2/h", "egress policy: 100.64.1.2 is CGNAT (shared address space)"),
    ("https://localhost/h", "egress policy: localhost resolves to 127.0.0.1, which is loopback"),
    ("http://hooks.example/h", "egress policy: http URLs are refused: use https (or set webhooks.allow_http)"),
    ("https://nowhere.invalid/h", "cannot resolve nowhere.invalid"),
])
async def test_registration_refuses_with_the_reason_at_body_url(api, url: str, reason: str) -> None:
    r = await api.post("/v1/webhooks", headers={"Authorization": f"Bearer {ADMIN}"},
                       json={"url": url, "event_types": ["*"]})
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "url"] and detail["msg"].startswith(reason)


async def test_a_change_of_url_is_checked_too(api) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    r = await api.post("/v1/webhooks", headers=auth, json={"url": "https://hooks.example/h", "event_types": ["*"]})
    assert r.status_code == 201, r.text
    r = await api.patch(f"/v1/webhooks/{r.json()['id']}", headers=auth, json={"url": "https://10.0.0.1/h"})
    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body", "url"], "msg": "egress policy: 10.0.0.1 is private",
                                   "type": "value_error"}]
