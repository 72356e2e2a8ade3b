"""One organization's hanging webhook endpoints must not delay another organization's
deliveries (README "Webhooks", the scheduling rule).

The deployment is tests/system/stack.py's: the webhook worker as the Procfile runs it
(one Celery worker, 2 processes), beat, gunicorn, with an attempt deadline of 120 s so that
organization A's attempts hang for the whole test. A has 10 endpoints (the most it may
have) whose receiver reads every request and answers nothing until the test lets go, and a
backlog for each of them. Organization B, made once all ten are held, has one endpoint that
answers at once.

The bound: every one of B's deliveries (``invoice.created`` and ``invoice.generated`` of two
invoices) is received, and recorded as succeeded, while all of A's attempts are still held:
none answered, none timed out, none recorded. A's hangs add nothing to B's delay. The wait
for B is bounded at 60 s only as a safety net (half the deadline A's attempts are held for);
the assertions are on that order of events, not on a stopwatch. Before the scheduling rule,
the two worker processes each sat in one of A's attempts and B's deliveries queued behind
them for the whole deadline.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from tests.invoicing.webhooks.conftest import read_request
from tests.system.stack import Stack, WebhookReceiver, wait_until

pytestmark = pytest.mark.system

DEADLINE_S = 120
B_WAIT_S = 60
A_ENDPOINTS = 10


class Tarpit:
    """Reads each request and holds it, unanswered, until ``release``; counts the held."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held = 0
        self._changed = threading.Condition()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/{path}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._hold, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _hold(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            if not read_request(conn, timeout=DEADLINE_S):
                return
            with self._changed:
                self.held += 1
                self._changed.notify_all()
            self.release.wait(DEADLINE_S * 2)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def wait_held(self, count: int, timeout: float) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.held >= count, timeout), (
                f"{self.held} requests held, {count} expected"
            )

    def close(self) -> None:
        self.release.set()
        self._closed.set()
        self._sock.close()
        self._acceptor.join(2)
        for thread in self._threads:
            thread.join(2)


@pytest.fixture(scope="module")
def hook_stack():
    deployment = Stack(WEBHOOK_TIMEOUT_SECONDS=DEADLINE_S)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        deployment.cleanup()


def _deliveries(stack: Stack, organization_id: str, *statuses: str) -> list[tuple]:
    return stack.sql(
        "SELECT d.id::text, d.status FROM invoicing_webhookdelivery d"
        " JOIN invoicing_webhookevent e ON e.id = d.event_id"
        " WHERE e.organization_id = %s AND d.status = ANY(%s)",
        organization_id,
        list(statuses),
    )


def test_hanging_endpoints_of_one_tenant_do_not_delay_another(hook_stack):
    stack = hook_stack
    tarpit = Tarpit()
    prompt = WebhookReceiver()
    try:
        a = stack.tenant(
            "hanging-a", webhook_urls=tuple(tarpit.url(f"hooks/{n}") for n in range(A_ENDPOINTS))
        )
        api_a = stack.session(a)
        for _ in range(3):
            api_a.create_invoice(a.customer)
        # Every one of A's endpoints holds an attempt (a new endpoint's window is one), and
        # A has more deliveries waiting behind them.
        tarpit.wait_held(A_ENDPOINTS, timeout=B_WAIT_S)
        assert len(_deliveries(stack, a.organization_id, "sending")) == A_ENDPOINTS
        assert len(_deliveries(stack, a.organization_id, "pending")) >= 2 * A_ENDPOINTS

        b = stack.tenant("prompt-b", webhook_urls=(prompt.url,))
        api_b = stack.session(b)
        invoices = [api_b.create_invoice(b.customer)["lago_id"] for _ in range(2)]
        wait_until(
            lambda: len(_deliveries(stack, b.organization_id, "succeeded")) == 4,
            timeout=B_WAIT_S,
            what="B's four deliveries to succeed",
        )

        # All of it while A's attempts were held: none answered, none timed out, none
        # recorded, and A's backlog still waiting behind them.
        assert not tarpit.release.is_set() and tarpit.held == A_ENDPOINTS
        assert len(_deliveries(stack, a.organization_id, "sending")) == A_ENDPOINTS
        assert not _deliveries(stack, a.organization_id, "succeeded", "failed")
        a_attempts = stack.sql(
            "SELECT count(*) FROM invoicing_webhookdeliveryattempt t"
            " JOIN invoicing_webhookdelivery d ON d.id = t.delivery_id"
            " JOIN invoicing_webhookevent e ON e.id = d.event_id"
            " WHERE e.organization_id = %s",
            a.organization_id,
        )
        assert a_attempts == [(0,)]
        received = {(r.webhook_type, r.object_id) for r in prompt.received}
        assert received == {
            (kind, invoice)
            for kind in ("invoice.created", "invoice.generated")
            for invoice in invoices
        }
        succeeded = {row[0] for row in _deliveries(stack, b.organization_id, "succeeded")}
        assert set(prompt.ids()) == succeeded
    finally:
        tarpit.close()
        prompt.close()
