"""The egress policy of webhook deliveries: which URLs CX Pulse will POST to, and the transport that enforces it.

Threat: a tenant admin registers a webhook whose URL points at something only the server can
reach (the cloud metadata service at 169.254.169.254, a database on 10.0.0.5, an admin port on
127.0.0.1) and makes CX Pulse call it. So, by default:

* the scheme must be ``https`` (``webhooks.allow_http`` lets ``http`` through);
* every address the host resolves to must be globally routable: loopback, private (RFC 1918,
  unique-local ``fc00::/7``, site-local), link-local, CGNAT ``100.64.0.0/10``, multicast,
  unspecified (``0.0.0.0/8``, ``::``) and reserved ranges (documentation, benchmarking,
  ``240.0.0.0/4``, broadcast, IETF protocol assignments, Teredo, anything else not global) are
  refused. An IPv6 address embedding an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``,
  IPv4-compatible ``::a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``, 6to4 ``2002:AABB:CCDD::/48``,
  NAT64 ``64:ff9b::/96``) is judged by the IPv4 address it embeds; local-use NAT64
  ``64:ff9b:1::/48`` is private. A host with one refused address is refused as a whole.
* ``webhooks.egress_allow`` lists CIDRs and exact host names that are allowed anyway (on-premise
  receivers). An allowed host name still needs the scheme rule.

The policy is checked twice: when a subscription is created or changed (``check_url``: the API
answers 422 at ``["body", "url"]``), and on every delivery attempt by ``EgressTransport``
against the addresses actually resolved then: it resolves the host once, checks every address
and connects to the first one, with the ``Host`` header and the TLS SNI / certificate check
still naming the host. So a name that resolved to a public address at registration and to
127.0.0.1 later (DNS rebinding) is refused before any connection is made. A refusal raises
``core.errors.EgressRefused`` (a ``PermanentDelivery``: the delivery is dead-lettered with the
reason) and counts in ``cxpulse_webhook_egress_refused_total``. Redirects are never followed
(``egress_client``): a 3xx is the receiver's answer, so a redirect cannot lead past the policy.

Resolution goes through ``system_resolve`` (``getaddrinfo``) unless a resolver is passed; tests
replace it so they never touch DNS.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx

from core.domain_settings import WebhookSettings
from core.errors import EgressRefused, RetryableDelivery
from core.metrics import WEBHOOK_EGRESS_REFUSED

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port -> the addresses it resolves to (strings, as getaddrinfo gives them)
Resolver = Callable[[str, int], Awaitable[list[str]]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
#: (range, what it is), most specific first; an address in none of them may still be refused as not global.
REFUSED_RANGES: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [
    (_V4("0.0.0.0/8"), "unspecified (this network)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "CGNAT (shared address space)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "reserved (broadcast)"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V4("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (_V4("192.0.2.0/24"), "reserved (documentation)"),
    (_V4("198.51.100.0/24"), "reserved (documentation)"),
    (_V4("203.0.113.0/24"), "reserved (documentation)"),
    (_V4("198.18.0.0/15"), "reserved (benchmarking)"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay anycast)"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "private (site-local)"),
    (_V6("fc00::/7"), "private (unique local)"),
    (_V6("64:ff9b:1::/48"), "private (local-use NAT64)"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("2001::/32"), "reserved (Teredo: the endpoint cannot be checked)"),
    (_V6("2001:db8::/32"), "reserved (documentation)"),
    (_V6("3fff::/20"), "reserved (documentation)"),
    (_V6("100::/64"), "reserved (discard)"),
    (_V6("2001::/23"), "reserved (IETF protocol assignments)"),
]
_NAT64 = _V6("64:ff9b::/96")
_COMPATIBLE = _V6("::/96")
_SIIT = _V6("::ffff:0:0:0/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, SIIT, 6to4, NAT64), or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _SIIT:
        return low32
    if ip in _COMPATIBLE and int(ip) > 1:  # ::/128 and ::1 are themselves, not 0.0.0.0 and 0.0.0.1
        return low32
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """What ``ip`` is when CX Pulse must not connect to it (e.g. "loopback"), or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            what = address_refusal(inner)
            return f"{what} (embeds {inner})" if what else None
    for net, what in REFUSED_RANGES:
        if ip.version == net.version and ip in net:
            return what
    if not ip.is_global:
        return "reserved (not globally routable)"
    return None


def _allow_entries(entries: Iterable[str]) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    nets, names = [], set()
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return nets, names


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the operating system's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    """``webhooks.allow_http`` and ``webhooks.egress_allow`` applied to URLs and resolved addresses."""

    def __init__(self, settings: WebhookSettings, resolve: Resolver | None = None) -> None:
        self._allow_http = settings.allow_http
        self._nets, self._names = _allow_entries(settings.egress_allow)
        self._resolve = resolve
        self._timeout_s = settings.timeout_s

    def allowed_address(self, ip: IPAddress) -> bool:
        plain = (ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else ip
        return any(plain.version == net.version and plain in net for net in self._nets)

    def refusal(self, ip: IPAddress) -> str | None:
        """What makes ``ip`` refused under this policy (``address_refusal`` unless allowlisted), or None."""
        return None if self.allowed_address(ip) else address_refusal(ip)

    def _scheme_refusal(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "https" or (scheme == "http" and self._allow_http):
            return None
        if scheme == "http":
            return "http URLs are refused: use https (or set webhooks.allow_http)"
        return f"scheme {scheme!r} is refused: use https"

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to connect to for ``host`` (resolved once), or ``EgressRefused``.

        A literal address is not resolved; a host name in ``egress_allow`` is resolved but not checked.
        A name that does not resolve raises ``RetryableDelivery`` (DNS may come back)."""
        host = host.lower().rstrip(".").strip("[]")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            resolve = self._resolve or system_resolve  # looked up now, so tests can replace it
            try:
                raw = await asyncio.wait_for(resolve(host, port), self._timeout_s)
            except (OSError, asyncio.TimeoutError) as exc:
                raise RetryableDelivery(f"cannot resolve {host}: {exc or type(exc).__name__}") from None
            found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in raw]  # drop an IPv6 zone
            if not found:
                raise RetryableDelivery(f"cannot resolve {host}: no addresses")
            if host in self._names:
                return found
        for ip in found:
            what = self.refusal(ip)
            if what:
                where = f"{ip}" if literal is not None else f"{host} resolves to {ip}, which"
                raise EgressRefused(f"egress policy: {where} is {what}")
        return found

    async def check_url(self, url: str, stage: str = "registration") -> list[IPAddress]:
        """Refuse ``url`` (``EgressRefused``, counted under ``stage``) unless the policy allows it."""
        try:
            why = self._scheme_refusal(url)
            if why:
                raise EgressRefused(f"egress policy: {why}")
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            return await self.addresses(parts.hostname or "", port)
        except EgressRefused:
            WEBHOOK_EGRESS_REFUSED.labels(stage).inc()
            raise


class EgressTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address ``EgressPolicy`` checked for it in the same step (no rebinding window)."""

    def __init__(self, policy: EgressPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        ip = (await self._policy.check_url(str(url), stage="delivery"))[0]
        extensions = dict(request.extensions)
        if url.scheme == "https":  # TLS names the host, not the address: SNI and the certificate check
            extensions["sni_hostname"] = url.host
        pinned = httpx.Request(request.method, url.copy_with(host=str(ip)), headers=request.headers,
                               stream=request.stream, extensions=extensions)  # Host header: still url.host
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


def egress_client(settings: WebhookSettings, transport: httpx.AsyncBaseTransport | None = None,
                  resolve: Resolver | None = None) -> httpx.AsyncClient:
    """The HTTP client of deliveries: the egress policy on every request, redirects never followed."""
    return httpx.AsyncClient(transport=EgressTransport(EgressPolicy(settings, resolve), transport),
                             follow_redirects=False, timeout=settings.timeout_s)


for _stage in ("registration", "delivery"):
    WEBHOOK_EGRESS_REFUSED.labels(_stage)
