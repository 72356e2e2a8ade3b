"""Recording events for webhook delivery, in the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from invoicing.dispatch import DELIVER_WEBHOOK_TASK, send_on_commit
from invoicing.models import Invoice, WebhookDelivery, WebhookEndpoint, WebhookEvent
from invoicing.representations import lago

if TYPE_CHECKING:
    from invoicing.services.invoices import Writes


def invoice_payload(invoice: Invoice, event_type: str) -> dict:
    return invoice_payloads([invoice], event_type)[0]


def invoice_payloads(invoices: list[Invoice], event_type: str) -> list[dict]:
    return lago.invoice_webhook_payloads(invoices, event_type)


def event_record(
    *,
    invoice: Invoice,
    event_type: str,
    writes: Writes | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> WebhookEvent:
    """Record ``event_type`` for ``invoice`` (see ``events_record``)."""
    return events_record(
        invoices=[invoice], event_type=event_type, writes=writes, endpoints=endpoints
    )[0]


def events_record(
    *,
    invoices: list[Invoice],
    event_type: str,
    writes: Writes | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookEvent]:
    """Record ``event_type`` for each invoice and one pending delivery per
    enabled endpoint that wants it. Must run inside the transaction of the
    change it reports, so an event exists if and only if the change does.
    A fixed number of queries however many invoices (PDF batches).

    With ``writes`` (``invoices.Writes``), the rows go with the change's other
    writes, in its round trip, instead of being inserted here. ``endpoints``,
    when the caller has read them already: every enabled endpoint of the
    invoices' organizations (which ones want the event is decided here)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_record must run inside the transaction of the change")
    if not invoices:
        return []
    events = [
        WebhookEvent(
            organization_id=invoice.organization_id,
            event_type=event_type,
            object_type="invoice",
            object_id=invoice.id,
            payload=payload,
        )
        for invoice, payload in zip(invoices, invoice_payloads(invoices, event_type), strict=True)
    ]
    if endpoints is None:
        endpoints = WebhookEndpoint.objects.filter(
            organization_id__in={i.organization_id for i in invoices}, enabled=True
        )
    wanting: dict = {}
    for endpoint in endpoints:
        if endpoint.wants(event_type):
            wanting.setdefault(endpoint.organization_id, []).append(endpoint)
    now = timezone.now()
    deliveries = [
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for event in events
        for endpoint in wanting.get(event.organization_id, ())
    ]
    if writes is None:
        WebhookEvent.objects.bulk_create(events)
        WebhookDelivery.objects.bulk_create(deliveries)
    else:
        writes.insert(events)
        writes.insert(deliveries)
    # The first attempt leaves as soon as the change commits; if the broker is down, the
    # webhooks sweep sends it instead.
    for delivery in deliveries:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk))
    return events


def credit_note_events_record(*, credit_notes: list, event_type: str) -> list[WebhookEvent]:
    """Record ``event_type`` (``credit_note.*``) for each credit note and one
    pending delivery per enabled endpoint that wants it, in the caller's
    transaction, as ``events_record`` does for invoices."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events must be recorded inside the transaction of the change")
    if not credit_notes:
        return []
    events = [
        WebhookEvent(
            organization_id=note.organization_id,
            event_type=event_type,
            object_type="credit_note",
            object_id=note.id,
            payload=lago.credit_note_webhook_payload(note, event_type),
        )
        for note in credit_notes
    ]
    endpoints = WebhookEndpoint.objects.filter(
        organization_id__in={n.organization_id for n in credit_notes}, enabled=True
    )
    now = timezone.now()
    deliveries = [
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for event in events
        for endpoint in endpoints
        if endpoint.organization_id == event.organization_id and endpoint.wants(event_type)
    ]
    WebhookEvent.objects.bulk_create(events)
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        send_on_commit(DELIVER_WEBHOOK_TASK, str(delivery.pk))
    return events
