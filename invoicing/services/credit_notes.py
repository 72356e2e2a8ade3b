"""Writes for credit notes: create, estimate, void, update the refund status,
and the credit notes of an invoice's void (``generate_credit_note``).

Each rule names the lago-api file it follows; money is Decimal where lago-api
keeps precise amounts (it computes them in Ruby floats and BigDecimals, so
the two agree except where a float error would flip a half), rounded half
away from zero as Ruby's ``round`` (``invoicing.money.round_half_up``).

Where this service has no concept lago-api relies on, the mapping is:
- payments: an invoice's ``payment_status`` and ``total_paid_amount_cents``
  (set to the total when it is marked ``succeeded``) stand for Lago's
  payments; no provider exists, so a refund is recorded ``pending`` and moved
  on through the API (``refund_status``), never executed;
- wallets and prepaid credit invoices (``invoice_type`` credit): none, so a
  credit invoice cannot be credited (lago-api needs its wallet);
- tax providers: none, so an applied tax's taxable base is its fees' amount
  (``Invoice::AppliedTax#taxable_amount_cents``) and the base rate is 1;
- draft credit notes (lago-api's for draft invoices, refreshed when the
  invoice is finalized) and offsets (``offset_amount_cents``) are not offered.

Which invoices may be credited differs from lago-api in one point, on
purpose: only finalized invoices. lago-api also accepts a draft (making a
draft credit note) and a voided invoice; here a draft has no number for the
credit note to carry, and a voided invoice is owed nothing, so its credit
notes come only from the void itself (``invoice_void_with_credit_note``).
Both are refused with lago-api's ``invalid_type_or_status``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from invoicing.dispatch import render_on_commit
from invoicing.errors import NotAllowed, NotFound, ValidationFailed
from invoicing.models import (
    CreditNote,
    CreditNoteAppliedTax,
    CreditNoteItem,
    Fee,
    Invoice,
    InvoiceAppliedTax,
    Organization,
    PdfJob,
    WebhookEvent,
)
from invoicing.money import MAX_AMOUNT_CENTS, round_half_up
from invoicing.services.events import credit_note_events_record
from invoicing.services.pdf import pdf_version_start

# lago-api's Invoice::CREDIT_NOTES_MIN_VERSION.
CREDIT_NOTES_MIN_VERSION = 2
# Invoice::COUPON_BEFORE_VAT_VERSION: from it on, items carry their share of coupons.
COUPON_BEFORE_VAT_VERSION = 3
# The credit note's precise columns are numeric(30, 5) (as lago-api's, which
# Rails rounds to on assignment).
PRECISE = Decimal("0.00001")
_HUNDRED = Decimal(100)
# Lago's validations allow one cent of rounding between what is asked and
# what the items add up to (``CreditNotes::ValidateService``).
ROUNDING_TOLERANCE = 1


@dataclass(frozen=True)
class ItemInput:
    fee_id: str | None
    amount_cents: Decimal


@dataclass
class _Errors:
    """lago-api's ``BaseValidator#add_error``: codes gathered per field."""

    details: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, code: str) -> None:
        self.details.setdefault(name, []).append(code)

    def raise_any(self) -> None:
        if self.details:
            raise ValidationFailed(self.details)


# ------------------------------------------------------------ the invoice's state


@dataclass
class _Invoice:
    """An invoice with what its credit notes have taken so far."""

    invoice: Invoice
    fees: dict[uuid.UUID, Fee]
    applied_taxes: dict[str, InvoiceAppliedTax]
    # Sum of the credit note items of each fee (every credit note, voided too,
    # as ``Fee#creditable_amount_cents`` counts them).
    credited_by_fee: dict[uuid.UUID, int]
    # Sums over the invoice's finalized credit notes.
    credited_cents: int
    refunded_cents: int
    # Sum over them of ``taxes_amount_cents - precise_taxes_amount_cents``.
    taxes_rounding: Decimal

    def fee_creditable(self, fee: Fee) -> int:
        """``Fee#creditable_amount_cents``."""
        return fee.amount_cents - self.credited_by_fee.get(fee.pk, 0)

    @property
    def fee_total_amount_cents(self) -> int:
        """``Invoice#fee_total_amount_cents``: the fees and their taxes, before
        coupons (one rounding of the taxes)."""
        fees = list(self.fees.values())
        taxes = sum((Decimal(f.amount_cents) * f.taxes_rate for f in fees), Decimal(0)) / _HUNDRED
        return sum(f.amount_cents for f in fees) + round_half_up(taxes)

    def available_to_credit(self) -> Decimal:
        """``Invoice#available_to_credit_amount_cents`` (unrounded, as lago-api
        returns it): what remains of the fees, less their share of the
        coupons, plus their taxes rounded once."""
        invoice = self.invoice
        if invoice.version_number < CREDIT_NOTES_MIN_VERSION or invoice.status == "draft":
            return Decimal(0)
        creditable = {pk: self.fee_creditable(fee) for pk, fee in self.fees.items()}
        total = sum(creditable.values())
        if total == 0:
            return Decimal(0)
        adjustment = Decimal(0)
        if invoice.version_number >= COUPON_BEFORE_VAT_VERSION and invoice.fees_amount_cents:
            adjustment = (
                Decimal(
                    invoice.coupons_amount_cents + invoice.progressive_billing_credit_amount_cents
                )
                / invoice.fees_amount_cents
                * total
            )
        vat = Decimal(0)
        for pk, fee in self.fees.items():
            share = adjustment * Decimal(creditable[pk]) / total
            vat += (creditable[pk] - share) * fee.taxes_rate
        return total - adjustment + round_half_up(vat / _HUNDRED)

    def creditable_amount_cents(self) -> Decimal:
        """``Invoice#creditable_amount_cents``: nothing on a credit invoice."""
        if self.invoice.invoice_type == Invoice.InvoiceType.CREDIT:
            return Decimal(0)
        return self.available_to_credit()

    def refundable_amount_cents(self) -> Decimal:
        """``Invoice#refundable_amount_cents``: what was paid and not refunded
        yet, at most what remains creditable."""
        invoice = self.invoice
        if invoice.version_number < CREDIT_NOTES_MIN_VERSION or invoice.status == "draft":
            return Decimal(0)
        if (
            invoice.payment_status != Invoice.PaymentStatus.SUCCEEDED
            and invoice.total_paid_amount_cents == invoice.total_amount_cents
        ):
            return Decimal(0)
        remaining_paid = invoice.total_paid_amount_cents - self.refunded_cents
        return max(min(Decimal(remaining_paid), self.creditable_amount_cents()), Decimal(0))


def _load(invoice: Invoice) -> _Invoice:
    fees = {f.pk: f for f in invoice.fees.prefetch_related("applied_taxes")}
    credited = dict(
        CreditNoteItem.objects.filter(fee__invoice=invoice)
        .values_list("fee_id")
        .annotate(total=Sum("amount_cents"))
        .order_by()
    )
    notes = CreditNote.objects.filter(invoice=invoice, status=CreditNote.Status.FINALIZED)
    sums = notes.aggregate(
        credited=Sum("credit_amount_cents"),
        refunded=Sum("refund_amount_cents"),
        taxes=Sum("taxes_amount_cents"),
        precise_taxes=Sum("precise_taxes_amount_cents"),
    )
    return _Invoice(
        invoice=invoice,
        fees=fees,
        applied_taxes={t.tax_code: t for t in invoice.applied_taxes.all()},
        credited_by_fee=credited,
        credited_cents=sums["credited"] or 0,
        refunded_cents=sums["refunded"] or 0,
        taxes_rounding=(sums["taxes"] or 0) - (sums["precise_taxes"] or Decimal(0)),
    )


# --------------------------------------------------------------- the amounts


@dataclass
class _TaxOut:
    source: InvoiceAppliedTax
    base_amount_cents: int
    amount_cents: int


@dataclass
class _Amounts:
    """A credit note's amounts before its credit and refund are split."""

    items: list[tuple[Fee, int, Decimal]]  # fee, amount_cents, precise amount
    taxes: list[_TaxOut]
    precise_coupons_adjustment: Decimal
    precise_taxes: Decimal
    taxes_rate: Decimal

    @property
    def precise_items(self) -> Decimal:
        return sum((precise for _, _, precise in self.items), Decimal(0))

    @property
    def sub_total_excluding_taxes(self) -> int:
        """``CreditNote#sub_total_excluding_taxes_amount_cents``."""
        return round_half_up(self.precise_items - self.precise_coupons_adjustment)

    @property
    def taxes_amount_cents(self) -> int:
        return round_half_up(self.precise_taxes)


def _fee_rate(fee: Fee, precise: Decimal) -> Decimal:
    # The part of the fee the item takes back (0 for a fee of nothing).
    return precise / fee.amount_cents if fee.amount_cents else Decimal(0)


def _apply_taxes(state: _Invoice, items: list[tuple[Fee, int, Decimal]]) -> _Amounts:
    """``CreditNotes::ApplyTaxesService``: each tax of the items' fees, on
    the items' amounts less their share of the fee's coupons, rounded once
    per tax; the credit note's precise taxes are the unrounded sum."""
    coupons = Decimal(0)
    if state.invoice.version_number >= COUPON_BEFORE_VAT_VERSION:
        coupons = sum(
            (fee.precise_coupons_amount_cents * _fee_rate(fee, p) for fee, _, p in items),
            Decimal(0),
        )
    by_code: dict[str, list[tuple[Fee, Decimal]]] = {}
    for fee, _, precise in items:
        for fee_tax in fee.applied_taxes.all():
            by_code.setdefault(fee_tax.tax_code, []).append((fee, precise))
    total_base = sum((p for _, _, p in items), Decimal(0)) - coupons
    taxes = []
    precise_taxes = Decimal(0)
    rate = Decimal(0)
    for code, taxed in by_code.items():
        source = state.applied_taxes[code]
        base = sum(
            (p - fee.precise_coupons_amount_cents * _fee_rate(fee, p) for fee, p in taxed),
            Decimal(0),
        )
        precise_tax = base * source.tax_rate / _HUNDRED
        taxes.append(_TaxOut(source, round_half_up(base), round_half_up(precise_tax)))
        precise_taxes += precise_tax
        if total_base:
            rate += base / total_base * source.tax_rate
    return _Amounts(
        items=items,
        taxes=taxes,
        precise_coupons_adjustment=coupons,
        precise_taxes=precise_taxes,
        taxes_rate=rate.quantize(PRECISE, rounding=ROUND_HALF_UP),
    )


def _items(state: _Invoice, items, *, integer_amounts: bool = False) -> list:
    """The items checked one after the other as ``CreditNotes::ValidateItemService``
    does (the first bad one answers): the fee is the invoice's (404
    ``fee_not_found``), the amount not negative and at most what remains of
    the fee (each item counting those before it)."""
    if not isinstance(items, list):
        raise ValidationFailed({"items": ["must_be_an_array"]})
    taken: dict = defaultdict(int)
    checked = []
    for item in items:
        precise = Decimal(item.amount_cents or 0)
        if integer_amounts:
            # EstimateService reads ``amount_cents&.to_i``.
            precise = Decimal(int(precise))
        fee = state.fees.get(_uuid(item.fee_id))
        if fee is None:
            raise NotFound("fee")
        amount = round_half_up(precise)
        errors = _Errors()
        if amount < 0:
            errors.add("amount_cents", "invalid_value")
        if amount > state.fee_creditable(fee) - taken[fee.pk]:
            errors.add("amount_cents", "higher_than_remaining_fee_amount")
        errors.raise_any()
        taken[fee.pk] += amount
        checked.append((fee, amount, precise.quantize(PRECISE, rounding=ROUND_HALF_UP)))
    return checked


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _covers_the_rest(state: _Invoice, items) -> bool:
    """Whether nothing is creditable once these items are (the last credit
    note of an invoice absorbs the taxes' rounding of those before it)."""
    after = dataclasses.replace(state, credited_by_fee=dict(state.credited_by_fee))
    for fee, amount, _ in items:
        after.credited_by_fee[fee.pk] = after.credited_by_fee.get(fee.pk, 0) + amount
    return after.creditable_amount_cents() == 0


# -------------------------------------------------------------------- create


def _creditable_invoice(invoice: Invoice | None, *, from_void: bool) -> Invoice:
    if invoice is None:
        raise NotFound("invoice")
    allowed = (Invoice.Status.VOIDED,) if from_void else (Invoice.Status.FINALIZED,)
    if (
        invoice.status not in allowed
        # No wallets here: lago-api credits a credit invoice through its wallet only.
        or invoice.invoice_type == Invoice.InvoiceType.CREDIT
        or invoice.version_number < CREDIT_NOTES_MIN_VERSION
    ):
        raise NotAllowed("this invoice cannot be credited", code="invalid_type_or_status")
    return invoice


def _locked_invoice(organization_id, invoice_id) -> Invoice | None:
    pk = invoice_id if isinstance(invoice_id, uuid.UUID) else _uuid(invoice_id)
    if pk is None:
        return None
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer", "organization")
        .filter(organization_id=organization_id, pk=pk)
        .exclude(status=Invoice.Status.DELETED)
        .first()
    )


def _validate(state: _Invoice, amounts: _Amounts, credit: int, refund: int) -> None:
    """``CreditNotes::ValidateService``, every rule, errors gathered."""
    invoice = state.invoice
    errors = _Errors()
    total = credit + refund
    if refund > 0 and invoice.payment_status != Invoice.PaymentStatus.SUCCEEDED:
        if (
            invoice.total_paid_amount_cents == invoice.total_amount_cents
            and invoice.total_amount_cents > 0
        ):
            errors.add("refund_amount_cents", "cannot_refund_unpaid_invoice")
    items_total = round_half_up(
        amounts.precise_items - amounts.precise_coupons_adjustment + amounts.precise_taxes
    )
    if abs(total - items_total) > ROUNDING_TOLERANCE:
        errors.add("base", "does_not_match_item_amounts")
    if refund > 0:
        if invoice.total_paid_amount_cents <= 0:
            errors.add("refund_amount_cents", "cannot_refund_unpaid_invoice")
        elif refund > invoice.total_paid_amount_cents - state.refunded_cents:
            errors.add("refund_amount_cents", "higher_than_remaining_invoice_amount")
    creditable = state.fee_total_amount_cents - state.credited_cents
    if credit > creditable and credit - creditable > ROUNDING_TOLERANCE:
        errors.add("credit_amount_cents", "higher_than_remaining_invoice_amount")
    remaining = state.fee_total_amount_cents - state.credited_cents - state.refunded_cents
    if total > remaining and total - remaining > ROUNDING_TOLERANCE:
        errors.add("base", "higher_than_remaining_invoice_amount")
    if total <= 0:
        errors.add("base", "total_amount_must_be_positive")
    errors.raise_any()


def _check_cents(name: str, value) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed({name: ["value_is_invalid"]})
    if value < 0 or value > MAX_AMOUNT_CENTS:
        # CreditNote's ``numericality: {greater_than_or_equal_to: 0}``, in
        # lago-api's words (config/locales/en.yml).
        raise ValidationFailed({name: ["value_is_out_of_range"]})
    return value


@transaction.atomic
def credit_note_create(
    *,
    organization: Organization,
    invoice_id,
    items,
    reason: str | None = None,
    description: str | None = None,
    credit_amount_cents: int | None = 0,
    refund_amount_cents: int | None = 0,
    _from_void: bool = False,
) -> CreditNote:
    """Issue a credit note on one of the organization's invoices, as
    ``CreditNotes::CreateService``: the invoice locked (numbering and the
    amounts left to credit are decided under its lock), its items checked,
    taxed, the amounts checked, numbered ``<invoice number>-CN<001>``; then
    ``credit_note.created`` and its PDF, once committed."""
    invoice = _creditable_invoice(
        _locked_invoice(organization.pk, invoice_id), from_void=_from_void
    )
    reason = reason or CreditNote.Reason.OTHER
    if reason not in CreditNote.Reason.values:
        raise ValidationFailed({"reason": ["value_is_invalid"]})
    credit = _check_cents("credit_amount_cents", credit_amount_cents)
    refund = _check_cents("refund_amount_cents", refund_amount_cents)
    state = _load(invoice)
    checked = _items(state, items)
    amounts = _apply_taxes(state, checked)
    if _covers_the_rest(state, checked):
        # CreateService#adjust_credit_note_tax_rounding.
        amounts.precise_taxes -= state.taxes_rounding
    _validate(state, amounts, credit, refund)
    if not _from_void:
        # An e-invoicing organization's credit note is an EN 16931 one: refused
        # here, as an invoice at finalization, when it would lack a datum. A
        # void is never refused: its credit note falls back to a plain PDF.
        from invoicing.services.pdf import credit_note_einvoice_check

        credit_note_einvoice_check(invoice=invoice, items=checked)

    note = CreditNote(
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        invoice=invoice,
        reason=reason,
        description=description or "",
        currency=invoice.currency,
        issuing_date=invoice.customer.today(),
        credit_amount_cents=credit,
        refund_amount_cents=refund,
        credit_status=CreditNote.CreditStatus.AVAILABLE,
        refund_status=CreditNote.RefundStatus.PENDING if refund > 0 else None,
        taxes_amount_cents=amounts.taxes_amount_cents,
        precise_taxes_amount_cents=amounts.precise_taxes.quantize(PRECISE, ROUND_HALF_UP),
        coupons_adjustment_amount_cents=round_half_up(amounts.precise_coupons_adjustment),
        precise_coupons_adjustment_amount_cents=amounts.precise_coupons_adjustment.quantize(
            PRECISE, ROUND_HALF_UP
        ),
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes,
        taxes_rate=amounts.taxes_rate,
        total_amount_cents=credit + refund,
        balance_amount_cents=credit,
    )
    _adjust_rounding(note)
    last = CreditNote.objects.filter(invoice=invoice).aggregate(last=Max("sequential_id"))["last"]
    note.sequential_id = (last or 0) + 1
    note.number = f"{invoice.number}-CN{note.sequential_id:03d}"
    note.save()
    CreditNoteItem.objects.bulk_create(
        [
            CreditNoteItem(
                credit_note=note, fee=fee, position=i, amount_cents=amount, precise_amount_cents=p
            )
            for i, (fee, amount, p) in enumerate(checked)
        ]
    )
    CreditNoteAppliedTax.objects.bulk_create(
        [
            CreditNoteAppliedTax(
                credit_note=note,
                tax_id=t.source.tax_id,
                tax_code=t.source.tax_code,
                tax_name=t.source.tax_name,
                tax_rate=t.source.tax_rate,
                tax_description=t.source.tax_description,
                base_amount_cents=t.base_amount_cents,
                amount_cents=t.amount_cents,
            )
            for t in amounts.taxes
        ]
    )
    credit_note_events_record(
        credit_notes=[note], event_type=WebhookEvent.EventType.CREDIT_NOTE_CREATED
    )
    credit_note_pdf_request(credit_note=note)
    return note


def _adjust_rounding(note: CreditNote) -> None:
    """``CreditNotes::AdjustAmountsWithRoundingService``: one cent moved so
    that sub total excl. taxes + taxes = total, kept in the credit (else the
    refund)."""
    subtotal = note.total_amount_cents - note.taxes_amount_cents
    if subtotal == note.sub_total_excluding_taxes_amount_cents:
        return
    note.total_amount_cents += -1 if subtotal > note.sub_total_excluding_taxes_amount_cents else 1
    if note.credit_amount_cents > 0:
        note.credit_amount_cents = note.total_amount_cents - note.refund_amount_cents
    else:
        note.refund_amount_cents = note.total_amount_cents
    note.balance_amount_cents = note.credit_amount_cents


# ------------------------------------------------------------------ estimate


@dataclass
class Estimate:
    """``V1::CreditNotes::EstimateSerializer``'s object."""

    invoice: Invoice
    items: list[tuple[Fee, int, Decimal]]
    taxes: list[_TaxOut]
    taxes_amount_cents: int
    precise_taxes_amount_cents: Decimal
    sub_total_excluding_taxes_amount_cents: int
    max_creditable_amount_cents: int
    max_refundable_amount_cents: int
    coupons_adjustment_amount_cents: int
    precise_coupons_adjustment_amount_cents: Decimal
    taxes_rate: Decimal


def _estimate(state: _Invoice, items) -> Estimate:
    checked = _items(state, items, integer_amounts=True)
    amounts = _apply_taxes(state, checked)
    remaining = sum(state.fee_creditable(f) for f in state.fees.values())
    if amounts.precise_items == remaining:
        # EstimateService#adjust_credit_note_tax_precise_rounding.
        amounts.precise_taxes -= state.taxes_rounding
    taxes = amounts.taxes_amount_cents
    credit = round_half_up(
        sum(a for _, a, _ in checked) - amounts.precise_coupons_adjustment + amounts.precise_taxes
    )
    refundable = state.refundable_amount_cents()
    refund = credit if credit <= refundable else int(refundable)
    if state.invoice.invoice_type == Invoice.InvoiceType.CREDIT:
        credit = 0
    # EstimateService#adjust_amounts_with_rounding.
    subtotal = credit - taxes
    if subtotal != amounts.sub_total_excluding_taxes:
        if subtotal > amounts.sub_total_excluding_taxes:
            credit -= 1
        elif taxes > 0:
            taxes -= 1
    return Estimate(
        invoice=state.invoice,
        items=checked,
        taxes=amounts.taxes,
        taxes_amount_cents=taxes,
        precise_taxes_amount_cents=amounts.precise_taxes,
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes,
        max_creditable_amount_cents=credit,
        max_refundable_amount_cents=refund,
        coupons_adjustment_amount_cents=round_half_up(amounts.precise_coupons_adjustment),
        precise_coupons_adjustment_amount_cents=amounts.precise_coupons_adjustment,
        taxes_rate=amounts.taxes_rate,
    )


@transaction.atomic
def credit_note_estimate(*, organization: Organization, invoice_id, items) -> Estimate:
    """What a credit note of these items would be (``CreditNotes::EstimateService``):
    nothing is written."""
    invoice = _creditable_invoice(_locked_invoice(organization.pk, invoice_id), from_void=False)
    return _estimate(_load(invoice), items)


# ---------------------------------------------------------- void and update


def _locked_note(organization: Organization, credit_note_id) -> CreditNote:
    pk = _uuid(credit_note_id)
    note = (
        CreditNote.objects.select_for_update(of=("self",))
        .select_related("invoice", "customer")
        .filter(organization=organization, pk=pk)
        .first()
        if pk
        else None
    )
    if note is None:
        raise NotFound("credit_note")
    return note


@transaction.atomic
def credit_note_void(*, organization: Organization, credit_note_id) -> CreditNote:
    """``CreditNotes::VoidService``: the credit left is voided (405
    ``no_voidable_amount`` when none is left). The document is not changed:
    its next PDF version says the credit was voided, and when."""
    note = _locked_note(organization, credit_note_id)
    return _void(note)


def _void(note: CreditNote) -> CreditNote:
    if not note.voidable:
        raise NotAllowed("no credit left to void", code="no_voidable_amount")
    note.credit_status = CreditNote.CreditStatus.VOIDED
    note.voided_at = timezone.now()
    note.balance_amount_cents = 0
    note.save(update_fields=["credit_status", "voided_at", "balance_amount_cents", "updated_at"])
    credit_note_pdf_regenerate(credit_note=note)
    return note


@transaction.atomic
def credit_note_update(*, organization: Organization, credit_note_id, changes: dict) -> CreditNote:
    """``CreditNotes::UpdateService``: only the refund status changes (any of
    Lago's, or null); ``succeeded`` records when."""
    note = _locked_note(organization, credit_note_id)
    if "refund_status" in changes:
        status = changes["refund_status"]
        if status is not None and status not in CreditNote.RefundStatus.values:
            raise ValidationFailed({"refund_status": ["value_is_invalid"]})
        note.refund_status = status
        if status == CreditNote.RefundStatus.SUCCEEDED:
            note.refunded_at = timezone.now()
        note.save(update_fields=["refund_status", "refunded_at", "updated_at"])
    return note


# ---------------------------------------------------------- invoice void


def _boolean(value) -> bool:
    """``ActiveModel::Type::Boolean#cast``: false for false, 0, "0", "f",
    "false", "off" (any case), and for nothing; true otherwise."""
    if value is None or value == "":
        return False
    if isinstance(value, str):
        return value.strip().lower() not in {"0", "f", "false", "off"}
    return value not in (False, 0)


def _to_i(value) -> int:
    """Ruby's ``to_i`` on a parameter: a number's integer part, a string's
    leading digits, else 0."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    digits = ""
    for index, char in enumerate(str(value).strip()):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


@transaction.atomic
def invoice_void_with_credit_note(
    *, organization: Organization, invoice: Invoice, params: dict
) -> Invoice:
    """``Invoices::VoidService`` with ``generate_credit_note``: the amounts
    are checked against what remains creditable and refundable (422
    ``credit_refund_amount: total_amount_exceeds_invoice_amount``), the
    invoice is voided, then a credit note of ``credit_amount`` and
    ``refund_amount`` is issued over every fee pro rata, and whatever remains
    creditable is credited by a second credit note voided at once."""
    from invoicing.services.invoices import invoice_void

    generate = _boolean(params.get("generate_credit_note"))
    credit, refund = _to_i(params.get("credit_amount")), _to_i(params.get("refund_amount"))
    if not generate:
        return invoice_void(invoice=invoice)
    locked = _locked_invoice(organization.pk, invoice.pk)
    if locked is None:
        raise NotFound("invoice")
    state = _load(locked)
    creditable, refundable = state.creditable_amount_cents(), state.refundable_amount_cents()
    if credit > creditable or refund > refundable or credit + refund > creditable:
        raise ValidationFailed({"credit_refund_amount": ["total_amount_exceeds_invoice_amount"]})
    voided = invoice_void(invoice=locked)
    requested = credit + refund
    if requested > 0:
        remaining = [
            (fee, state.fee_creditable(fee))
            for fee in state.fees.values()
            if state.fee_creditable(fee) > 0
        ]
        base_total = _estimate(
            state, [ItemInput(str(f.pk), Decimal(a)) for f, a in remaining]
        ).max_creditable_amount_cents
        if base_total:
            ratio = Decimal(requested) / base_total
            credit_note_create(
                organization=organization,
                invoice_id=locked.pk,
                items=[ItemInput(str(f.pk), Decimal(a) * ratio) for f, a in remaining],
                reason=CreditNote.Reason.OTHER,
                description=f"Credit note created due to voided invoice {locked.pk}",
                credit_amount_cents=credit,
                refund_amount_cents=refund,
                _from_void=True,
            )
    state = _load(locked)
    if round_half_up(state.creditable_amount_cents()) > 0:
        rest = [
            ItemInput(str(f.pk), Decimal(state.fee_creditable(f)))
            for f in state.fees.values()
            if state.fee_creditable(f) > 0
        ]
        estimate = _estimate(state, rest)
        note = credit_note_create(
            organization=organization,
            invoice_id=locked.pk,
            items=[ItemInput(str(f.pk), Decimal(a)) for f, a, _ in estimate.items],
            reason=CreditNote.Reason.OTHER,
            description=f"Credit note created due to voided invoice {locked.pk}",
            credit_amount_cents=estimate.max_creditable_amount_cents,
            _from_void=True,
        )
        _void(note)
    return voided


# ------------------------------------------------------------------- PDF jobs


def _current_job(credit_note_id) -> PdfJob | None:
    return PdfJob.objects.filter(credit_note_id=credit_note_id, is_current=True).first()


def credit_note_pdf_request(*, credit_note: CreditNote) -> PdfJob:
    """The credit note's current PDF job, made if there is none (one however
    many requests arrive: the partial unique constraint
    ``pdf_job_credit_note_one_current``), enqueued once committed; a failed
    one is re-armed once, as an invoice's is."""
    from invoicing.services.pdf import _rearm_once

    job = _current_job(credit_note.pk)
    if job is not None:
        if job.state == PdfJob.State.FAILED and job.rearmed_at is None:
            return _rearm_once(job)
        return job
    with transaction.atomic():
        made = PdfJob(
            credit_note_id=credit_note.pk,
            organization_id=credit_note.organization_id,
            enqueued_at=timezone.now(),
        )
        PdfJob.objects.bulk_create([made], ignore_conflicts=True)
        job = _current_job(credit_note.pk)
        if job.pk == made.pk:
            render_on_commit(str(job.pk))
    return job


def credit_note_pdf_regenerate(*, credit_note: CreditNote) -> PdfJob:
    """A new version (the old one's links stop working; one not rendered
    yet is superseded), as ``invoice_pdf_regenerate``."""
    return pdf_version_start(
        old=_current_job(credit_note.pk),
        organization_id=credit_note.organization_id,
        credit_note_id=credit_note.pk,
    )


def credit_note_stored_pdf_jobs(credit_note_ids) -> dict:
    """The ready current job of each of these credit notes, by credit note id."""
    jobs = PdfJob.objects.filter(
        credit_note_id__in=list(credit_note_ids), is_current=True, state=PdfJob.State.READY
    )
    return {job.credit_note_id: job for job in jobs}


# ------------------------------------------------------------------ snapshot


def credit_notes_for_snapshot(credit_note_ids) -> dict:
    """Credit notes by id with everything their snapshot reads, in a fixed
    number of queries however many (a PDF batch), and none for a batch of
    invoices only: compiling the query that finds nothing cost a month-end's
    one-invoice batches about a tenth of their worker's time."""
    credit_note_ids = list(credit_note_ids)
    if not credit_note_ids:
        return {}
    notes = (
        CreditNote.objects.select_related("invoice", "customer", "organization")
        .prefetch_related("items__fee__applied_taxes", "applied_taxes", "invoice__applied_taxes")
        .filter(pk__in=credit_note_ids)
    )
    loaded = {}
    for note in notes:
        note.customer.organization = note.organization
        loaded[note.pk] = note
    return loaded


def credit_note_snapshot(note: CreditNote):
    """Freeze ``note`` into the renderer's plain-data input."""
    from invoicing.pdf.credit_note import CreditNoteLine, CreditNoteSnapshot, CreditNoteTax
    from invoicing.pdf.paper import paper_for
    from invoicing.services.pdf import _logo_bytes, _party_from

    organization, customer, invoice = note.organization, note.customer, note.invoice
    return CreditNoteSnapshot(
        id=str(note.pk),
        number=note.number,
        invoice_number=invoice.number or "",
        invoice_issuing_date=invoice.issuing_date,
        reason=note.reason,
        currency=note.currency,
        issuing_date=note.issuing_date,
        created_at=note.created_at,
        locale=customer.document_locale or organization.document_locale or "en",
        organization=_party_from(organization, name=organization.name),
        customer=_party_from(customer, name=customer.display_name),
        description=note.description,
        purchase_order_number=invoice.purchase_order_number,
        logo_png=_logo_bytes(organization),
        invoice_footer=organization.invoice_footer,
        items=tuple(
            CreditNoteLine(
                display_name=item.fee.display_name,
                description=item.fee.description,
                amount_cents=item.amount_cents,
                taxes_rate=item.fee.taxes_rate,
            )
            for item in note.items.all()
        ),
        applied_taxes=tuple(
            CreditNoteTax(
                name=t.tax_name,
                code=t.tax_code,
                rate=t.tax_rate,
                base_amount_cents=t.base_amount_cents,
                amount_cents=t.amount_cents,
            )
            for t in note.applied_taxes.all()
        ),
        coupons_adjustment_amount_cents=note.coupons_adjustment_amount_cents,
        sub_total_excluding_taxes_amount_cents=note.sub_total_excluding_taxes_amount_cents,
        taxes_amount_cents=note.taxes_amount_cents,
        total_amount_cents=note.total_amount_cents,
        credit_amount_cents=note.credit_amount_cents,
        refund_amount_cents=note.refund_amount_cents,
        credit_voided_on=(
            note.voided_at.astimezone(customer.zone).date() if note.voided_at else None
        ),
        paper_size=paper_for(customer.country, organization.pdf_paper_size),
    )
