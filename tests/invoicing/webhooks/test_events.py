"""Every event type is produced by the change it reports, with Lago's payload, and each of
its deliveries is nudged to the broker once the change commits."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client

from invoicing.dispatch import DELIVER_WEBHOOK_TASK
from invoicing.models import Invoice, PdfJob, WebhookDelivery, WebhookEvent
from invoicing.services import invoices, pdf, webhooks
from tests.factories import make_invoice

from .scripted import endpoint

pytestmark = pytest.mark.django_db

BASE_FIELDS = [
    "lago_id", "billing_entity_code", "sequential_id", "number", "purchase_order_number",
    "issuing_date", "payment_due_date", "net_payment_term", "invoice_type", "status",
    "payment_status", "payment_dispute_lost_at", "payment_overdue", "currency",
    "fees_amount_cents", "taxes_amount_cents", "progressive_billing_credit_amount_cents",
    "coupons_amount_cents", "credit_notes_amount_cents",
    "sub_total_excluding_taxes_amount_cents", "sub_total_including_taxes_amount_cents",
    "total_amount_cents", "total_due_amount_cents", "total_paid_amount_cents",
    "total_offsetted_credit_note_amount_cents", "prepaid_credit_amount_cents",
    "prepaid_granted_credit_amount_cents", "prepaid_purchased_credit_amount_cents",
    "file_url", "xml_url", "web_url", "version_number", "self_billed", "created_at",
    "updated_at", "voided_at",
]  # fmt: skip
CUSTOMER_REQUIRED = ["lago_id", "external_id", "created_at", "updated_at", "applicable_timezone"]


def _events(invoice: Invoice) -> list[str]:
    return list(
        WebhookEvent.objects.filter(object_id=invoice.id)
        .order_by("created_at")
        .values_list("event_type", flat=True)
    )


def _body(delivery: WebhookDelivery, receiver) -> dict:
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    return json.loads(receiver.requests[-1].body)


def test_each_change_records_its_event_and_only_then(organization, receiver_factory):
    receiver = receiver_factory()
    ep = endpoint(organization, receiver.url)
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    assert _events(draft) == []

    invoice = invoices.invoice_finalize(invoice=draft)
    assert _events(invoice) == ["invoice.created"]  # the PDF is not stored yet

    job = PdfJob.objects.get(invoice=invoice, is_current=True)
    with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=OSError("disk full")):
        pdf.pdf_job_run(job_id=str(job.pk))
    assert _events(invoice) == ["invoice.created"]  # a failed render produced no PDF
    PdfJob.objects.filter(pk=job.pk).update(available_at=None)
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    assert _events(invoice) == ["invoice.created", "invoice.generated"]

    invoices.invoice_update(invoice=invoice, payment_status="succeeded")
    invoices.invoice_update(invoice=invoice, payment_status="succeeded")  # no change, no event
    invoices.invoice_void(invoice=invoice)
    assert _events(invoice) == [
        "invoice.created",
        "invoice.generated",
        "invoice.payment_status_updated",
        "invoice.voided",
    ]
    deliveries = WebhookDelivery.objects.filter(endpoint=ep, event__object_id=invoice.id)
    assert deliveries.count() == 4

    for event_type in _events(invoice):
        payload = _body(deliveries.get(event__event_type=event_type), receiver)
        assert payload["webhook_type"] == event_type
        assert payload["object_type"] == "invoice"
        assert payload["organization_id"] == str(organization.id)
        assert list(payload["invoice"]) == [*BASE_FIELDS, "customer"]
        assert set(CUSTOMER_REQUIRED) <= set(payload["invoice"]["customer"])
        assert payload["invoice"]["lago_id"] == str(invoice.id)
    voided = _body(deliveries.get(event__event_type="invoice.voided"), receiver)
    assert voided["invoice"]["status"] == "voided"
    paid = _body(deliveries.get(event__event_type="invoice.payment_status_updated"), receiver)
    assert paid["invoice"]["payment_status"] == "succeeded"


def test_generated_carries_a_fresh_working_file_url(organization, receiver_factory):
    receiver = receiver_factory()
    ep = endpoint(organization, receiver.url)
    invoice = make_invoice(organization)
    created = WebhookDelivery.objects.get(endpoint=ep, event__event_type="invoice.created")
    assert _body(created, receiver)["invoice"]["file_url"] is None  # no PDF yet

    job = PdfJob.objects.get(invoice=invoice, is_current=True)
    pdf.pdf_job_run(job_id=str(job.pk))
    generated = WebhookDelivery.objects.get(endpoint=ep, event__event_type="invoice.generated")
    assert generated.event.payload["invoice"]["file_url"] is None  # URLs expire: none stored
    file_url = _body(generated, receiver)["invoice"]["file_url"]
    assert file_url.startswith(settings.PUBLIC_BASE_URL + "/files/invoices/")
    response = Client().get(file_url.removeprefix(settings.PUBLIC_BASE_URL))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_endpoints_receive_only_the_event_types_they_want(organization):
    everything = endpoint(organization, "https://a.example.com/h")
    voids = endpoint(organization, "https://b.example.com/h", event_types=["invoice.voided"])
    disabled = endpoint(organization, "https://c.example.com/h", enabled=False)
    invoice = invoices.invoice_void(invoice=make_invoice(organization))
    delivered = WebhookDelivery.objects.filter(event__object_id=invoice.id)
    assert set(
        delivered.filter(endpoint=everything).values_list("event__event_type", flat=True)
    ) == {
        "invoice.created",
        "invoice.voided",
    }
    assert list(delivered.filter(endpoint=voids).values_list("event__event_type", flat=True)) == [
        "invoice.voided"
    ]
    assert not delivered.filter(endpoint=disabled).exists()


def test_each_delivery_is_nudged_after_commit_and_not_before(
    organization, django_capture_on_commit_callbacks
):
    endpoint(organization, "https://a.example.com/h")
    endpoint(organization, "https://b.example.com/h")
    with mock.patch("invoicing.dispatch.current_app") as app:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            invoice = make_invoice(organization)
        assert not app.send_task.called  # nothing leaves before the commit
        for callback in callbacks:
            callback()
    deliveries = {
        str(pk)
        for pk in WebhookDelivery.objects.filter(event__object_id=invoice.id).values_list(
            "pk", flat=True
        )
    }
    calls = app.send_task.call_args_list
    messages = [c.kwargs["args"][0] for c in calls if c.args[0] == DELIVER_WEBHOOK_TASK]
    # One wake-up for the transaction, naming each of its deliveries.
    assert len(messages) == 1
    assert len(deliveries) == 2 and sorted(messages[0]) == sorted(deliveries)
