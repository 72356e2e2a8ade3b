"""One tenant must not take the service from the others: looping on Lotus's
pdf_url for PDFs that cannot be rendered must not take the web tier (README,
"Security and limits"), and a month-end must not hold another tenant's PDFs
behind it (README, "PDFs and the worker pipeline", the render claim's rule).

The deployment is tests/system/stack.py's, started with gunicorn as the
Procfile runs it with ``WEB_CONCURRENCY=2`` (2 sync workers) and the default
waiting bounds derived from it. Organization A keeps 2 connections looping on
pdf_url for invoices whose jobs cannot finish (the PDF worker is stopped),
each asking again as soon as it is answered; organization B then lists its
taxes, downloads its invoice through the Lago face and fetches the file.

Before the bounds, A's two waits held both workers for the whole wait and
B's requests queued behind them. The assertions are on events, not on
timings: every one of B's requests is answered, with a client timeout far
below A's wait, while the wait A started before B's first request is still
holding its slot (so B was not served by a worker that A's wait released),
and while A's loops go on being answered.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import redis
import requests

from invoicing.services import pdf_wait
from tests.system.stack import Stack, wait_until

pytestmark = pytest.mark.system

# A's wait: long enough that a request served only after it would be plain
# to see, under gunicorn's 30-s worker timeout (which would kill the worker).
WAIT_S = 20
# Each of B's requests must be answered within this, far below WAIT_S.
B_TIMEOUT_S = 8
B_TAX_LISTS = 10
B_DOWNLOADS = 3


@pytest.fixture(scope="module")
def web_stack():
    deployment = Stack(WEB_CONCURRENCY=2, LOTUS_PDF_WAIT_SECONDS=WAIT_S)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        deployment.cleanup()


@dataclass
class Looper:
    """A's connections: each asks for its invoice's pdf_url again as soon as
    it is answered, until ``stop``."""

    stack: Stack
    key: str
    invoice_ids: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[requests.Response] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._loop, args=(invoice_id,), daemon=True)
            for invoice_id in self.invoice_ids
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def _loop(self, invoice_id: str) -> None:
        path = f"/api/invoices/invoice_{invoice_id.replace('-', '')}/pdf_url/"
        http = requests.Session()
        http.headers["X-API-KEY"] = self.key
        try:
            while not self.stop.is_set():
                response = http.get(self.stack.base_url + path, timeout=WAIT_S + 30)
                with self.lock:
                    self.answers.append(response)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=WAIT_S + 30)


def test_a_tenant_looping_on_pdf_url_does_not_starve_the_others(web_stack):
    stack = web_stack
    b = stack.tenant("tenant-b")
    api_b = stack.session(b)
    b_invoice = api_b.create_invoice(b.customer)["lago_id"]
    wait_until(
        lambda: stack.sql(
            "SELECT 1 FROM invoicing_pdfjob WHERE invoice_id = %s AND state = 'ready'", b_invoice
        ),
        timeout=60,
        what="B's PDF to be stored",
    )
    # From here on no PDF is rendered: A's jobs stay pending.
    stack.processes["pdf"].stop()

    a = stack.tenant("tenant-a")
    api_a = stack.session(a)
    a_invoices = [api_a.create_invoice(a.customer)["lago_id"] for _ in range(2)]
    slots = redis.Redis.from_url(stack.redis.url)
    a_slots = pdf_wait._slots_organization_key(a.organization_id)
    looper = Looper(stack, a.key, a_invoices)
    looper.start()
    try:
        # A holds a web worker in a wait, and its other connection is being
        # answered at once (no slot for it: 2 workers allow 1 wait in all).
        wait_until(lambda: slots.zcard(a_slots) == 1, timeout=30, what="A's wait to start")
        wait_until(lambda: looper.count() >= 5, timeout=30, what="A's loop to be answered")
        holder = set(slots.zrange(a_slots, 0, -1))
        answered_before_b = looper.count()

        for _ in range(B_TAX_LISTS):
            response = api_b.get("/api/v1/taxes", timeout=B_TIMEOUT_S)
            assert response.status_code == 200, response.text
        for _ in range(B_DOWNLOADS):
            response = api_b.post(f"/api/v1/invoices/{b_invoice}/download", timeout=B_TIMEOUT_S)
            assert response.status_code == 200, response.text
            file_url = response.json()["invoice"]["file_url"]
        pdf = requests.get(file_url, timeout=B_TIMEOUT_S)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

        # All of B was served while A's wait, begun before it, still held its
        # worker, and while A's loops were still being answered.
        assert set(slots.zrange(a_slots, 0, -1)) == holder, "A's wait ended during B's requests"
        assert all(thread.is_alive() for thread in looper.threads)
        assert looper.count() > answered_before_b
        assert not looper.errors, looper.errors
    finally:
        looper.stop.set()
        # Fail A's jobs, as already re-armed once (so that no request re-arms
        # one and waits again): the wait still running sees it at its next
        # re-check of the row (within a second) and answers, so the loops end.
        stack.sql(
            "UPDATE invoicing_pdfjob SET state = 'failed', rearmed_at = now()"
            " WHERE organization_id = %s RETURNING id",
            a.organization_id,
        )
        looper.join()

    assert not any(thread.is_alive() for thread in looper.threads)
    assert not looper.errors, looper.errors
    with looper.lock:
        answers = list(looper.answers)
    # Every answer A got before its jobs were failed is Lotus's not-ready
    # answer (the waits' and the refused ones' alike), never an error.
    not_ready = [r for r in answers if r.status_code == 200]
    assert len(not_ready) >= answered_before_b
    for response in not_ready:
        body = response.json()
        assert body["url"] is None and body["invoice_pdf"] is None
        assert int(response.headers["Retry-After"]) > 0
    # After the jobs were failed, the answer is Lotus's 503 pdf_generation_failed.
    others = [r for r in answers if r.status_code != 200]
    assert all(
        r.status_code == 503 and r.json()["title"] == "pdf_generation_failed" for r in others
    ), [(r.status_code, r.text[:200]) for r in others]


# A's month-end: invoices finalized while no PDF worker runs, so that all of
# them wait when B's one arrives.
MONTH_END = 300
BATCH = 20
PDF_PROCESSES = 2


def test_a_tenants_month_end_does_not_hold_another_tenants_pdf(web_stack):
    stack = web_stack
    worker = stack.processes["pdf"]
    if worker.alive:
        worker.stop()
    a = stack.tenant("month-end-a")
    with ThreadPoolExecutor(4) as pool:
        sessions = [stack.session(a) for _ in range(4)]
        list(pool.map(lambda n: sessions[n % 4].create_invoice(a.customer), range(MONTH_END)))
    b = stack.tenant("one-invoice-b")
    b_invoice = stack.session(b).create_invoice(b.customer)["lago_id"]
    # A's 300 jobs and their 15 messages were all queued before B's.
    assert stack.sql(
        "SELECT count(*) FROM invoicing_pdfjob WHERE organization_id = %s AND state = 'pending'",
        a.organization_id,
    ) == [(MONTH_END,)]

    worker.start()
    wait_until(
        lambda: stack.sql(
            "SELECT 1 FROM invoicing_pdfjob WHERE invoice_id = %s AND state = 'ready'", b_invoice
        ),
        timeout=120,
        what="B's PDF to be stored",
    )
    # By the rule B's job is dealt into the first batch claimed once it waits:
    # each of the 2 worker processes' first claims holds at most 20 of A's,
    # so at most 40 of A's PDFs can have been stored before B's. Before the
    # rule a message's own jobs were its batch, and B's came after all 300.
    [(before_b,)] = stack.sql(
        "SELECT count(*) FROM invoicing_pdfjob a, invoicing_pdfjob b"
        " WHERE b.invoice_id = %s AND a.organization_id = %s AND a.finished_at < b.finished_at",
        b_invoice,
        a.organization_id,
    )
    assert before_b <= PDF_PROCESSES * BATCH, f"{before_b} of A's PDFs were stored before B's"
    wait_until(
        lambda: stack.sql(
            "SELECT count(*) FROM invoicing_pdfjob WHERE organization_id = %s AND state = 'ready'",
            a.organization_id,
        )
        == [(MONTH_END,)],
        timeout=180,
        what="A's month-end to be stored",
    )
