"""SSRF guard for outgoing webhooks: parse the URL, resolve it once, check every address.

Webhook URLs are typed in by API clients, so a URL is attacker-controlled input that makes
our workers open connections. The guard refuses loopback, private, link-local, CGNAT,
multicast, reserved and cloud-metadata addresses unless the operator allowed a network.

The check always runs on what the resolver *returns*, never on the text of the URL: legacy
spellings such as ``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1`` or ``127.1`` are parsed by
``getaddrinfo``/``inet_aton`` into 127.0.0.1, and that parsed address is what gets checked.
The caller then connects to exactly the checked addresses (``PinnedTarget.addresses``) and
never resolves the name again, so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

MAX_URL_LENGTH = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Always refused, even inside an allowed network: an operator who allows 100.64.0.0/10 for a
# Tailscale receiver or 169.254.0.0/16 for some appliance does not mean to hand out the
# instance credentials served on these addresses.
CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure wireserver: a public address only reachable from inside Azure
    )
)

# IANA special-purpose IPv4 ranges, spelled out instead of relying on ipaddress.is_private,
# whose tables changed between Python patch releases. Order matters only for the message.
_IPV4_FORBIDDEN: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "'this network' / unspecified"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved / broadcast"),
    )
)

_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Checked after the embedded-IPv4 forms (mapped, NAT64, 6to4) have been unwrapped.
_IPV6_FORBIDDEN: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("fc00::/7", "unique local (private)"),
        ("ff00::/8", "multicast"),
        ("100::/64", "discard-only"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        # Covers Teredo (2001::/32, whose client address is obfuscated), benchmarking and
        # ORCHID: nothing a webhook receiver lives on.
        ("2001::/23", "IETF protocol assignments / Teredo"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6)"),
    )
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")

# A DNS name label: letters, digits, hyphen; underscore too, as some real hostnames use it.
_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class GuardError(Exception):
    """Base class: the URL cannot be delivered to. ``reason`` is safe to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidWebhookUrl(GuardError):
    """The URL is malformed or uses something other than http/https."""


class ForbiddenAddress(GuardError):
    """The host is, or resolves to, an address webhooks must not reach."""


class ResolutionError(GuardError):
    """DNS gave no usable answer; transient, so the delivery should be retried."""


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str  # ASCII (IDNA) host without brackets or trailing dot: Host header, SNI, cert
    port: int
    request_target: str  # path and query, what goes on the request line
    url: str


@dataclass(frozen=True)
class PinnedTarget:
    """A URL whose every resolved address passed the check; connect to these only."""

    scheme: str
    host: str
    port: int
    request_target: str
    url: str
    addresses: tuple[IPAddress, ...]

    @property
    def ip(self) -> IPAddress:
        return self.addresses[0]


def parse_allowed_networks(value: str | Iterable[str] | None) -> list[IPNetwork]:
    """Parse an operator setting such as ``"127.0.0.0/8, ::1/128"`` (commas or spaces).

    Strict about host bits (``10.0.0.5/8`` is an error, not silently 10.0.0.0/8) because a
    typo here widens what webhooks may reach.
    """
    if value is None:
        return []
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"invalid allowed network {item!r}: {exc}") from exc
    return networks


def parse_webhook_url(url: str) -> ParsedUrl:
    """Syntax checks only (no DNS): usable when an endpoint is created."""
    if not isinstance(url, str) or not url:
        raise InvalidWebhookUrl("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines, and http.client rejects control characters
    # late; refuse them here so what is checked is exactly what is sent.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidWebhookUrl("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" around an IPv6 literal
        raise InvalidWebhookUrl(f"malformed URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidWebhookUrl(f"scheme must be http or https, not {parts.scheme or 'none'!r}")
    if "@" in parts.netloc:
        # Credentials in the URL would be silently dropped (we never send them), and
        # "https://trusted@evil" is a classic way to mislead a reviewer.
        raise InvalidWebhookUrl("credentials in the URL are not supported")
    raw_host = parts.hostname
    if not raw_host:
        raise InvalidWebhookUrl("URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"invalid port: {exc}") from exc
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise InvalidWebhookUrl("port must be between 1 and 65535")
    host = _normalise_host(raw_host)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.isascii():
        raise InvalidWebhookUrl("path and query must be ASCII (percent-encode them)")
    return ParsedUrl(scheme=scheme, host=host, port=port, request_target=target, url=url)


def resolve_and_check(
    url: str,
    *,
    allowed_networks: Sequence[IPNetwork] = (),
    resolver: Resolver = socket.getaddrinfo,
) -> PinnedTarget:
    """Parse, resolve (once) and check every address; return the addresses to connect to.

    ``resolver`` has ``socket.getaddrinfo``'s signature and result shape. Raises
    ``InvalidWebhookUrl``, ``ForbiddenAddress`` or ``ResolutionError``.
    """
    parsed = parse_webhook_url(url)
    addresses = _resolve(parsed.host, parsed.port, resolver)
    for address in addresses:
        reason = forbidden_reason(address, allowed_networks)
        if reason is not None:
            # One bad address refuses the whole URL: a name that also resolves to a private
            # address is either misconfigured or an attack, and a retry may pick that one.
            raise ForbiddenAddress(f"{parsed.host} resolves to {address}: {reason}")
    return PinnedTarget(
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        request_target=parsed.request_target,
        url=url,
        addresses=addresses,
    )


def forbidden_reason(address: IPAddress, allowed_networks: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` must not be contacted, or None when it may be."""
    if address in CLOUD_METADATA_ADDRESSES:
        return "cloud metadata address"
    embedded, kind = _embedded_ipv4(address)
    if embedded is not None and embedded in CLOUD_METADATA_ADDRESSES:
        return f"{kind} address embedding the cloud metadata address {embedded}"
    if _in_any(address, allowed_networks) or (
        embedded is not None and _in_any(embedded, allowed_networks)
    ):
        return None
    if embedded is not None:
        inner = _ipv4_reason(embedded)
        return None if inner is None else f"{kind} address embedding {embedded} ({inner})"
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_reason(address)
    return _ipv6_reason(address)


def _normalise_host(raw_host: str) -> str:
    # One trailing dot is the fully-qualified spelling of the same name; certificates and
    # Host headers use the name without it.
    host = raw_host[:-1] if raw_host.endswith(".") else raw_host
    if not host:
        raise InvalidWebhookUrl("URL has no host")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidWebhookUrl(f"invalid host name {raw_host!r}") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise InvalidWebhookUrl(f"invalid host name {raw_host!r}")
    return ascii_host


def _resolve(host: str, port: int, resolver: Resolver) -> tuple[IPAddress, ...]:
    try:
        # A literal needs no resolver, and a fake resolver in tests cannot override it.
        return (_parse_ip(host),)
    except ValueError:
        pass
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolutionError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address = _parse_ip(str(sockaddr[0]))
        except ValueError as exc:
            raise ResolutionError(f"resolver returned a non-IP address for {host}") from exc
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ResolutionError(f"{host} has no IPv4 or IPv6 address")
    return tuple(addresses)


def _parse_ip(text: str) -> IPAddress:
    # Drop an IPv6 zone ("fe80::1%eth0"): the address alone decides, and a zone never makes
    # a link-local address acceptable.
    return ipaddress.ip_address(text.split("%", 1)[0])


def _in_any(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 address really leads to, if it is one of the carrier forms."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None, ""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _SIXTOFOUR and address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None, ""


def _ipv4_reason(address: ipaddress.IPv4Address) -> str | None:
    for network, reason in _IPV4_FORBIDDEN:
        if address in network:
            return reason
    # Belt and braces: a newer Python may know special ranges the table above lacks.
    if not address.is_global:
        return "not a public address"
    return None


def _ipv6_reason(address: ipaddress.IPv6Address) -> str | None:
    for network, reason in _IPV6_FORBIDDEN:
        if address in network:
            return reason
    # Only 2000::/3 is allocated for global unicast; everything else is reserved today
    # (including IPv4-compatible ::a.b.c.d and SIIT ::ffff:0:a.b.c.d forms).
    if address not in _IPV6_GLOBAL_UNICAST:
        return "reserved (not global unicast)"
    if not address.is_global:
        return "not a public address"
    return None
