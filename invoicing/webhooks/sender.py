"""One webhook delivery attempt: a POST to a checked, pinned address, bounded in time and size.

Built on ``http.client`` and ``ssl`` rather than requests, because every property that
matters here has to be enforced below requests' level anyway:

- the name is resolved once by ``guard.resolve_and_check`` and the socket is opened to those
  checked addresses only (no second lookup, so DNS rebinding cannot swap in 127.0.0.1), while
  the Host header, TLS SNI and certificate verification use the original host name;
- a TOTAL deadline per attempt: socket timeouts bound each ``recv``, not the sum of them, so a
  receiver trickling one byte every few seconds would hold a worker for hours. A watchdog
  timer shuts the socket down when the deadline passes, which wakes any blocked read or write
  (connect, TLS handshake, status line, headers or body);
- at most ``max_response_bytes`` of the body are read, then the connection is closed without
  draining it, so a 100 MB answer costs 20 KB; no content decoding (no gzip bombs);
- redirects are never followed and no proxy is taken from the environment (nothing here
  reads ``HTTP_PROXY``), both of which would bypass the address check;
- with a ``ConnectionPool``, a connection whose answer was read to its end is kept open for
  the next attempt to the same endpoint (HTTP keep-alive). The name is resolved and every
  address checked each time a NEW connection is opened, exactly as without a pool; a kept
  connection goes on to the address it was opened to, which was checked then.

``post`` never raises for network problems: the outcome says what happened.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import functools
import heapq
import http.client
import os
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC

import certifi

from invoicing.webhooks.guard import (
    ForbiddenAddress,
    InvalidWebhookUrl,
    IPNetwork,
    PinnedTarget,
    ResolutionError,
    Resolver,
    parse_webhook_url,
    resolve_and_check,
)

DEFAULT_DEADLINE_S = 15.0
DEFAULT_MAX_RESPONSE_BYTES = 20_480
_READ_CHUNK = 16_384
_MAX_ERROR_LENGTH = 500
_KEPT_RESPONSE_HEADERS = ("Retry-After", "Content-Type")
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Connector = Callable[[tuple[str, int], float], socket.socket]


class Outcome(enum.StrEnum):
    SUCCESS = "success"  # 2xx
    REDIRECT = "redirect"  # 3xx: a failure, never followed
    GONE = "gone"  # 410: the caller disables the endpoint
    RATE_LIMITED = "rate_limited"  # 429 or 503, see retry_after_s
    CLIENT_ERROR = "client_error"  # other 4xx
    SERVER_ERROR = "server_error"  # other 5xx and any status outside 200..599
    TIMEOUT = "timeout"  # the deadline passed before a status line arrived
    CONNECTION_ERROR = "connection_error"  # DNS failure, refused, reset, TLS failure...
    FORBIDDEN_ADDRESS = "forbidden_address"
    INVALID_URL = "invalid_url"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    duration_ms: int
    status_code: int | None = None
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # "" whenever a status line was received
    retry_after_s: float | None = None  # only for RATE_LIMITED, when the receiver sent one
    truncated: bool = False  # body cut at the byte cap or by the deadline
    remote_ip: str | None = None  # the checked address actually connected to

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allowed_networks: Sequence[IPNetwork] = (),
    deadline_s: float = DEFAULT_DEADLINE_S,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    resolver: Resolver = socket.getaddrinfo,
    connect: Connector = socket.create_connection,
    ca_certs: str | None = None,
    pool: ConnectionPool | None = None,
    pool_key: Hashable = None,
) -> AttemptResult:
    """POST ``body`` to ``url`` once. See the module docstring for the guarantees.

    ``connect(address, timeout)`` opens the TCP connection to one checked ``(ip, port)``
    (tests inject it to observe or forbid connections); ``ca_certs`` replaces certifi's CA
    bundle. With ``pool``, an idle connection kept under ``pool_key`` for the same origin is
    used if there is one, and the connection is kept there afterwards when it can carry
    another request.
    """
    started = time.monotonic()
    deadline = started + deadline_s

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parsed = parse_webhook_url(url)
    except InvalidWebhookUrl as exc:
        return AttemptResult(Outcome.INVALID_URL, elapsed_ms(), error=exc.reason)
    # The allowed networks and the CA bundle are part of the key: a connection opened under
    # one policy is never lent to a request made under another.
    key = (pool_key, parsed.scheme, parsed.host, parsed.port, ca_certs, tuple(allowed_networks))
    # Host and framing come from the pinned target and the body, never from the caller,
    # so a stray header cannot contradict what was checked or smuggle a second request.
    request_headers = {
        name: value for name, value in headers.items() if name.lower() not in _OWN_HEADERS
    }
    if pool is None:
        # One request per connection: tell the receiver not to keep it open for us.
        request_headers["Connection"] = "close"

    watchdog = _Watchdog(deadline)
    conn = pool.take(key) if pool is not None else None
    reusable = False
    try:
        if conn is not None:
            conn.rearm(deadline, watchdog.watch)
            try:
                exchange = _exchange(conn, parsed.request_target, body, request_headers)
            except (OSError, http.client.HTTPException) as exc:
                if watchdog.fired or not _closed_while_idle(exc):
                    return _network_failure(exc, watchdog, deadline_s, elapsed_ms(), conn)
                # The receiver closed the kept connection as we reused it (its keep-alive
                # timeout raced our request) and answered nothing: send on a new connection.
                # Every delivery carries its id, so even a receiver that did take the first
                # copy sees the same message twice, which at-least-once delivery allows.
                conn.close()
                conn = None
        if conn is None:
            try:
                target = _resolve_before(url, allowed_networks, resolver, deadline)
            except InvalidWebhookUrl as exc:
                return AttemptResult(Outcome.INVALID_URL, elapsed_ms(), error=exc.reason)
            except ForbiddenAddress as exc:
                return AttemptResult(Outcome.FORBIDDEN_ADDRESS, elapsed_ms(), error=exc.reason)
            except ResolutionError as exc:
                return AttemptResult(Outcome.CONNECTION_ERROR, elapsed_ms(), error=exc.reason)
            except TimeoutError:
                return AttemptResult(
                    Outcome.TIMEOUT,
                    elapsed_ms(),
                    error="deadline exceeded while resolving the host name",
                )
            conn = _PinnedConnection(
                target,
                deadline=deadline,
                connect=connect,
                tls_context=_tls_context(ca_certs) if target.scheme == "https" else None,
                on_socket=watchdog.watch,
            )
            try:
                exchange = _exchange(conn, target.request_target, body, request_headers)
            except (OSError, http.client.HTTPException) as exc:
                return _network_failure(exc, watchdog, deadline_s, elapsed_ms(), conn)
        status, kept_headers, response = exchange
        response_body, truncated = _read_capped(response, max_response_bytes, watchdog)
        # Only a connection whose answer was read to its end can carry another request; one
        # cut at the byte cap (or short by the receiver) is closed, never drained.
        reusable = not truncated and (response.isclosed() or response.length == 0)
        if reusable:
            # Marks the answer consumed, which http.client requires before the next request.
            response.close()
    finally:
        watchdog.stop()
        if conn is not None:
            remote_ip = conn.remote_ip
            # After stop() the watchdog's verdict is final: one that fired has shut the socket.
            if pool is not None and reusable and not watchdog.fired and conn.sock is not None:
                pool.give_back(key, conn)
            else:
                conn.close()

    outcome = classify_status(status)
    retry_after = None
    if outcome is Outcome.RATE_LIMITED:
        retry_after = parse_retry_after(kept_headers.get("Retry-After"))
    return AttemptResult(
        outcome,
        elapsed_ms(),
        status_code=status,
        response_body=response_body,
        response_headers=kept_headers,
        retry_after_s=retry_after,
        truncated=truncated,
        remote_ip=remote_ip,
    )


def _exchange(
    conn: _PinnedConnection, request_target: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], http.client.HTTPResponse]:
    """Send the request and read the status line and headers (not the body)."""
    conn.request("POST", request_target, body=body, headers=headers)
    response = conn.getresponse()
    kept_headers = {
        name: value
        for name in _KEPT_RESPONSE_HEADERS
        if (value := response.getheader(name)) is not None
    }
    return response.status, kept_headers, response


def _closed_while_idle(exc: BaseException) -> bool:
    # A kept connection the receiver has closed fails on the write (broken pipe, reset) or
    # gives an empty answer (RemoteDisconnected, a ConnectionResetError). Anything else,
    # including a timeout, is the receiver's answer to this attempt.
    return isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError))


def _network_failure(
    exc: BaseException,
    watchdog: _Watchdog,
    deadline_s: float,
    duration_ms: int,
    conn: _PinnedConnection,
) -> AttemptResult:
    if watchdog.fired or isinstance(exc, TimeoutError):
        return AttemptResult(
            Outcome.TIMEOUT,
            duration_ms,
            error=f"no response within the {deadline_s:g} s deadline",
            remote_ip=conn.remote_ip,
        )
    return AttemptResult(
        Outcome.CONNECTION_ERROR, duration_ms, error=_describe(exc), remote_ip=conn.remote_ip
    )


class ConnectionPool:
    """Idle keep-alive connections, kept per key (the caller's: an endpoint) and origin.

    Thread-safe: attempts to one endpoint run concurrently. Bounded three ways, so that idle
    connections cannot pile up in a worker process: at most ``max_idle_per_key`` per key, at
    most ``max_idle`` in all (the oldest is closed first), none idle longer than
    ``idle_timeout_s``. The most recently used connection is lent first, so the others reach
    the timeout and close when fewer are needed.
    """

    def __init__(
        self,
        *,
        max_idle_per_key: int = 16,
        max_idle: int = 256,
        idle_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_idle_per_key = max_idle_per_key
        self.max_idle = max_idle
        self.idle_timeout_s = idle_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        # Every idle connection, oldest first: (key, connection, when it became idle).
        self._idle: OrderedDict[int, tuple[Hashable, _PinnedConnection, float]] = OrderedDict()
        self._by_key: dict[Hashable, list[_PinnedConnection]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._idle)

    def take(self, key: Hashable) -> _PinnedConnection | None:
        """The most recently kept connection for ``key`` that is still usable, or None."""
        stale: list[_PinnedConnection] = []
        found = None
        with self._lock:
            stale.extend(self._expire())
            kept = self._by_key.get(key)
            while kept and found is None:
                conn = kept.pop()
                del self._idle[id(conn)]
                if _dropped(conn):
                    stale.append(conn)
                else:
                    found = conn
            if not kept:
                self._by_key.pop(key, None)
        for conn in stale:
            conn.close()
        return found

    def give_back(self, key: Hashable, conn: _PinnedConnection) -> None:
        surplus: list[_PinnedConnection] = []
        with self._lock:
            surplus.extend(self._expire())
            kept = self._by_key.setdefault(key, [])
            if len(kept) >= self.max_idle_per_key:
                surplus.append(conn)
            else:
                kept.append(conn)
                self._idle[id(conn)] = (key, conn, self._clock())
                while len(self._idle) > self.max_idle:
                    surplus.append(self._pop_oldest())
        for extra in surplus:
            extra.close()

    def close(self) -> None:
        with self._lock:
            idle = [conn for _, conn, _ in self._idle.values()]
            self._idle.clear()
            self._by_key.clear()
        for conn in idle:
            conn.close()

    def _expire(self) -> list[_PinnedConnection]:
        expired = []
        cutoff = self._clock() - self.idle_timeout_s
        while self._idle and next(iter(self._idle.values()))[2] < cutoff:
            expired.append(self._pop_oldest())
        return expired

    def _pop_oldest(self) -> _PinnedConnection:
        _, (key, conn, _) = self._idle.popitem(last=False)
        kept = self._by_key[key]
        kept.remove(conn)
        if not kept:
            del self._by_key[key]
        return conn


def _dropped(conn: _PinnedConnection) -> bool:
    """Whether an idle connection was closed by the receiver (or sent something unasked).

    An idle HTTP/1.1 connection has nothing to read: readable means end of stream, a reset,
    or stray bytes that would be taken for the next answer's status line.
    """
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def classify_status(status: int) -> Outcome:
    if 200 <= status <= 299:
        return Outcome.SUCCESS
    if 300 <= status <= 399:
        return Outcome.REDIRECT
    if status == 410:
        return Outcome.GONE
    if status in (429, 503):
        return Outcome.RATE_LIMITED
    if 400 <= status <= 499:
        return Outcome.CLIENT_ERROR
    # 5xx, and nonsense codes, are treated as the receiver's fault: retry.
    return Outcome.SERVER_ERROR


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date.

    Returns None for a missing or unparsable value, and 0 for a date in the past.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _resolve_before(
    url: str, allowed_networks: Sequence[IPNetwork], resolver: Resolver, deadline: float
) -> PinnedTarget:
    """Run the guard in a helper thread so a stuck DNS lookup cannot outlive the deadline.

    getaddrinfo cannot be interrupted; on timeout the daemon thread is left to finish on its
    own and its answer is discarded.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["target"] = resolve_and_check(
                url, allowed_networks=allowed_networks, resolver=resolver
            )
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise TimeoutError("resolution deadline exceeded")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["target"]  # type: ignore[return-value]


def _read_capped(
    response: http.client.HTTPResponse, cap: int, watchdog: _Watchdog
) -> tuple[bytes, bool]:
    """Read at most ``cap`` body bytes; never drain the rest.

    Once a status line has arrived the outcome is decided by it, so a failure while reading
    the body only truncates what we keep (a 2xx whose body trickles is still a success:
    retrying it would deliver the event twice).
    """
    chunks: list[bytes] = []
    total = 0
    try:
        while total < cap:
            chunk = response.read1(min(_READ_CHUNK, cap - total))
            if not chunk:
                # Empty read: the end of the body, or the connection ended early (deadline or
                # receiver) while a declared Content-Length was still owed.
                return b"".join(chunks), watchdog.fired or bool(response.length)
            chunks.append(chunk)
            total += len(chunk)
    except (OSError, http.client.HTTPException):
        return b"".join(chunks), True
    finished = response.isclosed() or response.length == 0
    return b"".join(chunks), not finished


@functools.lru_cache(maxsize=4)
def _tls_context(ca_certs: str | None) -> ssl.SSLContext:
    # Loading a CA bundle takes milliseconds; the context is safe to share between threads.
    context = ssl.create_default_context(cafile=ca_certs or certifi.where())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_LENGTH]


class _Deadlines:
    """One thread per process that fires watchdogs at their deadlines.

    A timer thread per attempt cost about a fifth of a kept-alive attempt's CPU (starting a
    thread waits for it to run); this thread sleeps until the earliest deadline instead.
    Stopped watchdogs stay in the heap until their deadline passes and are then dropped.
    """

    def __init__(self) -> None:
        self._reset()
        # Neither the thread nor a lock another thread held survives fork: a worker's pool
        # process starts afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._sequence = 0
        self._started = False

    def add(self, deadline: float, watchdog: _Watchdog) -> None:
        with self._condition:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="webhook-deadlines", daemon=True).start()
            self._sequence += 1
            heapq.heappush(self._heap, (deadline, self._sequence, watchdog))
            if self._heap[0][2] is watchdog:
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                _, _, watchdog = heapq.heappop(self._heap)
            watchdog._fire()


_DEADLINES = _Deadlines()


class _Watchdog:
    """Shuts the connection's socket down at the deadline, waking any blocked call."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stopped = False
        _DEADLINES.add(deadline, self)

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: TLS wrapping detaches the original socket object, but a
        # shutdown through any descriptor of the connection ends it. fromfd rather than
        # dup(), which TLS sockets refuse (a kept TLS connection is watched again on reuse).
        with self._lock:
            if self._stopped:
                return
            if self._sock is not None:
                self._sock.close()
            self._sock = socket.fromfd(sock.fileno(), sock.family, sock.type)
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            # Already closed by the peer or by us: nothing left to wake.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to ``target.host`` that only ever dials the checked addresses."""

    def __init__(
        self,
        target: PinnedTarget,
        *,
        deadline: float,
        connect: Connector,
        tls_context: ssl.SSLContext | None,
        on_socket: Callable[[socket.socket], None],
    ) -> None:
        super().__init__(target.host, target.port, timeout=max(0.001, deadline - time.monotonic()))
        # http.client leaves the port out of the Host header only when it equals this.
        self.default_port = 443 if tls_context is not None else 80
        self._target = target
        self._deadline = deadline
        self._connect = connect
        self._tls_context = tls_context
        self._on_socket = on_socket
        self.remote_ip: str | None = None

    def connect(self) -> None:
        sock = self._dial()
        self._on_socket(sock)
        # Request headers and body go out in separate writes; don't let Nagle delay the second.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls_context is not None:
            # SNI and certificate verification use the URL's host name, not the IP we dialled.
            sock = self._tls_context.wrap_socket(sock, server_hostname=self._target.host)
        self.sock = sock

    def rearm(self, deadline: float, on_socket: Callable[[socket.socket], None]) -> None:
        """Put a kept connection under a new attempt's deadline and watchdog."""
        self._deadline = deadline
        self._on_socket = on_socket
        if self.sock is not None:
            on_socket(self.sock)
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))

    def _dial(self) -> socket.socket:
        error: OSError = ConnectionError("no address to connect to")
        for address in self._target.addresses:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline exceeded while connecting")
            try:
                sock = self._connect((str(address), self._target.port), remaining)
            except OSError as exc:
                # Every address passed the guard, so falling back to the next is safe (and
                # needed when, say, the AAAA record is unreachable from here).
                error = exc
                continue
            sock.settimeout(max(0.001, self._deadline - time.monotonic()))
            self.remote_ip = str(address)
            return sock
        raise error

    def getresponse(self) -> http.client.HTTPResponse:
        # Each recv gets at most the time left; the watchdog bounds their sum.
        if self.sock is not None:
            self.sock.settimeout(max(0.001, self._deadline - time.monotonic()))
        return super().getresponse()
