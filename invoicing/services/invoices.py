"""Writes for invoices: create, finalize (which numbers), void, update."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from invoicing.errors import NotAllowed, NotFound, ValidationFailed
from invoicing.models import (
    AddOn,
    Credit,
    Customer,
    Fee,
    FeeAppliedTax,
    Invoice,
    InvoiceAppliedTax,
    Organization,
    Tax,
    WebhookEvent,
)
from invoicing.money import (
    MAX_AMOUNT_CENTS,
    FeeIn,
    TaxRate,
    compute_totals,
    is_currency,
)
from invoicing.services.catalog import lago_timestamp, taxes_by_codes
from invoicing.services.events import event_record
from invoicing.services.pdf import invoice_pdf_regenerate, invoice_pdf_request


@dataclass(frozen=True)
class FeeInput:
    """One fee of a one-off invoice; ``None`` means "take the add-on's value"."""

    add_on_code: str
    units: Decimal | None = None
    unit_amount_cents: Decimal | None = None
    description: str | None = None
    invoice_display_name: str | None = None
    # A datetime, or the ISO 8601 text a client sent (checked with the other
    # boundary rules, in lago-api's order: after the add-ons are found).
    from_datetime: dt.datetime | str | None = None
    to_datetime: dt.datetime | str | None = None
    tax_codes: list[str] | None = None
    # Plan grouping and billing type, for invoices built by other billing
    # systems (and the demo seed); Lago's one-off API sends none of these.
    billing_type: str = Fee.BillingType.ONE_TIME
    plan_name: str = ""
    plan_id: str = ""
    plan_version: int | None = None
    external_subscription_id: str = ""
    subscription_filters: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CreditInput:
    kind: str  # Credit.Kind
    amount_cents: int
    code: str = ""
    name: str = ""


def _applicable_taxes(
    fee: FeeInput, add_on: AddOn, organization: Organization, inherited: list[Tax]
) -> list[Tax]:
    """A fee's taxes, as lago-api's ``Fees::ApplyTaxesService#applicable_taxes``
    resolves them for an add-on fee: the fee's own ``tax_codes``, else the
    add-on's taxes, else ``inherited`` (the customer's, else the
    organization's defaults).

    An empty ``tax_codes`` counts as absent, as in lago-api
    (``Fees::OneOffService`` applies explicit codes only when ``present?``).
    Where lago-api drops an unknown code silently (and, when every code is
    unknown, falls through to the inherited taxes), this service refuses it
    with ``tax_not_found``, Lago's answer for unknown codes everywhere else:
    an invoice issued without the tax its sender named cannot be edited.
    """
    if fee.tax_codes:
        return taxes_by_codes(organization=organization, codes=fee.tax_codes)
    add_on_taxes = list(add_on.taxes.all())
    return add_on_taxes or inherited


def _iso8601(value: dt.datetime | str) -> dt.datetime | None:
    """``value`` as a datetime if it is one or ISO 8601 text (a date alone is
    its midnight; no offset is UTC, lago-api's ``Time.zone``), else None."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _fee_boundaries(fee: FeeInput) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A fee's period, checked as ``Fees::OneOffService#valid_boundaries?``
    does: neither bound, or both, each valid ISO 8601, ``from <= to``;
    anything else is lago-api's ``{"boundaries": ["values_are_invalid"]}``."""
    if fee.from_datetime is None and fee.to_datetime is None:
        return None, None
    start = _iso8601(fee.from_datetime) if fee.from_datetime is not None else None
    end = _iso8601(fee.to_datetime) if fee.to_datetime is not None else None
    if start is None or end is None or start > end:
        raise ValidationFailed({"boundaries": ["values_are_invalid"]})
    return start, end


# lago-api's invoice metadata rules (``Metadata::InvoiceMetadata``): at most
# COUNT_PER_INVOICE items, keys of up to 20 characters, values of up to 140.
INVOICE_METADATA_MAX_ITEMS = 5
INVOICE_METADATA_MAX_KEY = 20
INVOICE_METADATA_MAX_VALUE = 140


def _check_invoice_metadata(existing: list[dict], incoming: list[dict]) -> None:
    """Each item as lago-api saves it, one after the other
    (``Invoices::Metadata::UpdateService``), failing on the first invalid one
    with that item's errors (``{"key": [...]}``, ``{"value": [...]}``): keys
    present and unique on the invoice (items not sent any more are removed
    only after all are saved, so a key may not be reused without its item's
    id), values present; a value's length is checked only when it changes."""
    items = {item["id"]: dict(item) for item in existing}
    for payload in incoming:
        key, value = payload.get("key") or "", payload.get("value") or ""
        current = items.get(payload.get("id") or "")
        errors: dict[str, list[str]] = {}
        if not key.strip():
            errors["key"] = ["value_is_mandatory"]
        elif len(key) > INVOICE_METADATA_MAX_KEY:
            errors["key"] = ["value_is_too_long"]
        elif key in [m["key"] for m in items.values() if m is not current]:
            errors["key"] = ["value_already_exist"]
        if not value.strip():
            errors["value"] = ["value_is_mandatory"]
        elif len(value) > INVOICE_METADATA_MAX_VALUE and (
            current is None or current["value"] != value
        ):
            errors["value"] = ["value_is_too_long"]
        if errors:
            raise ValidationFailed(errors)
        if current is None:
            new_id = f"new-{len(items)}"
            items[new_id] = {"id": new_id, "key": key, "value": value}
        else:
            current.update(key=key, value=value)


@transaction.atomic
def invoice_create(
    *,
    organization: Organization,
    external_customer_id: str | None,
    fees: list[FeeInput],
    currency: str | None = None,
    status: str = Invoice.Status.FINALIZED,
    purchase_order_number: str = "",
    net_payment_term: int | None = None,
    metadata: list[dict[str, Any]] | None = None,
    credits: list[CreditInput] = (),
    invoice_type: str = Invoice.InvoiceType.ONE_OFF,
    billing_entity_code: str | None = None,
) -> Invoice:
    """Create a one-off invoice from add-ons, ``finalized`` unless ``draft`` is
    asked; finalizing numbers it (see ``invoice_finalize``). A
    ``billing_entity_code`` must name the organization's billing entity."""
    customer = (
        Customer.objects.select_for_update()
        .filter(organization=organization, external_id=external_customer_id)
        .first()
    )
    if customer is None:
        raise NotFound("customer")
    if not fees:
        raise NotFound("fees")
    codes = {f.add_on_code for f in fees}
    add_ons = {
        a.code: a
        for a in AddOn.objects.filter(organization=organization, code__in=codes).prefetch_related(
            "taxes"
        )
    }
    if codes - add_ons.keys():
        raise NotFound("add_on")
    # ``Invoices::CreateOneOffService#resolve_billing_entity``, after the add-ons.
    if billing_entity_code and billing_entity_code != organization.billing_entity_code:
        raise NotFound("billing_entity")
    if metadata:
        if len(metadata) > INVOICE_METADATA_MAX_ITEMS:
            raise ValidationFailed({"metadata": ["invalid_count"]})
        _check_invoice_metadata([], metadata)

    currency = currency or customer.currency or add_ons[fees[0].add_on_code].amount_currency
    if not is_currency(currency):
        raise ValidationFailed({"currency": ["value_is_invalid"]})
    if customer.currency and customer.currency != currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    if not customer.currency:
        customer.currency = currency
        customer.save(update_fields=["currency", "updated_at"])

    # Lago's hierarchy below the fee and the add-on: the customer's taxes if
    # any, else the organization's defaults.
    inherited = list(customer.taxes.all()) or list(
        Tax.objects.filter(organization=organization, applied_to_organization=True)
    )
    resolved: list[tuple[FeeInput, AddOn, list[Tax], Decimal, Decimal]] = []
    windows: list[tuple[dt.datetime | None, dt.datetime | None]] = []
    for index, fee in enumerate(fees):
        add_on = add_ons[fee.add_on_code]
        units = fee.units if fee.units is not None else Decimal(1)
        unit_amount = (
            fee.unit_amount_cents
            if fee.unit_amount_cents is not None
            else Decimal(add_on.amount_cents)
        )
        windows.append(_fee_boundaries(fee))
        if abs(units * unit_amount) > MAX_AMOUNT_CENTS:
            raise ValidationFailed({f"fees.{index}.unit_amount_cents": ["value_is_out_of_range"]})
        resolved.append((fee, add_on, _applicable_taxes(fee, add_on, organization, inherited),
                         units, unit_amount))  # fmt: skip

    credit_sums = {kind: 0 for kind in Credit.Kind.values}
    for credit in credits:
        credit_sums[credit.kind] += credit.amount_cents
    coupons = [c for c in credits if c.kind == Credit.Kind.COUPON]
    totals = compute_totals(
        [
            FeeIn(
                units=units,
                unit_amount_cents=unit_amount,
                taxes=tuple(TaxRate(code=t.code, name=t.name, rate=t.rate) for t in taxes),
            )
            for _, _, taxes, units, unit_amount in resolved
        ],
        coupons=[c.amount_cents for c in coupons],
        credit_notes_cents=credit_sums[Credit.Kind.CREDIT_NOTE],
        prepaid_cents=credit_sums[Credit.Kind.PREPAID],
    )
    if abs(totals.sub_total_including_taxes_amount_cents) > MAX_AMOUNT_CENTS:
        raise ValidationFailed({"fees": ["value_is_out_of_range"]})

    term = net_payment_term
    if term is None:
        term = customer.net_payment_term
    if term is None:
        term = organization.net_payment_term
    issuing_date = customer.today()
    invoice = Invoice.objects.create(
        organization=organization,
        customer=customer,
        invoice_type=invoice_type,
        status=Invoice.Status.DRAFT,
        currency=currency,
        issuing_date=issuing_date,
        payment_due_date=issuing_date + dt.timedelta(days=term),
        net_payment_term=term,
        purchase_order_number=purchase_order_number or "",
        metadata=_invoice_metadata([], metadata or []),
        **totals.invoice_amounts(),
    )

    tax_by_code = {t.code: t for _, _, taxes, _, _ in resolved for t in taxes}
    fee_rows = []
    fee_tax_rows = []
    for position, ((fee, add_on, _taxes, units, unit_amount), out, window) in enumerate(
        zip(resolved, totals.fees, windows, strict=True)
    ):
        row = Fee(
            invoice=invoice,
            position=position,
            add_on=add_on,
            item_type="add_on",
            item_code=add_on.code,
            item_name=add_on.name,
            invoice_display_name=(
                fee.invoice_display_name
                if fee.invoice_display_name is not None
                else add_on.invoice_display_name
            ),
            description=fee.description if fee.description is not None else add_on.description,
            units=units,
            unit_amount_cents=unit_amount,
            amount_cents=out.amount_cents,
            precise_amount_cents=out.precise_amount_cents,
            precise_coupons_amount_cents=out.precise_coupons_amount_cents,
            taxes_rate=out.taxes_rate,
            taxes_amount_cents=out.taxes_amount_cents,
            taxes_precise_amount_cents=out.taxes_precise_amount_cents,
            from_datetime=window[0],
            to_datetime=window[1],
            billing_type=fee.billing_type,
            plan_name=fee.plan_name,
            plan_id=fee.plan_id,
            plan_version=fee.plan_version,
            external_subscription_id=fee.external_subscription_id,
            subscription_filters=fee.subscription_filters,
        )
        fee_rows.append(row)
        for fee_tax in out.taxes:
            tax = tax_by_code[fee_tax.tax.code]
            fee_tax_rows.append(
                FeeAppliedTax(
                    fee=row,
                    tax=tax,
                    amount_cents=fee_tax.amount_cents,
                    precise_amount_cents=fee_tax.precise_amount_cents,
                    **_tax_copy(tax),
                )
            )
    # Batched: an invoice may carry thousands of fees.
    Fee.objects.bulk_create(fee_rows, batch_size=1000)
    FeeAppliedTax.objects.bulk_create(fee_tax_rows, batch_size=1000)
    InvoiceAppliedTax.objects.bulk_create(
        [
            InvoiceAppliedTax(
                invoice=invoice,
                tax=tax_by_code[applied.tax.code],
                amount_cents=applied.amount_cents,
                fees_amount_cents=applied.fees_amount_cents,
                **_tax_copy(tax_by_code[applied.tax.code]),
            )
            for applied in totals.applied_taxes
        ]
    )
    Credit.objects.bulk_create(
        [
            Credit(invoice=invoice, kind=c.kind, code=c.code, name=c.name, amount_cents=amount)
            for c, amount in _applied_credit_amounts(credits, totals)
        ]
    )
    if status == Invoice.Status.FINALIZED:
        _finalize_locked(invoice)
    return invoice


def _tax_copy(tax: Tax) -> dict[str, Any]:
    """What an invoice keeps of a tax, so that editing the tax later never
    changes an issued invoice."""
    return {
        "tax_code": tax.code,
        "tax_name": tax.name,
        "tax_rate": tax.rate,
        "tax_description": tax.description,
        "vat_category_code": tax.vat_category_code,
        "vat_exemption_reason": tax.vat_exemption_reason,
        "vat_exemption_reason_code": tax.vat_exemption_reason_code,
    }


def _applied_credit_amounts(credits, totals) -> list[tuple[CreditInput, int]]:
    """What each credit actually took, after the caps of ``compute_totals``."""
    taken = totals.credits_taken([(c.kind, c.amount_cents) for c in credits])
    return [(c, amount) for c, amount in zip(credits, taken, strict=True) if amount]


def _invoice_metadata(existing: list[dict], incoming: list[dict]) -> list[dict]:
    by_id = {item["id"]: item for item in existing}
    now = lago_timestamp(timezone.now())
    result = []
    for item in incoming:
        kept = by_id.get(item.get("id") or "")
        result.append(
            {
                "id": kept["id"] if kept else str(uuid.uuid4()),
                "key": item["key"],
                "value": item["value"],
                "display_in_invoice": bool(
                    item.get("display_in_invoice", kept.get("display_in_invoice") if kept else True)
                ),
                "created_at": kept["created_at"] if kept else now,
            }
        )
    return result


def _format_number(organization: Organization, scope: str, sequence: int) -> str:
    if organization.numbering_scheme == Organization.NumberingScheme.SEQUENCE:
        prefix = organization.number_prefix
        return f"{prefix}-{sequence:06d}" if prefix else f"{sequence:06d}"
    return f"{scope}-{sequence:06d}"


def _number_scope(organization: Organization, issuing_date: dt.date) -> str:
    if organization.numbering_scheme == Organization.NumberingScheme.SEQUENCE:
        return f"seq:{organization.number_prefix}"
    return issuing_date.strftime("%y%m%d")


def _finalize_locked(invoice: Invoice) -> None:
    """Number and finalize ``invoice`` inside the caller's transaction.

    The organization row is the lock that serializes numbering: the UPDATE is
    the first statement, so on PostgreSQL concurrent finalizations of one
    organization queue on its row lock (and on SQLite on the write lock), and
    the max() below sees every number committed before. A rolled-back
    finalization gives its number back, so the sequence has no gaps.
    """
    Organization.objects.filter(pk=invoice.organization_id).update(
        last_sequential_id=F("last_sequential_id") + 1
    )
    organization = Organization.objects.get(pk=invoice.organization_id)
    invoice.organization = organization
    issuing_date = invoice.customer.today()
    scope = _number_scope(organization, issuing_date)
    last = Invoice.objects.filter(organization=organization, number_scope=scope).aggregate(
        m=Max("number_sequence")
    )["m"]
    sequence = (last or 0) + 1
    invoice.sequential_id = organization.last_sequential_id
    invoice.number_scope = scope
    invoice.number_sequence = sequence
    invoice.number = _format_number(organization, scope, sequence)
    invoice.issuing_date = issuing_date
    invoice.payment_due_date = issuing_date + dt.timedelta(days=invoice.net_payment_term)
    invoice.status = Invoice.Status.FINALIZED
    invoice.finalized_at = timezone.now()
    # Nothing to pay: lago-api finalizes such an invoice as paid
    # (``Invoices::CreateOneOffService``: ``total_amount_cents.positive? ?
    # :pending : :succeeded``) and, where a payment would be attempted,
    # announces it with ``invoice.payment_status_updated``
    # (``Invoices::Payments::CreateService``).
    settled = invoice.total_amount_cents <= 0 and (
        invoice.payment_status != Invoice.PaymentStatus.SUCCEEDED
    )
    if settled:
        invoice.payment_status = Invoice.PaymentStatus.SUCCEEDED
    invoice.save()
    event_record(invoice=invoice, event_type=WebhookEvent.EventType.INVOICE_CREATED)
    if settled:
        event_record(
            invoice=invoice, event_type=WebhookEvent.EventType.INVOICE_PAYMENT_STATUS_UPDATED
        )
    # Every finalized invoice gets its PDF without anybody asking.
    invoice_pdf_request(invoice=invoice)


def _locked_invoice(invoice: Invoice) -> Invoice:
    # of=("self",): lock the invoice row only, not the joined customer and
    # organization rows; numbering takes its own lock on the organization.
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer", "organization")
        .get(pk=invoice.pk)
    )


@transaction.atomic
def invoice_finalize(*, invoice: Invoice) -> Invoice:
    locked = _locked_invoice(invoice)
    if locked.status != Invoice.Status.DRAFT:
        # Lago looks finalize targets up among drafts only.
        raise NotFound("invoice")
    _finalize_locked(locked)
    return locked


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> Invoice:
    locked = _locked_invoice(invoice)
    if locked.status != Invoice.Status.FINALIZED:
        raise NotAllowed("only a finalized invoice can be voided", code="not_voidable")
    locked.status = Invoice.Status.VOIDED
    locked.voided_at = timezone.now()
    locked.save(update_fields=["status", "voided_at", "updated_at"])
    event_record(invoice=locked, event_type=WebhookEvent.EventType.INVOICE_VOIDED)
    # The stored PDF must now carry the VOID mark: a new version replaces it.
    invoice_pdf_regenerate(invoice=locked)
    return locked


@transaction.atomic
def invoice_update(
    *,
    invoice: Invoice,
    payment_status: str | None = None,
    metadata: list[dict[str, Any]] | None = None,
) -> Invoice:
    """Change an invoice's payment status and metadata, refused in the order
    lago-api refuses (``Api::V1::InvoicesController#update``, then
    ``Invoices::UpdateService``): a voided invoice, metadata on a draft (even
    an empty list), an unknown payment status, more than five metadata items,
    a payment status on a draft, then each metadata item's own rules."""
    locked = _locked_invoice(invoice)
    if locked.status == Invoice.Status.VOIDED:
        raise NotAllowed("a voided invoice cannot change", code="update_on_voided_invoice")
    if locked.status == Invoice.Status.DRAFT and metadata is not None:
        raise NotAllowed("a draft invoice has no metadata", code="metadata_on_draft_invoice")
    if payment_status is not None and payment_status not in Invoice.PaymentStatus.values:
        raise ValidationFailed({"payment_status": ["value_is_invalid"]})
    if metadata and len(metadata) > INVOICE_METADATA_MAX_ITEMS:
        raise ValidationFailed({"metadata": ["invalid_count"]})
    payment_changed = payment_status is not None and payment_status != locked.payment_status
    if payment_changed:
        if locked.status == Invoice.Status.DRAFT:
            raise NotAllowed(
                "a draft invoice has no payment status",
                code="payment_status_update_on_draft_invoice",
            )
        locked.payment_status = payment_status
        locked.total_paid_amount_cents = (
            locked.total_amount_cents if payment_status == Invoice.PaymentStatus.SUCCEEDED else 0
        )
    if metadata is not None:
        _check_invoice_metadata(locked.metadata, metadata)
        locked.metadata = _invoice_metadata(locked.metadata, metadata)
    locked.save()
    if payment_changed:
        event_record(
            invoice=locked, event_type=WebhookEvent.EventType.INVOICE_PAYMENT_STATUS_UPDATED
        )
    return locked


@transaction.atomic
def invoice_delete(*, invoice: Invoice) -> Invoice:
    """Delete a draft as lago-api's ``Invoices::DeleteService`` does: the row
    stays, with status ``deleted``, hidden from every read; an
    ``invoice.deleted`` webhook tells the endpoints. Anything but a draft is
    refused (``not_deletable``): an issued invoice never changes."""
    locked = _locked_invoice(invoice)
    if locked.status != Invoice.Status.DRAFT:
        raise NotAllowed("only a draft invoice can be deleted", code="not_deletable")
    locked.status = Invoice.Status.DELETED
    locked.save(update_fields=["status", "updated_at"])
    event_record(invoice=locked, event_type=WebhookEvent.EventType.INVOICE_DELETED)
    return locked
