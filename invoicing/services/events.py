"""Recording events for webhook delivery, in the caller's transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from invoicing.dispatch import DELIVER_WEBHOOK_TASK, send_on_commit
from invoicing.models import Invoice, WebhookDelivery, WebhookEndpoint, WebhookEvent
from invoicing.representations import lago


def invoice_payload(invoice: Invoice, event_type: str) -> dict:
    return invoice_payloads([invoice], event_type)[0]


def invoice_payloads(invoices: list[Invoice], event_type: str) -> list[dict]:
    return lago.invoice_webhook_payloads(invoices, event_type)


def event_record(*, invoice: Invoice, event_type: str) -> WebhookEvent:
    """Record ``event_type`` for ``invoice`` (see ``events_record``)."""
    return events_record(invoices=[invoice], event_type=event_type)[0]


def events_record(*, invoices: list[Invoice], event_type: str) -> list[WebhookEvent]:
    """Record ``event_type`` for each invoice and one pending delivery per
    enabled endpoint that wants it. Must run inside the transaction of the
    change it reports, so an event exists if and only if the change does.
    A fixed number of queries however many invoices (PDF batches)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_record must run inside the transaction of the change")
    if not invoices:
        return []
    events = WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                organization_id=invoice.organization_id,
                event_type=event_type,
                object_type="invoice",
                object_id=invoice.id,
                payload=payload,
            )
            for invoice, payload in zip(
                invoices, invoice_payloads(invoices, event_type), strict=True
            )
        ]
    )
    endpoints: dict = {}
    for endpoint in WebhookEndpoint.objects.filter(
        organization_id__in={i.organization_id for i in invoices}, enabled=True
    ):
        if endpoint.wants(event_type):
            endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
            for event in events
            for endpoint in endpoints.get(event.organization_id, ())
        ]
    )
    # The first attempt leaves as soon as the change commits; if the broker is down, the
    # webhooks sweep sends it instead.
    for delivery in deliveries:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk))
    return events
