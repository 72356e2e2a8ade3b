"""Faults against the whole deployment (tests/system/stack.py): workers
killed mid-render and mid-delivery, a warm shutdown under load, Redis and
PostgreSQL restarted under work, the broker down at finalization. Each test
then waits for recovery and checks the README's promises on the database and
the object store (``Stack.reconcile``): every requested PDF ready and stored
exactly once, every event delivered at least once under one id, no job left
behind, no duplicate number."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.system.stack import WebhookReceiver, wait_until

pytestmark = pytest.mark.system


@pytest.fixture
def receivers():
    pair = [WebhookReceiver(), WebhookReceiver()]
    yield pair
    for receiver in pair:
        receiver.close()


def _long_invoice(api, customer: str, fees: int = 4000) -> dict:
    body = {
        "invoice": {
            "external_customer_id": customer,
            "fees": [
                {"add_on_code": "service", "units": 1 + i % 7, "description": f"Line {i}"}
                for i in range(fees)
            ],
        }
    }
    response = api.post("/api/v1/invoices", json=body, timeout=120)
    assert response.status_code == 200, response.text[:500]
    return response.json()["invoice"]


def _job_state(stack, invoice_id: str) -> str | None:
    rows = stack.sql(
        "SELECT state FROM invoicing_pdfjob WHERE invoice_id = %s AND is_current", invoice_id
    )
    return rows[0][0] if rows else None


def _rendering_job(stack, tenant) -> str | None:
    rows = stack.sql(
        "SELECT invoice_id::text FROM invoicing_pdfjob WHERE organization_id = %s"
        " AND state = 'rendering'",
        tenant.organization_id,
    )
    return rows[0][0] if rows else None


def _start_long_render(stack, tenant, api) -> tuple[threading.Thread, str]:
    """Create a 4,000-fee invoice and return once its render is under way.
    The job is committed, and often rendered, before the create's answer is
    written: the database is watched while the request is in flight."""
    creating = threading.Thread(target=_long_invoice, args=(api, tenant.customer), daemon=True)
    creating.start()
    invoice_id = wait_until(
        lambda: _rendering_job(stack, tenant), timeout=60, what="the render to start", every=0.01
    )
    return creating, invoice_id


def test_a_quiet_run_reconciles(live_stack, receivers):
    """The baseline the fault tests depart from: no fault, everything settles."""
    tenant = live_stack.tenant("quiet", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    created = [api.create_invoice(tenant.customer) for _ in range(5)]
    # Two of them credited (12,500 each, no tax): credit notes of their own.
    for invoice in created[:2]:
        fee_id = invoice["fees"][0]["lago_id"]
        response = api.post("/api/v1/credit_notes", json={"credit_note": {
            "invoice_id": invoice["lago_id"], "credit_amount_cents": 2_500,
            "items": [{"fee_id": fee_id, "amount_cents": 2_500}]}})  # fmt: skip
        assert response.status_code == 200, response.text
    counts = live_stack.reconcile(tenant, receivers)
    # invoice.created and invoice.generated for each invoice, credit_note.created
    # and credit_note.generated for each credit note, to both endpoints.
    assert (counts["invoices"], counts["credit_notes"]) == (5, 2)
    assert counts["events"] == 14
    assert counts["deliveries"] == 28


def test_sigkill_the_pdf_worker_mid_render(live_stack, receivers):
    tenant = live_stack.tenant("kill-render", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    creating, invoice_id = _start_long_render(live_stack, tenant, api)
    live_stack.processes["pdf"].kill()
    # It died holding the job: nothing finished it, nothing was stored.
    assert _job_state(live_stack, invoice_id) == "rendering"
    assert live_stack.stored_files(tenant.organization_id) == {}
    creating.join(timeout=120)
    live_stack.processes["pdf"].start()
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 1
    attempts = live_stack.sql(
        "SELECT attempts FROM invoicing_pdfjob WHERE invoice_id = %s", invoice_id
    )
    assert attempts == [(2,)], "the lost attempt counts, the second one finished"


def test_sigkill_the_webhook_worker_mid_delivery(live_stack, receivers):
    slow, other = receivers
    tenant = live_stack.tenant("kill-hook", webhook_urls=(slow.url, other.url))
    api = live_stack.session(tenant)
    slow.hold.set()
    invoice = api.create_invoice(tenant.customer)
    assert slow.arrived.wait(timeout=30), "the delivery never reached the receiver"
    live_stack.processes["webhooks"].kill()
    # The receiver took the request, but its answer reaches nobody: the
    # delivery is still "sending" in the database.
    slow.hold.clear()
    slow.released.set()
    wait_until(lambda: slow.received, timeout=10, what="the held request to finish")
    first = slow.received[0]
    sending = live_stack.sql(
        "SELECT status, attempt_count FROM invoicing_webhookdelivery WHERE id = %s",
        first.delivery_id,
    )
    assert sending == [("sending", 1)]
    live_stack.processes["webhooks"].start()
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 1
    # At least once, under one id: the lost attempt is sent again as itself.
    assert slow.ids().count(first.delivery_id) == 2
    assert (first.webhook_type, first.object_id) == ("invoice.created", invoice["lago_id"])
    row = live_stack.sql(
        "SELECT status, attempt_count FROM invoicing_webhookdelivery WHERE id = %s",
        first.delivery_id,
    )
    assert row == [("succeeded", 2)]


def test_sigterm_the_pdf_worker_under_load(live_stack, receivers):
    tenant = live_stack.tenant("term-render", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    worker = live_stack.processes["pdf"]
    # A backlog that outlasts the polling: 60 invoices of 200 fees (~30 ms of
    # render each) queued while the worker is away, then let loose on it. On
    # a fast machine one-page invoices were all rendered before the first look.
    worker.stop()
    for _ in range(60):
        _long_invoice(api, tenant.customer, fees=200)
    worker.start()
    wait_until(
        lambda: _rendering_job(live_stack, tenant), timeout=30, what="renders under way", every=0.01
    )
    worker.signal(signal.SIGTERM)
    # A warm shutdown finishes the renders it holds and gives back the rest.
    assert worker.proc.wait(timeout=60) == 0, worker.log_tail()
    states = dict(
        live_stack.sql(
            "SELECT state, count(*) FROM invoicing_pdfjob WHERE organization_id = %s GROUP BY 1",
            tenant.organization_id,
        )
    )
    assert "rendering" not in states, f"a warm shutdown abandoned renders: {states}"
    assert "Warm shutdown" in worker.log_since_start()
    worker.start()
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 60
    once = live_stack.sql(
        "SELECT count(*) FROM invoicing_pdfjob WHERE organization_id = %s AND attempts = 1",
        tenant.organization_id,
    )
    assert once == [(60,)], "a render was lost or repeated across the shutdown"


def test_restart_redis_with_jobs_queued_and_running(live_stack, receivers):
    tenant = live_stack.tenant("redis", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    worker = live_stack.processes["pdf"]
    # A backlog that is still queued when a render is seen under way (see the
    # SIGTERM test above).
    worker.stop()
    for _ in range(80):
        _long_invoice(api, tenant.customer, fees=100)
    worker.start()
    wait_until(
        lambda: _rendering_job(live_stack, tenant), timeout=30, what="renders under way", every=0.01
    )
    # Redis keeps nothing on disk: every queued message is lost with it.
    live_stack.redis.stop()
    # The API keeps taking invoices while the broker is away.
    during = [api.create_invoice(tenant.customer) for _ in range(5)]
    assert all(invoice["number"] for invoice in during)
    time.sleep(2)
    live_stack.redis.start()
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 85
    for name, process in live_stack.processes.items():
        assert process.alive, f"{name} did not survive the broker restart"


def test_restart_postgresql_while_a_job_runs(live_stack, receivers):
    tenant = live_stack.tenant("postgres", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    creating, invoice_id = _start_long_render(live_stack, tenant, api)
    creating.join(timeout=120)
    live_stack.pg.stop("fast")
    # While it is down, both faces say so in their own format: nothing was
    # written, send it again (not a 500, which says the request was wrong).
    lago = api.get("/api/v1/invoices")
    assert (lago.status_code, lago.json()) == (
        503,
        {"status": 503, "error": "Service Unavailable", "code": "service_unavailable"},
    )
    lotus = api.get("/api/invoices/", headers={"X-API-KEY": tenant.key, "Authorization": None})
    assert lotus.status_code == 503 and lotus.json()["title"] == "service_unavailable"
    assert lago.headers["Retry-After"] == lotus.headers["Retry-After"] == "2"
    live_stack.pg.start()
    # Persistent connections died with the server: the next requests must
    # notice and reconnect, not answer 500.
    statuses = [api.get("/api/v1/invoices").status_code for _ in range(10)]
    assert statuses == [200] * 10
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 1
    attempts = live_stack.sql(
        "SELECT attempts FROM invoicing_pdfjob WHERE invoice_id = %s", invoice_id
    )
    assert attempts[0][0] in (1, 2)
    for name, process in live_stack.processes.items():
        assert process.alive, f"{name} did not survive the database restart"


def test_broker_down_when_invoices_are_finalized(live_stack, receivers):
    tenant = live_stack.tenant("finalize", webhook_urls=tuple(r.url for r in receivers))
    api = live_stack.session(tenant)
    drafts = [api.create_invoice(tenant.customer, draft=True) for _ in range(3)]
    live_stack.redis.stop()
    numbers = []
    for draft in drafts:
        response = api.request("PUT", f"/api/v1/invoices/{draft['lago_id']}/finalize")
        assert response.status_code == 200, response.text
        numbers.append(response.json()["invoice"]["number"])
    # The rows are the truth: jobs wait for the broker, nothing is lost.
    pending = live_stack.sql(
        "SELECT count(*) FROM invoicing_pdfjob WHERE organization_id = %s AND state = 'pending'",
        tenant.organization_id,
    )
    assert pending == [(3,)]
    live_stack.redis.start()
    counts = live_stack.reconcile(tenant, receivers)
    assert counts["invoices"] == 3
    assert len(set(numbers)) == 3
