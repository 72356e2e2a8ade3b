"""Real receivers on 127.0.0.1 (ephemeral ports) and fakes for DNS and connect.

Nothing here ever sends a packet to a non-loopback address: the fake connect refuses any
address outside 127.0.0.0/8 without touching the network, so even a broken guard can only
make a test fail, not send traffic elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V4_B = "151.101.1.69"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def fake_resolver(mapping: dict[str, list[str]], calls: list[str] | None = None) -> Callable:
    """A getaddrinfo look-alike answering from ``mapping``; unknown names fail like NXDOMAIN."""

    def resolve(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for ip in mapping[host]:
            if ipaddress.ip_address(ip).version == 6:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return infos

    return resolve


class RecordingConnect:
    """Records every dial; really connects only to loopback, refuses anything else offline."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.calls.append(address)
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"test refuses to dial {address[0]}")
        return socket.create_connection(address, timeout)


@pytest.fixture
def recording_connect() -> RecordingConnect:
    return RecordingConnect()


class CountingListener:
    """A listening socket that never accepts on its own; ``count()`` drains the backlog.

    The kernel completes TCP handshakes into the backlog without accept(), so any connection
    the code under test made is counted, deterministically, once the call has returned.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self._accepted = 0

    def count(self) -> int:
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return self._accepted
            conn.close()
            self._accepted += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'


class Receiver:
    """An http.server receiver in a thread that records requests and sends a set reply."""

    def __init__(self, reply: Reply, ssl_context=None) -> None:
        self.reply = reply
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                self.send_response(receiver.reply.status)
                for name, value in receiver.reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.reply.body)))
                self.end_headers()
                self.wfile.write(receiver.reply.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        # A short poll interval keeps shutdown() (and so each test's teardown) quick.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(reply: Reply | None = None, ssl_context=None) -> Receiver:
        receiver = Receiver(reply or Reply(), ssl_context)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to ``behaviour(conn, stop_event)``."""

    def __init__(self, behaviour: Callable[[socket.socket, threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._behaviour = behaviour
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._behaviour(conn, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self._thread.join(2)
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def raw_server_factory() -> Iterator[Callable[..., RawServer]]:
    started: list[RawServer] = []

    def start(behaviour: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        server = RawServer(behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def read_request(conn: socket.socket, timeout: float = 5.0) -> bytes:
    """Read one request (headers plus a Content-Length body) from a raw connection."""
    conn.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    deadline = time.monotonic() + timeout
    while len(rest) < length and time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


class KeepAliveReceiver:
    """An HTTP/1.1 receiver on raw sockets that keeps connections open, as real ones do.

    Each answer leaves in one write (http.server's two writes meet Nagle's algorithm and the
    client's delayed ACK: 40 ms per kept-alive request). It counts connections, records each
    request's delivery id, and tracks the most requests in progress at once. ``gate``, when
    set, holds every request until it is released; ``close_after_answer`` closes each
    connection after its answer without saying so (a receiver whose keep-alive ran out).
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.gate: threading.Event | None = None
        self.close_after_answer = False
        self.connections = 0
        self.ids: list[str] = []
        self.in_progress = 0
        self.most_in_progress = 0
        self._lock = threading.Condition()
        self._open: list[socket.socket] = []
        self.server = RawServer(self._serve)

    @property
    def url(self) -> str:
        return self.server.url

    def _serve(self, conn: socket.socket, stop: threading.Event) -> None:
        with self._lock:
            self.connections += 1
            self._open.append(conn)
        while not stop.is_set():
            request = read_request(conn, timeout=30)
            if not request:
                return
            head = request.partition(b"\r\n\r\n")[0].decode("latin-1")
            fields = (line.partition(":") for line in head.split("\r\n")[1:])
            named = {name.strip().lower(): value.strip() for name, _, value in fields}
            with self._lock:
                self.ids.append(named.get("x-lago-unique-key", ""))
                self.in_progress += 1
                self.most_in_progress = max(self.most_in_progress, self.in_progress)
                self._lock.notify_all()
            if self.gate is not None:
                self.gate.wait(30)
            with self._lock:
                self.in_progress -= 1
            # Read before the answer leaves: a test sets it once an answer came back,
            # for the next request, and must not close the connection that answer
            # came on (read after the write, it raced the test on a busy machine).
            closing = self.close_after_answer
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok" % self.status)
            if closing:
                return

    def wait_for(self, predicate: Callable[[KeepAliveReceiver], bool], timeout: float = 30) -> None:
        """Wait until ``predicate(self)`` holds (checked at each request's arrival)."""
        with self._lock:
            assert self._lock.wait_for(lambda: predicate(self), timeout), "receiver wait timed out"

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        # Wakes the threads waiting for a kept connection's next request.
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self.server.close()


@pytest.fixture
def keepalive_factory() -> Iterator[Callable[..., KeepAliveReceiver]]:
    started: list[KeepAliveReceiver] = []

    def start(status: int = 200) -> KeepAliveReceiver:
        receiver = KeepAliveReceiver(status)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


# --- TLS: a private CA and a receiver holding a certificate it signed -------------------


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory):
    """A private CA and a certificate for hooks.example.test, made for this run."""
    directory = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Webhook Test CA"))
        .issuer_name(name("Webhook Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name("hooks.example.test"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path = directory / "leaf.pem"
    cert_path.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "leaf.key"
    key_path.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"ca": str(ca_path), "cert": str(cert_path), "key": str(key_path)}


@pytest.fixture
def tls_receiver(receiver_factory, tls_material):
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_material["cert"], tls_material["key"])
    context.sni_callback = lambda sslsock, server_name, ctx: server_names.append(server_name)
    receiver = receiver_factory(ssl_context=context)
    return receiver, server_names
