"""Credit notes in the admin (their list, their page with the PDF's first
page, inline on the invoice, the void action through the service) and on
the operations page (their jobs counted, the oldest waiting one linked)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from invoicing.models import PdfJob
from invoicing.ops import stats
from invoicing.services import credit_notes as cn
from invoicing.services import pdf
from tests.factories import make_invoice, make_organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def note():
    organization, _ = make_organization()
    invoice = make_invoice(organization)  # one 100.00 EUR fee, no tax
    fee = invoice.fees.get()
    return cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[cn.ItemInput(str(fee.pk), Decimal(2_500))],
        credit_amount_cents=2_500,
    )


def test_list_page_preview_and_invoice_inline(staff_client, note):
    listed = staff_client.get(reverse("admin:invoicing_creditnote_changelist"))
    assert listed.status_code == 200 and note.number in listed.content.decode()
    page = staff_client.get(reverse("admin:invoicing_creditnote_change", args=[note.pk]))
    assert "the current version is <strong>pending</strong>" in page.content.decode()
    job = PdfJob.objects.get(credit_note=note)
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    page = staff_client.get(reverse("admin:invoicing_creditnote_change", args=[note.pk]))
    preview = reverse("admin:invoicing_creditnote_preview", args=[note.pk, job.pk])
    assert preview in page.content.decode()
    png = staff_client.get(preview)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    stored = staff_client.get(reverse("admin:invoicing_creditnote_pdf", args=[note.pk, job.pk]))
    assert b"".join(stored.streaming_content).startswith(b"%PDF")
    invoice_page = staff_client.get(
        reverse("admin:invoicing_invoice_change", args=[note.invoice_id])
    )
    assert invoice_page.status_code == 200 and note.number in invoice_page.content.decode()


def test_the_void_action_goes_through_the_service(staff_client, note):
    staff_client.post(
        reverse("admin:invoicing_creditnote_changelist"),
        {"action": "void_credit_action", "_selected_action": [str(note.pk)]},
    )
    note.refresh_from_db()
    assert (note.credit_status, note.balance_amount_cents) == ("voided", 0)
    # A new PDF version says so.
    assert PdfJob.objects.filter(credit_note=note, is_current=True).get().version == 2


def test_the_operations_page_counts_credit_note_jobs(staff_client, note):
    # The invoice's own PDF rendered: the credit note's is the one waiting.
    [invoice_job] = PdfJob.objects.filter(invoice=note.invoice)
    assert pdf.pdf_job_run(job_id=str(invoice_job.pk)).outcome == "ready"
    snapshot = stats.ops_snapshot(with_workers=False)
    assert snapshot.credit_note_pdf_states == {"pending": 1}
    # The only waiting job is the credit note's, linked to its page.
    assert snapshot.oldest_pending_job.credit_note_id == note.pk
    page = staff_client.get("/admin/ops/")
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("admin:invoicing_creditnote_change", args=[note.pk]) in body
    assert "Of which credit notes (current versions):" in body and "pending 1" in body
