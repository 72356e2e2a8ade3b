"""Credit notes' amounts, as lago-api computes them. Every expected number is
worked out by hand below from the lago-api rule it cites, never by the code
under test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.errors import NotAllowed, ValidationFailed
from invoicing.models import Credit, CreditNote, Invoice, PdfJob, WebhookEvent
from invoicing.services import credit_notes as cn
from invoicing.services import invoices
from invoicing.services.invoices import FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_tax

pytestmark = pytest.mark.django_db


def _item(fee, amount) -> cn.ItemInput:
    return cn.ItemInput(fee_id=str(fee.pk), amount_cents=Decimal(amount))


@pytest.fixture
def two_rates(organization):
    """Fee 1: 100.00 EUR at VAT 20 %; fee 2: 50.00 EUR at VAT 20 % and 5.5 %.
    Invoice taxes: 20 % of 150.00 = 30.00, 5.5 % of 50.00 = 2.75."""
    vat, reduced = make_tax(organization, "vat20", "20"), make_tax(organization, "r55", "5.5")
    customer = make_customer(organization, currency="EUR")
    a = make_add_on(organization, "a", 10_000, taxes=[vat])
    b = make_add_on(organization, "b", 5_000, taxes=[vat, reduced])
    invoice = make_invoice(
        organization, customer, fees=[FeeInput(add_on_code="a"), FeeInput(add_on_code="b")]
    )
    fee1, fee2 = invoice.fees.all()
    assert (fee1.add_on_id, fee2.add_on_id) == (a.pk, b.pk)
    return invoice, fee1, fee2


def test_multi_rate_items_are_taxed_per_rate(organization, two_rates):
    invoice, fee1, fee2 = two_rates
    # CreditNotes::ApplyTaxesService: vat20 on 25.00 + 10.00 = 35.00 -> 7.00;
    # r55 on 10.00 -> 0.55. Taxes 7.55; credit 35.00 + 7.55 = 42.55.
    # taxes_rate: 35/35 x 20 + 10/35 x 5.5 = 21.571428... -> 21.57143.
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 2500), _item(fee2, 1000)],
        reason="order_change",
        credit_amount_cents=4255,
    )
    assert note.number == f"{invoice.number}-CN001" and note.sequential_id == 1
    assert (note.credit_amount_cents, note.refund_amount_cents) == (4255, 0)
    assert (note.total_amount_cents, note.balance_amount_cents) == (4255, 4255)
    assert note.taxes_amount_cents == 755 and note.precise_taxes_amount_cents == Decimal("755")
    assert note.sub_total_excluding_taxes_amount_cents == 3500
    assert note.taxes_rate == Decimal("21.57143")
    assert note.credit_status == "available" and note.refund_status is None
    taxes = {t.tax_code: (t.base_amount_cents, t.amount_cents) for t in note.applied_taxes.all()}
    assert taxes == {"vat20": (3500, 700), "r55": (1000, 55)}
    assert [(i.fee_id, i.amount_cents) for i in note.items.all()] == [
        (fee1.pk, 2500),
        (fee2.pk, 1000),
    ]
    # Its PDF job and its credit_note.created event, recorded with it.
    assert PdfJob.objects.filter(credit_note=note, is_current=True).count() == 1
    event = WebhookEvent.objects.get(object_id=note.pk)
    assert event.event_type == "credit_note.created" and event.object_type == "credit_note"
    assert event.payload["credit_note"]["number"] == note.number

    second = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 100)],
        credit_amount_cents=120,
    )
    assert second.number == f"{invoice.number}-CN002"


def test_over_crediting_a_fee_is_lagos_error(organization, two_rates):
    invoice, fee1, _ = two_rates
    # ValidateItemService#valid_individual_amount?: at most the fee's 100.00.
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee1, 10_001)],
            credit_amount_cents=12_001,
        )
    assert raised.value.details == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 2500)],
        credit_amount_cents=3000,
    )
    # What remains of the fee after a first credit note: 75.00.
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee1, 7501)],
            credit_amount_cents=9001,
        )
    assert raised.value.details == {"amount_cents": ["higher_than_remaining_fee_amount"]}


def test_over_crediting_the_invoice_gathers_lagos_errors(organization, two_rates):
    invoice, fee1, fee2 = two_rates
    # Both fees whole: items 150.00 + taxes 32.75 = 182.75; the invoice's
    # fee_total_amount_cents is 150.00 + round(20 % x 100 + 25.5 % x 50) = 182.75.
    # Asking 182.77 is 2 cents over (ValidateService allows 1): the items do
    # not match, the credit and the total exceed what remains.
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee1, 10_000), _item(fee2, 5_000)],
            credit_amount_cents=18_277,
        )
    assert raised.value.details == {
        "base": ["does_not_match_item_amounts", "higher_than_remaining_invoice_amount"],
        "credit_amount_cents": ["higher_than_remaining_invoice_amount"],
    }
    # One cent over is within Lago's tolerance, and AdjustAmountsWithRoundingService
    # takes it back: 182.76 asked, 182.75 issued.
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 10_000), _item(fee2, 5_000)],
        credit_amount_cents=18_276,
    )
    assert (note.credit_amount_cents, note.total_amount_cents) == (18_275, 18_275)
    # A negative amount is out of range (CreditNote's numericality validation).
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee1, 100)],
            credit_amount_cents=-100,
        )
    assert raised.value.details == {"credit_amount_cents": ["value_is_out_of_range"]}
    # Nothing left: zero is not positive.
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization, invoice_id=str(invoice.pk), items=[], credit_amount_cents=0
        )
    assert raised.value.details == {"base": ["total_amount_must_be_positive"]}


def test_refunds_need_a_paid_invoice(organization, two_rates):
    invoice, fee1, _ = two_rates
    with pytest.raises(ValidationFailed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee1, 1000)],
            refund_amount_cents=1200,
        )
    # ValidateService#valid_refund_amount?: nothing was paid.
    assert raised.value.details == {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]}
    invoices.invoice_update(invoice=invoice, payment_status="succeeded")
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 1000)],
        credit_amount_cents=200,
        refund_amount_cents=1000,
    )
    assert (note.credit_amount_cents, note.refund_amount_cents, note.total_amount_cents) == (
        200,
        1000,
        1200,
    )
    assert note.refund_status == "pending" and note.balance_amount_cents == 200
    with pytest.raises(ValidationFailed):
        cn.credit_note_update(
            organization=organization,
            credit_note_id=str(note.pk),
            changes={"refund_status": "refunded"},
        )
    updated = cn.credit_note_update(
        organization=organization,
        credit_note_id=str(note.pk),
        changes={"refund_status": "succeeded"},
    )
    assert updated.refund_status == "succeeded" and updated.refunded_at is not None


@pytest.mark.parametrize("status", ["draft", "voided"])
def test_a_draft_or_voided_invoice_cannot_be_credited(organization, status):
    invoice = make_invoice(organization, status="draft" if status == "draft" else "finalized")
    if status == "voided":
        invoices.invoice_void(invoice=invoice)
    fee = invoice.fees.get()
    with pytest.raises(NotAllowed) as raised:
        cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[_item(fee, 100)],
            credit_amount_cents=100,
        )
    assert raised.value.code == "invalid_type_or_status"
    assert not CreditNote.objects.exists()


def test_jpy_has_no_decimals(organization):
    # 3 x 1,000 JPY at 10 %. Credit 333 JPY: tax 33.3 -> 33; items + precise
    # taxes 366.3 -> 366 (ValidateService#precise_total_items_amount_cents).
    tax = make_tax(organization, "jct", "10")
    customer = make_customer(organization, currency="JPY")
    make_add_on(organization, "yen", 1_000, currency="JPY", taxes=[tax])
    invoice = make_invoice(
        organization, customer, currency="JPY", fees=[FeeInput(add_on_code="yen", units=Decimal(3))]
    )
    fee = invoice.fees.get()
    assert (fee.amount_cents, invoice.total_amount_cents) == (3_000, 3_300)
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee, 333)],
        credit_amount_cents=366,
    )
    assert (note.taxes_amount_cents, note.precise_taxes_amount_cents) == (33, Decimal("33.3"))
    assert (note.sub_total_excluding_taxes_amount_cents, note.total_amount_cents) == (333, 366)
    assert note.currency == "JPY"


def test_bhd_has_three_decimals_and_rounds_half_up(organization):
    # 12.345 BHD at 10 %: the invoice's tax is 1.2345 -> 1.235. Credit 1.235:
    # tax 0.1235 -> 0.124 (half up), total 1.2350 + 0.1235 = 1.3585 -> 1.359.
    tax = make_tax(organization, "bvat", "10")
    customer = make_customer(organization, currency="BHD")
    make_add_on(organization, "dinar", 12_345, currency="BHD", taxes=[tax])
    invoice = make_invoice(
        organization, customer, currency="BHD", fees=[FeeInput(add_on_code="dinar")]
    )
    fee = invoice.fees.get()
    assert invoice.taxes_amount_cents == 1_235
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee, 1_235)],
        credit_amount_cents=1_359,
    )
    assert (note.taxes_amount_cents, note.precise_taxes_amount_cents) == (124, Decimal("123.5"))
    assert (note.total_amount_cents, note.credit_amount_cents) == (1_359, 1_359)


def test_the_credit_is_applied_to_the_next_invoices(organization, two_rates, api):
    invoice, fee1, fee2 = two_rates
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 2500), _item(fee2, 1000)],
        credit_amount_cents=4255,
    )
    make_add_on(organization, "next", 3_000, taxes=[make_tax(organization, "v2", "20")])
    # Credits::CreditNoteService: the next invoice totals 30.00 + 6.00 = 36.00;
    # the credit note pays all of it (42.55 -> 6.55 left) and the invoice is
    # finalized paid, as a zero total is.
    first = make_invoice(organization, invoice.customer, fees=[FeeInput(add_on_code="next")])
    assert (first.credit_notes_amount_cents, first.total_amount_cents) == (3_600, 0)
    assert first.payment_status == Invoice.PaymentStatus.SUCCEEDED
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (655, "available")
    credit = Credit.objects.get(invoice=first)
    assert (credit.kind, credit.amount_cents) == ("credit_note", 3600)
    assert credit.credit_note_id == note.pk
    assert (credit.code, credit.name) == (note.number, invoice.number)
    # A draft takes nothing; finalizing it takes the 6.55 left: 36.00 -> 29.45.
    draft = make_invoice(
        organization, invoice.customer, fees=[FeeInput(add_on_code="next")], status="draft"
    )
    assert draft.credit_notes_amount_cents == 0 and draft.total_amount_cents == 3_600
    final = invoices.invoice_finalize(invoice=draft)
    assert (final.credit_notes_amount_cents, final.total_amount_cents) == (655, 2_945)
    stored = Invoice.objects.get(pk=draft.pk)
    assert (stored.credit_notes_amount_cents, stored.total_amount_cents) == (655, 2_945)
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")
    # Lotus's cost_due is what remains to pay: 36.00 - 36.00, 36.00 - 6.55.
    assert api.get(f"/api/invoices/{first.lotus_id}/").json()["cost_due"] == 0.0
    assert api.get(f"/api/invoices/{final.lotus_id}/").json()["cost_due"] == 29.45
    # Lago's invoice lists the credit as lago-api's CreditSerializer does.
    [listed] = api.get(f"/api/v1/invoices/{final.pk}").json()["invoice"]["credits"]
    assert listed["amount_cents"] == 655 and listed["before_taxes"] is False
    assert listed["item"] == {
        "lago_item_id": str(note.pk),
        "type": "credit_note",
        "code": note.number,
        "name": invoice.number,
        "description": None,
    }
    # Nothing left for the one after.
    third = make_invoice(organization, invoice.customer, fees=[FeeInput(add_on_code="next")])
    assert (third.credit_notes_amount_cents, third.total_amount_cents) == (0, 3_600)


def test_void_voids_the_credit_left(organization, two_rates):
    invoice, fee1, _ = two_rates
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(invoice.pk),
        items=[_item(fee1, 1000)],
        credit_amount_cents=1200,
    )
    voided = cn.credit_note_void(organization=organization, credit_note_id=str(note.pk))
    assert (voided.credit_status, voided.balance_amount_cents) == ("voided", 0)
    assert voided.credit_amount_cents == 1200  # the document keeps what it credited
    versions = PdfJob.objects.filter(credit_note=note).order_by("version")
    assert [(j.version, j.is_current) for j in versions] == [(1, False), (2, True)]
    with pytest.raises(NotAllowed) as raised:
        cn.credit_note_void(organization=organization, credit_note_id=str(note.pk))
    assert raised.value.code == "no_voidable_amount"


def test_invoice_void_with_a_credit_note(organization):
    # 100.00 at 20 %: 120.00 creditable. Credit 60.00: every fee pro rata
    # (Invoices::VoidService#credit_note_items_matching_requested_amount:
    # 6,000 / 12,000 of the fee's 10,000 = 5,000), then the rest (50.00 +
    # 10.00) credited and voided at once.
    tax = make_tax(organization, "v", "20")
    make_add_on(organization, "whole", 10_000, taxes=[tax])
    invoice = make_invoice(organization, fees=[FeeInput(add_on_code="whole")])
    with pytest.raises(ValidationFailed) as raised:
        cn.invoice_void_with_credit_note(
            organization=organization,
            invoice=invoice,
            params={"generate_credit_note": True, "credit_amount": 12_001},
        )
    assert raised.value.details == {"credit_refund_amount": ["total_amount_exceeds_invoice_amount"]}
    voided = cn.invoice_void_with_credit_note(
        organization=organization,
        invoice=invoice,
        params={"generate_credit_note": "true", "credit_amount": "6000"},
    )
    assert voided.status == "voided"
    first, rest = CreditNote.objects.filter(invoice=invoice).order_by("sequential_id")
    assert (first.credit_amount_cents, first.taxes_amount_cents, first.credit_status) == (
        6_000,
        1_000,
        "available",
    )
    assert [i.amount_cents for i in first.items.all()] == [5_000]
    assert (rest.credit_amount_cents, rest.balance_amount_cents, rest.credit_status) == (
        6_000,
        0,
        "voided",
    )
    assert first.description == f"Credit note created due to voided invoice {invoice.pk}"
