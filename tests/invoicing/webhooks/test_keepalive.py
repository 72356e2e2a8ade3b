"""Kept-alive connections (``sender.ConnectionPool``): reused while they can carry another
request, and the SSRF guard still checks every address of every NEW connection."""

from __future__ import annotations

import socket
import threading

from invoicing.webhooks.guard import parse_allowed_networks
from invoicing.webhooks.sender import ConnectionPool, Outcome, post

from .conftest import PUBLIC_V4, fake_resolver, read_request

LOOPBACK = parse_allowed_networks("127.0.0.0/8")
BODY = b'{"webhook_type":"invoice.created"}'


def send(url: str, pool: ConnectionPool | None, **kwargs):
    kwargs.setdefault("allowed_networks", LOOPBACK)
    kwargs.setdefault("deadline_s", 2.0)
    return post(url, body=BODY, headers={"X-Lago-Unique-Key": "d"}, pool=pool, **kwargs)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_connection_carries_many_attempts(keepalive_factory) -> None:
    receiver = keepalive_factory()
    pool = ConnectionPool()
    resolved: list[str] = []
    resolver = fake_resolver({"hooks.example.test": ["127.0.0.1"]}, resolved)
    url = f"http://hooks.example.test:{receiver.server.port}/hook"
    for _ in range(5):
        result = send(url, pool, resolver=resolver, pool_key="endpoint-1")
        assert result.outcome is Outcome.SUCCESS, result
        assert result.remote_ip == "127.0.0.1"
    assert receiver.connections == 1
    assert len(receiver.ids) == 5
    assert resolved == ["hooks.example.test"]  # checked once, when the connection was opened
    assert len(pool) == 1


def test_without_a_pool_each_attempt_has_its_own_connection(keepalive_factory) -> None:
    receiver = keepalive_factory()
    for _ in range(3):
        assert send(receiver.url, None).outcome is Outcome.SUCCESS
    assert receiver.connections == 3


def test_keys_keep_their_connections_apart(keepalive_factory) -> None:
    receiver = keepalive_factory()
    pool = ConnectionPool()
    for key in ("a", "b", "a", "b"):
        assert send(receiver.url, pool, pool_key=key).outcome is Outcome.SUCCESS
    assert receiver.connections == 2


def test_a_new_connection_is_checked_again_and_a_rebound_name_refused(
    keepalive_factory, recording_connect
) -> None:
    """The kept connection goes on to the address checked when it was opened; the moment a
    new one is needed, the name is resolved again and every address checked: a name now
    pointing at a forbidden address gets no connection."""
    receiver = keepalive_factory()
    answers = {"rebind.example.test": ["127.0.0.1"]}
    resolved: list[str] = []
    resolver = fake_resolver(answers, resolved)
    url = f"http://rebind.example.test:{receiver.server.port}/hook"
    pool = ConnectionPool()
    kwargs = {"resolver": resolver, "connect": recording_connect}
    assert send(url, pool, **kwargs).outcome is Outcome.SUCCESS
    answers["rebind.example.test"] = ["10.0.0.7"]
    assert send(url, pool, **kwargs).outcome is Outcome.SUCCESS  # the kept connection
    assert resolved == ["rebind.example.test"]

    receiver.close_after_answer = True
    assert send(url, pool, **kwargs).outcome is Outcome.SUCCESS  # kept, then closed by it
    result = send(url, pool, **kwargs)  # a new connection: checked, refused
    assert result.outcome is Outcome.FORBIDDEN_ADDRESS
    assert resolved == ["rebind.example.test"] * 2
    assert recording_connect.calls == [("127.0.0.1", receiver.server.port)]


def test_a_connection_closed_by_the_receiver_while_idle_is_replaced(keepalive_factory) -> None:
    receiver = keepalive_factory()
    receiver.close_after_answer = True
    pool = ConnectionPool()
    for _ in range(3):
        assert send(receiver.url, pool).outcome is Outcome.SUCCESS
    assert receiver.connections == 3
    assert len(receiver.ids) == 3  # each attempt reached it once


def test_a_close_racing_the_reuse_is_retried_once_on_a_new_connection(
    raw_server_factory,
) -> None:
    """The receiver's keep-alive timeout fires just as the kept connection is reused: the
    request meets a closed connection and nothing was answered. It goes again, once, on a
    new connection."""
    requests: list[bytes] = []

    def answer_once_then_drop_the_next(conn: socket.socket, stop: threading.Event) -> None:
        requests.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        # Reads the next request, then closes without a word, as a timed-out server would.
        requests.append(read_request(conn))

    server = raw_server_factory(answer_once_then_drop_the_next)
    pool = ConnectionPool()
    assert send(server.url, pool).outcome is Outcome.SUCCESS
    # The stale connection passes the idle check (the close has not happened yet when it is
    # taken), so only the exchange shows it.
    result = send(server.url, pool)
    assert result.outcome is Outcome.SUCCESS
    assert server.connections == 2


def test_an_answer_cut_at_the_cap_does_not_keep_its_connection(raw_server_factory) -> None:
    def big(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000)
        stop.wait(5)

    pool = ConnectionPool()
    result = send(raw_server_factory(big).url, pool, max_response_bytes=100)
    assert result.outcome is Outcome.SUCCESS and result.truncated
    assert len(pool) == 0


def test_the_deadline_holds_on_a_kept_connection(raw_server_factory) -> None:
    def answer_then_hang(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        read_request(conn)
        stop.wait(30)

    server = raw_server_factory(answer_then_hang)
    pool = ConnectionPool()
    assert send(server.url, pool).outcome is Outcome.SUCCESS
    result = send(server.url, pool, deadline_s=0.5)
    assert result.outcome is Outcome.TIMEOUT
    assert server.connections == 1  # the kept connection was used, and did not come back
    assert len(pool) == 0


def test_idle_connections_are_bounded_in_time_and_number(keepalive_factory) -> None:
    receiver = keepalive_factory()
    clock = Clock()
    pool = ConnectionPool(max_idle_per_key=2, max_idle=3, idle_timeout_s=30, clock=clock)
    conns = {}
    for key in ("a", "b", "c", "d"):
        assert send(receiver.url, pool, pool_key=key).outcome is Outcome.SUCCESS
        conns[key] = receiver.connections
    assert len(pool) == 3  # "a", the oldest, was closed
    assert send(receiver.url, pool, pool_key="a").outcome is Outcome.SUCCESS
    assert receiver.connections == 5
    clock.now += 31
    assert send(receiver.url, pool, pool_key="d").outcome is Outcome.SUCCESS
    assert receiver.connections == 6  # idle too long: a new connection
    assert len(pool) == 1


def test_tls_connections_are_kept_too(tls_receiver, tls_material) -> None:
    receiver, server_names = tls_receiver
    ca = tls_material["ca"]
    pool = ConnectionPool()
    url = f"https://hooks.example.test:{receiver.port}/hook"
    resolver = fake_resolver({"hooks.example.test": ["127.0.0.1"]})
    for _ in range(3):
        result = send(url, pool, resolver=resolver, ca_certs=ca)
        assert result.outcome is Outcome.SUCCESS, result
    assert server_names == ["hooks.example.test"]  # one handshake
    assert len(receiver.requests) == 3


def test_a_forbidden_address_is_refused_with_a_pool_as_without(listener) -> None:
    pool = ConnectionPool()
    result = send(
        f"http://sneaky.example.test:{listener.port}/",
        pool,
        allowed_networks=[],
        resolver=fake_resolver({"sneaky.example.test": ["127.0.0.1", PUBLIC_V4]}),
    )
    assert result.outcome is Outcome.FORBIDDEN_ADDRESS
    assert listener.count() == 0 and len(pool) == 0
