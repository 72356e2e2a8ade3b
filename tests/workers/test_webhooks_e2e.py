"""Webhooks end to end: real PostgreSQL, real Redis, real Celery worker processes, receivers
on 127.0.0.1. Deliveries leave on commit, retries come back through the broker with the same
id, the sweep task re-sends what no message carries, a receiver that hangs holds one attempt
(a thread), not the PDFs or the other endpoints, a backlog goes out over kept-alive
connections, and a warm shutdown stops claiming at once and finishes what is out."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess

import pytest
from celery import current_app
from django.utils import timezone

from invoicing.models import PdfJob, WebhookDelivery, WebhookEndpoint
from tests.factories import make_invoice, make_organization
from tests.invoicing.webhooks.conftest import KeepAliveReceiver, RawServer, Receiver, Reply
from tests.invoicing.webhooks.scripted import ScriptedReceiver, hang
from tests.pdftext import wait_for
from tests.processes import Worker, flush_broker

pytestmark = pytest.mark.django_db(transaction=True)


def _endpoint(organization, url: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        organization=organization, webhook_url=url, event_types=["invoice.created"]
    )


def test_retries_come_back_through_the_broker_with_one_id():
    flush_broker()
    organization, _ = make_organization()
    receiver = ScriptedReceiver([Reply(500), Reply(500), Reply(200)])
    late = Receiver(Reply(200))
    try:
        # A tiny schedule: the retries' countdown nudges are what bring them back.
        with Worker("hooks-retry", concurrency=2, WEBHOOK_RETRY_SCHEDULE="0,0.3,0.3"):
            ep = _endpoint(organization, receiver.url)
            invoice = make_invoice(organization)
            delivery = WebhookDelivery.objects.get(endpoint=ep, event__object_id=invoice.id)
            wait_for(
                lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").exists(),
                timeout=20,
                interval=0.05,
            )

            # A due delivery no message carries (its message was lost): the sweep task,
            # sent by name as beat sends it, finds it and sends it.
            flush_broker()
            other = _endpoint(organization, late.url)
            stale = timezone.now() - dt.timedelta(minutes=5)
            orphan = WebhookDelivery.objects.create(
                event=delivery.event, endpoint=other, next_attempt_at=stale
            )
            WebhookDelivery.objects.filter(pk=orphan.pk).update(updated_at=stale)
            current_app.send_task("invoicing.webhooks.sweep")
            wait_for(
                lambda: WebhookDelivery.objects.filter(pk=orphan.pk, status="succeeded").exists(),
                timeout=20,
                interval=0.05,
            )
    finally:
        receiver.close()
        late.close()

    keys = [r.headers["X-Lago-Unique-Key"] for r in receiver.requests]
    assert keys == [str(delivery.pk)] * 3
    assert [r.headers["webhook-id"] for r in receiver.requests] == keys
    outcomes = list(delivery.attempts.values_list("attempt_number", "outcome"))
    assert outcomes == [(1, "server_error"), (2, "server_error"), (3, "success")]
    assert [r.headers["X-Lago-Unique-Key"] for r in late.requests] == [str(orphan.pk)]


def test_a_hanging_endpoint_delays_neither_other_endpoints_nor_pdfs():
    """Shown by events, not by a stopwatch: the other endpoint's deliveries and
    the PDFs all finish while the slow endpoint's first attempt is still
    hanging (its receiver lets go only when the test says so)."""
    flush_broker()
    organization, _ = make_organization()
    fast = Receiver(Reply(200))
    slow = RawServer(hang)
    try:
        # The Procfile's worker today: one worker, both queues, two processes;
        # an attempt deadline far longer than the test needs.
        with Worker("hooks-slow", concurrency=2, WEBHOOK_TIMEOUT_SECONDS=120):
            slow_ep = _endpoint(organization, slow.url)
            fast_ep = _endpoint(organization, fast.url)
            invoices = [make_invoice(organization) for _ in range(3)]
            fast_deliveries = WebhookDelivery.objects.filter(endpoint=fast_ep)
            wait_for(lambda: fast_deliveries.filter(status="succeeded").count() == 3, timeout=60)
            jobs = PdfJob.objects.filter(invoice__in=invoices, state="ready")
            wait_for(lambda: jobs.count() == 3, timeout=60, interval=0.05)

            # All that while, the slow endpoint's first attempt hung: one
            # delivery in flight with no attempt recorded yet, two waiting
            # their turn (a new endpoint's window is one attempt, and it only
            # widens with fast answers).
            slow_deliveries = WebhookDelivery.objects.filter(endpoint=slow_ep)
            assert slow.connections == 1
            assert slow_deliveries.filter(status="sending").count() == 1
            assert slow_deliveries.filter(status="pending", attempt_count=0).count() == 2
            assert not slow_deliveries.filter(attempts__isnull=False).exists()

            slow.close()  # the receiver lets go: the attempt ends, as a failure
            first_slow = wait_for(
                lambda: slow_deliveries.filter(attempts__isnull=False).first(), timeout=60
            )
    finally:
        fast.close()
        slow.close()

    assert first_slow.attempts.get().outcome != "success"
    assert len(fast.requests) == 3


def test_a_backlog_goes_out_over_kept_alive_connections():
    flush_broker()
    organization, _ = make_organization()
    receiver = KeepAliveReceiver()
    try:
        with Worker("hooks-backlog", queues="webhooks", concurrency=2):
            ep = _endpoint(organization, receiver.url)
            invoices = [make_invoice(organization) for _ in range(30)]
            deliveries = WebhookDelivery.objects.filter(endpoint=ep)
            wait_for(lambda: deliveries.filter(status="succeeded").count() == 30, timeout=60)
    finally:
        receiver.close()
    assert sorted(receiver.ids) == sorted(str(d.pk) for d in deliveries)
    # One connection per attempt in flight at most (the window), not one per delivery.
    assert receiver.connections <= 16
    assert len(invoices) == 30


def test_a_warm_shutdown_stops_claiming_and_finishes_the_attempt_out():
    """The worker is told to stop while its delivery task holds a hanging attempt and has a
    claiming budget of ten minutes: it claims nothing more (a delivery made after the
    signal stays untouched), the hanging attempt runs to its deadline and is recorded, and
    the worker exits well within the budget."""
    flush_broker()
    organization, _ = make_organization()
    slow = RawServer(hang)
    fast = Receiver(Reply(200))
    try:
        worker = Worker(
            "hooks-stop", queues="webhooks", concurrency=1,
            WEBHOOK_TIMEOUT_SECONDS=3, WEBHOOK_PUMP_SECONDS=600,
        ).start()  # fmt: skip
        try:
            ep = _endpoint(organization, slow.url)
            first = make_invoice(organization)
            held = WebhookDelivery.objects.get(endpoint=ep, event__object_id=first.id)
            wait_for(lambda: slow.connections == 1, timeout=30, interval=0.05)
            logged = worker.log_path.stat().st_size
            os.kill(worker.proc.pid, signal.SIGTERM)
            wait_for(lambda: b"no more claims" in worker.log_path.read_bytes()[logged:], timeout=30)
            other = _endpoint(organization, fast.url)
            second = make_invoice(organization)
            late = WebhookDelivery.objects.get(endpoint=other, event__object_id=second.id)
            try:
                worker.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail("the worker did not stop within a minute of a ten-minute budget")
        finally:
            worker.stop()
    finally:
        slow.close()
        fast.close()
    held.refresh_from_db()
    late.refresh_from_db()
    assert list(held.attempts.values_list("outcome", flat=True)) == ["timeout"]
    assert late.status == "pending" and late.attempt_count == 0
