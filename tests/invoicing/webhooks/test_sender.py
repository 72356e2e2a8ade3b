"""One delivery attempt against real receivers on 127.0.0.1.

Deadlines are 2 s here; each slow-receiver test checks the attempt ends within the deadline
plus a small margin.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import time
import tracemalloc

import jwt
import pytest
from standardwebhooks.webhooks import Webhook

from invoicing.webhooks import signing
from invoicing.webhooks.guard import parse_allowed_networks
from invoicing.webhooks.sender import Outcome, classify_status, parse_retry_after, post

from .conftest import PUBLIC_V4, PUBLIC_V4_B, Reply, fake_resolver, read_request

LOOPBACK = parse_allowed_networks("127.0.0.0/8")
DEADLINE = 2.0
MARGIN = 0.75
BODY = b'{"webhook_type":"invoice.generated","object_type":"invoice","invoice":{"lago_id":"x"}}'
HEADERS = {"Content-Type": "application/json", "X-Lago-Unique-Key": "dlv-1"}


def send(url: str, **kwargs):
    kwargs.setdefault("body", BODY)
    kwargs.setdefault("headers", HEADERS)
    kwargs.setdefault("allowed_networks", LOOPBACK)
    kwargs.setdefault("deadline_s", DEADLINE)
    return post(url, **kwargs)


# --- status codes --------------------------------------------------------------------------


def test_success_delivers_exact_body_and_signed_headers_verified_independently(
    receiver_factory,
) -> None:
    private_pem = signing.generate_rsa_private_key_pem()
    old_secret, new_secret = signing.generate_standard_secret(), signing.generate_standard_secret()
    receiver = receiver_factory(Reply(200, {}, b'{"received":true}'))
    for algo in ("jwt", "hmac", "standard"):
        headers = signing.build_headers(
            algo=algo,
            delivery_id="dlv-42",
            body=BODY,
            timestamp=int(time.time()),
            hmac_key="org-key",
            jwt_private_key_pem=private_pem,
            issuer="https://billing.example.com",
            standard_secrets=[new_secret, old_secret],
        )
        result = send(receiver.url, headers=headers)
        assert result.outcome is Outcome.SUCCESS, result
        assert result.status_code == 200
        assert result.response_body == b'{"received":true}'
        assert result.error == ""
        assert result.remote_ip == "127.0.0.1"

        got = receiver.requests[-1]
        assert got.method == "POST"
        assert got.path == "/hook"
        assert got.body == BODY
        assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
        assert got.headers["X-Lago-Unique-Key"] == "dlv-42"
        assert got.headers["User-Agent"] == signing.USER_AGENT
        assert got.headers["Content-Type"] == "application/json"
        for secret in (old_secret, new_secret):
            Webhook(secret).verify(got.body, got.headers)
        if algo == "jwt":
            public_pem = base64.b64decode(signing.public_key_b64(private_pem))
            claims = jwt.decode(got.headers["X-Lago-Signature"], public_pem, algorithms=["RS256"])
            assert claims["data"].encode() == got.body
        elif algo == "hmac":
            digest = hmac.new(b"org-key", got.body, hashlib.sha256).digest()
            assert got.headers["X-Lago-Signature"] == base64.b64encode(digest).decode()
        else:
            assert "X-Lago-Signature" not in got.headers
    assert len(receiver.requests) == 3


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (201, Outcome.SUCCESS),
        (204, Outcome.SUCCESS),
        (400, Outcome.CLIENT_ERROR),
        (401, Outcome.CLIENT_ERROR),
        (404, Outcome.CLIENT_ERROR),
        (410, Outcome.GONE),
        (500, Outcome.SERVER_ERROR),
        (502, Outcome.SERVER_ERROR),
    ],
)
def test_status_outcomes(receiver_factory, status: int, outcome: Outcome) -> None:
    body = b"" if status == 204 else b"nope"
    receiver = receiver_factory(Reply(status, {"Retry-After": "30"}, body))
    result = send(receiver.url)
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.error == ""
    # Retry-After is only reported for rate limiting.
    assert result.retry_after_s is None
    assert len(receiver.requests) == 1


def test_redirect_is_a_failure_and_never_followed(receiver_factory, listener) -> None:
    target = receiver_factory()
    for location in (target.url, f"http://127.0.0.1:{listener.port}/other"):
        redirecting = receiver_factory(Reply(302, {"Location": location}, b""))
        result = send(redirecting.url)
        assert result.outcome is Outcome.REDIRECT
        assert result.status_code == 302
    for status in (301, 307, 308):
        redirecting = receiver_factory(Reply(status, {"Location": target.url}, b""))
        assert send(redirecting.url).outcome is Outcome.REDIRECT
    assert target.requests == []
    assert listener.count() == 0


def test_429_with_retry_after_seconds(receiver_factory) -> None:
    receiver = receiver_factory(Reply(429, {"Retry-After": "120"}, b"slow down"))
    result = send(receiver.url)
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after_s == 120.0
    assert result.response_headers["Retry-After"] == "120"
    assert result.response_body == b"slow down"


def test_503_with_retry_after_http_date(receiver_factory) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    receiver = receiver_factory(Reply(503, {"Retry-After": when}, b""))
    result = send(receiver.url)
    assert result.outcome is Outcome.RATE_LIMITED
    assert 3590 <= result.retry_after_s <= 3601


def test_429_without_or_with_garbage_retry_after(receiver_factory) -> None:
    assert send(receiver_factory(Reply(429, {}, b"")).url).retry_after_s is None
    garbage = receiver_factory(Reply(429, {"Retry-After": "soon-ish"}, b""))
    result = send(garbage.url)
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after_s is None


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("0", now=now) == 0.0
    assert parse_retry_after(" 45 ", now=now) == 45.0
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after("1.5", now=now) is None
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("", now=now) is None
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90, abs=1)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_classify_status_edges() -> None:
    assert classify_status(299) is Outcome.SUCCESS
    assert classify_status(304) is Outcome.REDIRECT
    assert classify_status(429) is Outcome.RATE_LIMITED
    assert classify_status(503) is Outcome.RATE_LIMITED
    assert classify_status(499) is Outcome.CLIENT_ERROR
    assert classify_status(599) is Outcome.SERVER_ERROR
    assert classify_status(999) is Outcome.SERVER_ERROR


# --- time and size bounds ------------------------------------------------------------------


def test_hanging_receiver_times_out_at_the_deadline(raw_server_factory) -> None:
    def hang(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        stop.wait(15)

    server = raw_server_factory(hang)
    started = time.monotonic()
    result = send(server.url)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT
    assert result.status_code is None
    assert result.error
    assert DEADLINE - 0.1 <= elapsed <= DEADLINE + MARGIN


def test_receiver_trickling_its_status_line_times_out(raw_server_factory) -> None:
    """Each byte arrives well within any socket timeout; only a total deadline stops this."""
    sent: list[int] = []

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            conn.sendall(bytes([byte]))
            sent.append(byte)
            if stop.wait(0.5):
                return

    server = raw_server_factory(trickle)
    started = time.monotonic()
    result = send(server.url)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT
    assert elapsed <= DEADLINE + MARGIN
    assert 2 <= len(sent) < 10


def test_receiver_trickling_its_body_is_cut_at_the_deadline(raw_server_factory) -> None:
    def trickle_body(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            conn.sendall(b"x")
            if stop.wait(0.5):
                return

    server = raw_server_factory(trickle_body)
    started = time.monotonic()
    result = send(server.url)
    elapsed = time.monotonic() - started
    # The receiver answered 200: the event was taken, so this is not retried.
    assert result.outcome is Outcome.SUCCESS
    assert result.truncated
    assert 1 <= len(result.response_body) <= 10
    assert elapsed <= DEADLINE + MARGIN


def test_hundred_megabyte_response_reads_only_the_cap(raw_server_factory) -> None:
    size = 100 * 1024 * 1024
    chunk = b"\0" * 65536
    sent = [0]

    def flood(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        while sent[0] < size and not stop.is_set():
            conn.sendall(chunk)
            sent[0] += len(chunk)

    server = raw_server_factory(flood)
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = send(server.url, deadline_s=15.0)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome is Outcome.SUCCESS
    assert len(result.response_body) == 20_480
    assert result.truncated
    assert peak < 5 * 1024 * 1024
    assert elapsed < 2.0
    server.close()
    # The connection was dropped, not drained: the receiver could not push it all.
    assert sent[0] < size // 2


def test_custom_response_cap(receiver_factory) -> None:
    receiver = receiver_factory(Reply(500, {}, b"0123456789abcdef"))
    result = send(receiver.url, max_response_bytes=10)
    assert result.response_body == b"0123456789"
    assert result.truncated
    complete = send(receiver.url, max_response_bytes=100)
    assert complete.response_body == b"0123456789abcdef"
    assert not complete.truncated


def test_hanging_resolver_is_bounded_by_the_deadline() -> None:
    release = threading.Event()

    def slow_resolver(*args, **kwargs):
        release.wait(10)
        return []

    started = time.monotonic()
    try:
        result = send("http://slow-dns.example.com/", resolver=slow_resolver, deadline_s=1.0)
    finally:
        release.set()
    assert result.outcome is Outcome.TIMEOUT
    assert time.monotonic() - started <= 1.0 + MARGIN


def test_refused_connection_and_unresolvable_host(listener) -> None:
    port = listener.port
    listener.close()  # nothing listens there any more
    result = send(f"http://127.0.0.1:{port}/")
    assert result.outcome is Outcome.CONNECTION_ERROR
    assert "Refused" in result.error
    unresolvable = send("http://nxdomain.example.com/", resolver=fake_resolver({}))
    assert unresolvable.outcome is Outcome.CONNECTION_ERROR
    assert "resolve" in unresolvable.error


def test_environment_proxy_is_ignored(receiver_factory, listener, monkeypatch) -> None:
    proxy = f"http://127.0.0.1:{listener.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    receiver = receiver_factory()
    assert send(receiver.url).outcome is Outcome.SUCCESS
    assert listener.count() == 0


# --- SSRF --------------------------------------------------------------------------------


def _resolver_with(mapping: dict[str, list[str]]):
    """Fake names from ``mapping``; everything else (literals, localhost) via getaddrinfo."""
    fake = fake_resolver(mapping)

    def resolve(host, port, *args, **kwargs):
        if host in mapping:
            return fake(host, port)
        return socket.getaddrinfo(host, port, *args, **kwargs)

    return resolve


FORBIDDEN_URLS = [
    ("http://127.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("https://127.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://localhost:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://2130706433:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://0177.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://0x7f000001:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://0x7f.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://127.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://[::1]:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://[::ffff:127.0.0.1]:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://[::ffff:7f00:1]:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://10.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://172.16.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://192.168.1.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://100.64.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://169.254.169.254:{port}/latest/meta-data/", Outcome.FORBIDDEN_ADDRESS),
    ("http://[fd00:ec2::254]:{port}/", Outcome.FORBIDDEN_ADDRESS),
    ("http://100.100.100.200:{port}/", Outcome.FORBIDDEN_ADDRESS),
    ("http://0.0.0.0:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://0:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://224.0.0.1:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://[fe80::1]:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://internal.example.com:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("http://half-internal.example.com:{port}/hook", Outcome.FORBIDDEN_ADDRESS),
    ("ftp://127.0.0.1:{port}/hook", Outcome.INVALID_URL),
    ("file:///etc/passwd", Outcome.INVALID_URL),
    ("gopher://127.0.0.1:{port}/", Outcome.INVALID_URL),
    ("http:///hook", Outcome.INVALID_URL),
    ("http://:{port}/hook", Outcome.INVALID_URL),
    ("http://user@127.0.0.1:{port}/hook", Outcome.INVALID_URL),
]


@pytest.mark.parametrize(("template", "expected"), FORBIDDEN_URLS)
def test_ssrf_matrix_refused_without_any_connection(
    template: str, expected: Outcome, listener, recording_connect
) -> None:
    url = template.format(port=listener.port)
    resolver = _resolver_with(
        {
            "internal.example.com": ["127.0.0.1"],
            "half-internal.example.com": [PUBLIC_V4, "127.0.0.1"],
        }
    )
    result = post(
        url,
        body=BODY,
        headers=HEADERS,
        allowed_networks=[],
        deadline_s=DEADLINE,
        resolver=resolver,
        connect=recording_connect,
    )
    assert result.outcome is expected, result
    assert result.error
    assert recording_connect.calls == []
    assert listener.count() == 0


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "0x7f000001", "127.1", "internal.test"],
)
def test_allowed_loopback_is_reached(host: str, receiver_factory, recording_connect) -> None:
    receiver = receiver_factory()
    result = post(
        f"http://{host}:{receiver.port}/hook",
        body=BODY,
        headers=HEADERS,
        allowed_networks=LOOPBACK,
        deadline_s=DEADLINE,
        resolver=_resolver_with({"internal.test": ["127.0.0.1"]}),
        connect=recording_connect,
    )
    assert result.outcome is Outcome.SUCCESS, result
    assert recording_connect.calls == [("127.0.0.1", receiver.port)]
    assert len(receiver.requests) == 1
    # The receiver sees the name from the URL, not the address we dialled.
    assert receiver.requests[0].headers["Host"] == f"{host}:{receiver.port}"


def test_dns_rebinding_cannot_redirect_the_connection(listener, recording_connect) -> None:
    answers = [[PUBLIC_V4], ["127.0.0.1"]]
    calls: list[str] = []

    def rebinding_resolver(host, port, *args, **kwargs):
        calls.append(host)
        return fake_resolver({host: answers[min(len(calls) - 1, 1)]})(host, port)

    result = post(
        f"http://rebind.example.com:{listener.port}/hook",
        body=BODY,
        headers=HEADERS,
        allowed_networks=[],
        deadline_s=DEADLINE,
        resolver=rebinding_resolver,
        connect=recording_connect,
    )
    # The only dial went to the checked public address (which the fake connect refuses,
    # offline); the name was looked up once, so the second, rebound answer was never used.
    assert calls == ["rebind.example.com"]
    assert recording_connect.calls == [(PUBLIC_V4, listener.port)]
    assert result.outcome is Outcome.CONNECTION_ERROR
    assert listener.count() == 0


def test_all_checked_addresses_are_tried_in_order(recording_connect) -> None:
    result = post(
        "https://multi.example.com/hook",
        body=BODY,
        headers=HEADERS,
        allowed_networks=[],
        deadline_s=DEADLINE,
        resolver=fake_resolver({"multi.example.com": [PUBLIC_V4, PUBLIC_V4_B]}),
        connect=recording_connect,
    )
    assert result.outcome is Outcome.CONNECTION_ERROR
    assert recording_connect.calls == [(PUBLIC_V4, 443), (PUBLIC_V4_B, 443)]


# --- TLS to a pinned address -----------------------------------------------------------


def test_https_pins_the_ip_but_verifies_the_hostname(tls_receiver, tls_material) -> None:
    receiver, server_names = tls_receiver
    result = send(
        f"https://hooks.example.test:{receiver.port}/hook",
        resolver=fake_resolver({"hooks.example.test": ["127.0.0.1"]}),
        ca_certs=tls_material["ca"],
    )
    assert result.outcome is Outcome.SUCCESS, result
    assert result.remote_ip == "127.0.0.1"
    assert server_names == ["hooks.example.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert receiver.requests[0].body == BODY


def test_https_certificate_for_another_name_is_refused(tls_receiver, tls_material) -> None:
    receiver, server_names = tls_receiver
    result = send(
        f"https://other.example.test:{receiver.port}/hook",
        resolver=fake_resolver({"other.example.test": ["127.0.0.1"]}),
        ca_certs=tls_material["ca"],
    )
    assert result.outcome is Outcome.CONNECTION_ERROR
    assert "certificate" in result.error.lower()
    assert server_names == ["other.example.test"]
    assert receiver.requests == []


def test_https_untrusted_ca_is_refused(tls_receiver) -> None:
    receiver, _ = tls_receiver
    result = send(
        f"https://hooks.example.test:{receiver.port}/hook",
        resolver=fake_resolver({"hooks.example.test": ["127.0.0.1"]}),
    )
    assert result.outcome is Outcome.CONNECTION_ERROR
    assert "certificate" in result.error.lower()
    assert receiver.requests == []


def test_attempt_result_is_json_friendly(receiver_factory) -> None:
    result = send(receiver_factory().url)
    # The outcome is a str enum: it can be stored and compared as plain text.
    assert result.outcome == "success"
    assert json.dumps({"outcome": result.outcome}) == '{"outcome": "success"}'
    assert ipaddress.ip_address(result.remote_ip).is_loopback


def test_caller_cannot_override_host_or_framing(receiver_factory) -> None:
    receiver = receiver_factory()
    headers = dict(HEADERS, Host="evil.example", **{"Content-Length": "3"})
    result = send(receiver.url, headers=headers)
    assert result.outcome is Outcome.SUCCESS
    got = receiver.requests[0]
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["Content-Length"] == str(len(BODY))
    assert got.body == BODY
    assert got.headers["Connection"] == "close"


def test_body_cut_short_by_the_receiver_is_marked_truncated(raw_server_factory) -> None:
    def short(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\npartial")

    result = send(raw_server_factory(short).url)
    assert result.outcome is Outcome.SERVER_ERROR
    assert result.response_body == b"partial"
    assert result.truncated
