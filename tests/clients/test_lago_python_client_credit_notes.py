"""lago-python-client 1.55.0's ``credit_notes.*``, unchanged, against a live
server: create, find, find_all, update, void, download, estimate, and the
invoice's void with a credit note; its pydantic models parse every answer."""

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.credit_note import (
    CreditNote,
    CreditNoteEstimate,
    CreditNoteUpdate,
    Item,
    Items,
)

from invoicing.models import PdfJob
from invoicing.services import pdf
from invoicing.services.invoices import FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_organization, make_tax

pytestmark = pytest.mark.django_db(transaction=True)


def test_credit_notes_through_the_client(live_server):
    organization, key = make_organization(name="Client CN Co")
    client = Client(api_key=key, api_url=live_server.url)
    tax = make_tax(organization, "vat", "20")
    customer = make_customer(organization, "cn-client", currency="EUR")
    make_add_on(organization, "seat", 10_000, taxes=[tax])
    invoice = make_invoice(organization, customer, fees=[FeeInput(add_on_code="seat")])
    fee = invoice.fees.get()
    items = Items(__root__=[Item(fee_id=str(fee.pk), amount_cents=2_500)])

    # 25.00 + 20 % = 30.00 (CreditNotes::ApplyTaxesService); nothing paid, no refund.
    estimate = client.credit_notes.estimate(
        CreditNoteEstimate(invoice_id=str(invoice.pk), items=items)
    )
    assert (estimate.max_creditable_amount_cents, estimate.max_refundable_amount_cents) == (
        3_000,
        0,
    )
    assert estimate.applied_taxes.__root__[0].amount_cents == 500

    created = client.credit_notes.create(
        CreditNote(invoice_id=str(invoice.pk), reason="order_change", credit_amount_cents=3_000,
                   items=items)
    )  # fmt: skip
    assert created.number == f"{invoice.number}-CN001"
    assert (created.total_amount_cents, created.taxes_amount_cents) == (3_000, 500)
    assert created.items.__root__[0].fee.lago_id == str(fee.pk)
    assert created.customer.external_id == "cn-client"

    assert client.credit_notes.find(created.lago_id).number == created.number
    page = client.credit_notes.find_all({"external_customer_id": "cn-client"})
    assert [n.lago_id for n in page["credit_notes"]] == [created.lago_id]
    assert page["meta"]["total_count"] == 1

    updated = client.credit_notes.update(
        CreditNoteUpdate(refund_status="succeeded"), created.lago_id
    )
    assert updated.refund_status == "succeeded"

    # No PDF yet: queued, and the client returns None.
    assert client.credit_notes.download(created.lago_id) is None
    job = PdfJob.objects.get(credit_note_id=created.lago_id, is_current=True)
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    downloaded = client.credit_notes.download(created.lago_id)
    # The signed link of the stored version (PUBLIC_BASE_URL's, as invoices').
    assert "/files/invoices/" in downloaded.file_url

    voided = client.credit_notes.void(created.lago_id)
    assert (voided.credit_status, voided.balance_amount_cents) == ("voided", 0)
    with pytest.raises(LagoApiError) as raised:
        client.credit_notes.void(created.lago_id)
    assert raised.value.status_code == 405

    with pytest.raises(LagoApiError) as raised:
        client.credit_notes.create(
            CreditNote(invoice_id=str(invoice.pk), credit_amount_cents=9_001,
                       items=Items(__root__=[Item(fee_id=str(fee.pk), amount_cents=7_501)]))
        )  # fmt: skip
    # 75.00 of the fee is left after the first credit note.
    assert raised.value.status_code == 422
    assert "higher_than_remaining_fee_amount" in str(raised.value.response)

    # The invoice's void with a credit note of what remains (75.00 + 15.00).
    result = client.invoices.void_invoice(
        str(invoice.pk), {"generate_credit_note": True, "credit_amount": 9_000}
    )
    assert result.status == "voided"
    second = client.credit_notes.find_all({"invoice_number": invoice.number})["credit_notes"]
    assert [(n.number[-5:], n.credit_amount_cents) for n in second] == [
        ("CN002", 9_000),
        ("CN001", 3_000),
    ]
