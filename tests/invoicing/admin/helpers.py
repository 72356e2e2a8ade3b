"""Building PDF jobs and deliveries in given states for the admin tests."""

from __future__ import annotations

from unittest import mock

from django.db import transaction
from django.utils import timezone

from invoicing.models import Invoice, PdfJob, WebhookDelivery, WebhookEndpoint, WebhookEvent
from invoicing.services.events import event_record
from invoicing.services.pdf import pdf_job_run
from tests.factories import make_invoice


def invoice_without_job(organization, **kwargs) -> Invoice:
    # invoice_create requests the PDF itself; these tests need one without.
    with mock.patch("invoicing.services.invoices.invoice_pdf_request"):
        return make_invoice(organization, **kwargs)


def invoice_with_ready_pdf(organization, **kwargs) -> tuple[Invoice, PdfJob]:
    invoice = make_invoice(organization, **kwargs)
    job = PdfJob.objects.get(invoice=invoice, is_current=True)
    assert pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    job.refresh_from_db()
    return invoice, job


def invoice_with_failed_pdf(organization, **kwargs) -> tuple[Invoice, PdfJob]:
    invoice = make_invoice(organization, **kwargs)
    job = PdfJob.objects.get(invoice=invoice, is_current=True)
    PdfJob.objects.filter(pk=job.pk).update(
        state=PdfJob.State.FAILED, attempts=5, last_error="RenderError: boom"
    )
    job.refresh_from_db()
    return invoice, job


def failed_delivery(invoice: Invoice, url: str = "https://hooks.example.com/a") -> WebhookDelivery:
    WebhookEndpoint.objects.get_or_create(organization_id=invoice.organization_id, webhook_url=url)
    with transaction.atomic():
        event = event_record(invoice=invoice, event_type=WebhookEvent.EventType.INVOICE_CREATED)
    delivery = event.deliveries.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED,
        attempt_count=1,
        last_error="HTTP 503",
        last_status_code=503,
        next_attempt_at=None,
        last_attempt_at=timezone.now(),
    )
    delivery.attempts.create(
        attempt_number=1,
        started_at=timezone.now(),
        duration_ms=42,
        outcome="server_error",
        status_code=503,
        error="HTTP 503 from receiver",
        response_body=b"<h1>Service Unavailable</h1>",
        remote_ip="203.0.113.7",
    )
    delivery.refresh_from_db()
    return delivery
