"""The SSRF guard on its own: URL parsing, address classes, allowed networks, pinning.

Only fake resolvers here, and nothing connects anywhere.
"""

from __future__ import annotations

import ipaddress

import pytest

from invoicing.webhooks.guard import (
    ForbiddenAddress,
    InvalidWebhookUrl,
    ResolutionError,
    forbidden_reason,
    parse_allowed_networks,
    parse_webhook_url,
    resolve_and_check,
)

from .conftest import PUBLIC_V4, PUBLIC_V4_B, PUBLIC_V6, fake_resolver

LOOPBACK = parse_allowed_networks("127.0.0.0/8, ::1/128")


def check(url: str, mapping: dict[str, list[str]] | None = None, allowed=()):
    return resolve_and_check(url, allowed_networks=allowed, resolver=fake_resolver(mapping or {}))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "169.254.1.1",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.8",
        "192.0.2.10",
        "198.18.0.1",
        "192.88.99.1",
        "100.100.100.200",
        "168.63.129.16",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "fec0::1",
        "ff02::1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",
        "100::1",
        "3fff::1",
        "5f00::1",
        "4000::1",  # outside 2000::/3, unallocated
    ],
)
def test_forbidden_addresses(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden_reason(ip) is not None
    with pytest.raises(ForbiddenAddress):
        check("https://hooks.example.com/x", {"hooks.example.com": [address]})


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC_V4,
        PUBLIC_V4_B,
        "8.8.8.8",
        PUBLIC_V6,
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None
    target = check("https://hooks.example.com/x", {"hooks.example.com": [address]})
    assert target.ip == ipaddress.ip_address(address)


def test_metadata_reason_is_named_and_allowed_networks_do_not_unlock_it() -> None:
    allowed = parse_allowed_networks("169.254.0.0/16 100.64.0.0/10 fd00::/8")
    for address in (
        "169.254.169.254",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
    ):
        reason = forbidden_reason(ipaddress.ip_address(address), allowed)
        assert reason is not None and "metadata" in reason
    # The rest of those networks is unlocked.
    assert forbidden_reason(ipaddress.ip_address("169.254.10.10"), allowed) is None
    assert forbidden_reason(ipaddress.ip_address("100.64.3.4"), allowed) is None


def test_every_resolved_address_must_pass_and_pinning_keeps_them_all() -> None:
    with pytest.raises(ForbiddenAddress, match="127.0.0.1"):
        check("http://mixed.example.com/", {"mixed.example.com": [PUBLIC_V4, "127.0.0.1"]})
    with pytest.raises(ForbiddenAddress):
        check("http://mixed.example.com/", {"mixed.example.com": ["10.0.0.1", PUBLIC_V4]})
    target = check(
        "https://ok.example.com:8443/a/b?c=d#frag",
        {"ok.example.com": [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4]},
    )
    assert target.addresses == (ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address(PUBLIC_V6))
    assert (target.scheme, target.host, target.port) == ("https", "ok.example.com", 8443)
    assert target.request_target == "/a/b?c=d"


def test_hostname_resolving_to_loopback_is_refused_unless_allowed() -> None:
    mapping = {"evil.example.com": ["127.0.0.1"]}
    with pytest.raises(ForbiddenAddress, match="loopback"):
        check("http://evil.example.com/", mapping)
    target = check("http://evil.example.com/", mapping, allowed=LOOPBACK)
    assert str(target.ip) == "127.0.0.1"


def test_allowed_networks_apply_to_mapped_and_embedded_forms() -> None:
    allowed = parse_allowed_networks("10.0.0.0/8")
    assert forbidden_reason(ipaddress.ip_address("10.2.3.4"), allowed) is None
    assert forbidden_reason(ipaddress.ip_address("::ffff:10.2.3.4"), allowed) is None
    assert forbidden_reason(ipaddress.ip_address("192.168.0.1"), allowed) is not None


def test_literal_ip_does_not_use_the_resolver() -> None:
    def resolver(*args, **kwargs):
        raise AssertionError("resolver called for a literal")

    with pytest.raises(ForbiddenAddress):
        resolve_and_check("http://[::ffff:127.0.0.1]:8080/", resolver=resolver)
    target = resolve_and_check(f"http://{PUBLIC_V4}/", resolver=resolver)
    assert str(target.ip) == PUBLIC_V4


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/hook",
        "http://",
        "http:///path",
        "https://:443/",
        "http://user:pass@example.com/",
        "http://example.com@127.0.0.1/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://example.com:abc/",
        "http://[::1/",
        "http://exa mple.com/",
        "http://example.com/\r\nX-Injected: 1",
        "http://example.com/\tpath",
        "http://bad_host!.com/",
        "http://example..com/",
        "http://example.com/caf\u00e9",
        "",
        "http://" + "a" * 3000 + ".com/",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        parse_webhook_url(url)


def test_url_normalisation() -> None:
    parsed = parse_webhook_url("HTTPS://Hooks.Example.COM./in")
    assert (parsed.scheme, parsed.host, parsed.port, parsed.request_target) == (
        "https",
        "hooks.example.com",
        443,
        "/in",
    )
    assert parse_webhook_url("http://b\u00fccher.example/").host == "xn--bcher-kva.example"
    assert parse_webhook_url("http://[2606:2800:220:1::1]:81").request_target == "/"


def test_resolution_failures_are_typed() -> None:
    with pytest.raises(ResolutionError):
        check("http://nxdomain.example.com/")
    with pytest.raises(ResolutionError):
        check("http://empty.example.com/", {"empty.example.com": []})


def test_parse_allowed_networks() -> None:
    assert parse_allowed_networks("127.0.0.0/8, ::1/128") == [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    assert parse_allowed_networks("") == []
    assert parse_allowed_networks(None) == []
    assert parse_allowed_networks("10.1.2.3") == [ipaddress.ip_network("10.1.2.3/32")]
    assert parse_allowed_networks(["192.168.0.0/16"]) == [ipaddress.ip_network("192.168.0.0/16")]
    with pytest.raises(ValueError):
        parse_allowed_networks("10.0.0.5/8")
    with pytest.raises(ValueError):
        parse_allowed_networks("not-a-network")
