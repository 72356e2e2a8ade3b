"""Delivery as the webhook worker does it (``webhook_deliveries_pump``) against receivers on
127.0.0.1: claims in batches, kept-alive connections, and one organization's hanging
endpoints not holding back another organization's delivery."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from invoicing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from invoicing.services import webhooks
from invoicing.webhooks.pump import Stop
from tests.factories import make_invoice, make_organization
from tests.pdftext import wait_for

from .scripted import endpoint

S = WebhookDelivery.Status


@pytest.fixture
def sent(monkeypatch):
    """Wake-up messages the service sends (their delivery ids)."""
    messages: list[list[str]] = []
    monkeypatch.setattr(webhooks, "send", lambda task, ids, **kw: messages.append(ids))
    return messages


def _due_now(deliveries) -> None:
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now()
    )


@pytest.mark.django_db
def test_a_backlog_goes_out_in_batches_over_kept_alive_connections(keepalive_factory, sent):
    organization, _ = make_organization()
    receiver = keepalive_factory()
    ep = endpoint(organization, receiver.url)
    invoices = [make_invoice(organization) for _ in range(40)]
    deliveries = WebhookDelivery.objects.filter(endpoint=ep)
    assert deliveries.count() == 40

    report = webhooks.webhook_deliveries_pump(budget_s=60)

    assert report.stopped is Stop.IDLE and report.attempts == 40
    assert set(deliveries.values_list("status", flat=True)) == {S.SUCCEEDED}
    assert Counter(receiver.ids) == Counter(str(d.pk) for d in deliveries)
    # Kept alive: at most one connection per attempt in flight, far fewer than attempts.
    assert receiver.connections <= 16
    # Claimed in batches: attempts claimed together share their start.
    claims = Counter(WebhookDeliveryAttempt.objects.filter(delivery__in=deliveries).values_list(
        "started_at", flat=True
    ))  # fmt: skip
    assert max(claims.values()) > 1 and len(claims) < 40
    assert len(invoices) == 40


@pytest.mark.django_db(transaction=True)
def test_hanging_endpoints_do_not_hold_back_another_organizations_delivery(
    keepalive_factory, sent, settings
):
    """Organization A's three endpoints hang (their receiver holds every request until the
    test lets go); B's delivery becomes due while A's attempts are out. B is delivered, and
    recorded, while all three of A's attempts are still held: the order of events is the
    assertion, there is no stopwatch."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 60
    tarpit = keepalive_factory()
    tarpit.gate = threading.Event()
    fast = keepalive_factory()
    a, _ = make_organization()
    b, _ = make_organization()
    a_endpoints = [endpoint(a, f"{tarpit.url}?{n}") for n in range(3)]
    for _ in range(2):
        make_invoice(a)
    b_endpoint = endpoint(b, fast.url)
    make_invoice(b)
    b_delivery = WebhookDelivery.objects.get(endpoint=b_endpoint)
    later = timezone.now() + dt.timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=b_delivery.pk).update(next_attempt_at=later)

    reports = []

    def deliver() -> None:
        try:
            reports.append(webhooks.webhook_deliveries_pump(budget_s=60))
        finally:
            connection.close()

    worker = threading.Thread(target=deliver)
    worker.start()
    try:
        # A's endpoints are new: one attempt each in flight, all three held.
        tarpit.wait_for(lambda r: r.in_progress == 3)
        _due_now([b_delivery])
        fast.wait_for(lambda r: len(r.ids) == 1)
        recorded = WebhookDeliveryAttempt.objects.filter(delivery=b_delivery)
        wait_for(recorded.exists, timeout=30, interval=0.02)
        assert tarpit.in_progress == 3 and not tarpit.gate.is_set()
        a_deliveries = WebhookDelivery.objects.filter(endpoint__in=a_endpoints)
        assert a_deliveries.filter(status=S.SENDING).count() == 3
        assert not WebhookDeliveryAttempt.objects.filter(delivery__in=a_deliveries).exists()
        assert fast.ids == [str(b_delivery.pk)]
    finally:
        tarpit.gate.set()
        worker.join(60)
    assert reports and reports[0].stopped is Stop.IDLE
    assert set(
        WebhookDelivery.objects.filter(endpoint__organization=a).values_list("status", flat=True)
    ) == {S.SUCCEEDED}


@pytest.mark.django_db
@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_every_endpoint_with_due_deliveries_comes_up_in_turn(vendor, monkeypatch):
    """The claim looks at a bounded number of endpoints at a time (the PostgreSQL scan goes
    on from where the last one stopped); disabled endpoints and deliveries not yet due are
    not among them. Both ways of finding them agree."""
    monkeypatch.setattr(webhooks, "CLAIM_SCAN", 2)
    monkeypatch.setattr(webhooks.connection, "vendor", vendor)
    organization, _ = make_organization()
    due = [endpoint(organization, f"https://{n}.example.com/h") for n in range(5)]
    later = endpoint(organization, "https://later.example.com/h")
    disabled = endpoint(organization, "https://off.example.com/h")
    make_invoice(organization)
    WebhookDelivery.objects.filter(endpoint=later).update(
        next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(enabled=False)
    state = webhooks._process()
    state.scan_after = None
    seen = set()
    for _ in range(3):
        found = webhooks._due_endpoints(timezone.now(), state)
        seen |= {d.endpoint_id for d in found}
    assert seen == {ep.pk for ep in due}
