"""Recording events for webhook delivery, in the caller's transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from invoicing.dispatch import DELIVER_WEBHOOK_TASK, send_on_commit
from invoicing.models import Invoice, WebhookDelivery, WebhookEndpoint, WebhookEvent


def invoice_payload(invoice: Invoice, event_type: str) -> dict:
    # Imported here: the Lago face's serializers are the payload's one
    # definition, and they import the models this module is loaded with.
    from invoicing.api.lago.serializers import CustomerOutput, InvoiceBaseOutput

    body = dict(InvoiceBaseOutput(invoice).data)
    body["customer"] = CustomerOutput(invoice.customer).data
    return {
        "webhook_type": event_type,
        "object_type": "invoice",
        "organization_id": str(invoice.organization_id),
        "invoice": body,
    }


def event_record(*, invoice: Invoice, event_type: str) -> WebhookEvent:
    """Record ``event_type`` for ``invoice`` and one pending delivery per
    enabled endpoint that wants it. Must run inside the transaction of the
    change it reports, so the event exists if and only if the change does."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must run inside the transaction of the change")
    event = WebhookEvent.objects.create(
        organization_id=invoice.organization_id,
        event_type=event_type,
        object_type="invoice",
        object_id=invoice.id,
        payload=invoice_payload(invoice, event_type),
    )
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(
            organization_id=invoice.organization_id, enabled=True
        )
        if e.wants(event_type)
    ]
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, endpoint=e, next_attempt_at=now) for e in endpoints]
    )
    # The first attempt leaves as soon as the change commits; if the broker is down, the
    # webhooks sweep sends it instead.
    for delivery in deliveries:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk))
    return event
