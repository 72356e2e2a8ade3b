"""Writes for invoices: create, finalize (which numbers), void, update."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import Model
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
    WebhookEndpoint,
    WebhookEvent,
)
from invoicing.money import (
    MAX_AMOUNT_CENTS,
    FeeIn,
    TaxRate,
    compute_totals,
    is_currency,
)
from invoicing.representations.formats import lago_datetime
from invoicing.selectors import (
    _columns,
    _in_one_round_trip,
    _param,
    _preparing,
    _relate,
    _run_prepared,
    _table,
    parse_invoice_uuid,
)
from invoicing.services.credit_balance import (
    CREDITED_FIELDS,
    credit_notes_apply,
    credit_notes_statement,
)
from invoicing.services.events import event_record
from invoicing.services.pdf import einvoice_check, invoice_pdf_regenerate, invoice_pdf_request


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
    fee: FeeInput, add_on_taxes: list[Tax], named: dict[str, Tax], inherited: list[Tax]
) -> list[Tax]:
    """A fee's taxes, as lago-api's ``Fees::ApplyTaxesService#applicable_taxes``
    resolves them for an add-on fee: the fee's own ``tax_codes``, else the
    add-on's taxes, else ``inherited`` (the customer's, else the
    organization's defaults). ``named`` holds the organization's taxes of every
    code the fees name, read with the rest (``_create_reads``).

    An empty ``tax_codes`` counts as absent, as in lago-api
    (``Fees::OneOffService`` applies explicit codes only when ``present?``).
    Where lago-api drops an unknown code silently (and, when every code is
    unknown, falls through to the inherited taxes), this service refuses it
    with ``tax_not_found``, Lago's answer for unknown codes everywhere else:
    an invoice issued without the tax its sender named cannot be edited.
    """
    if fee.tax_codes:
        # ``catalog.taxes_by_codes``'s rule, on rows already read: every code
        # known, each tax once, in the order named.
        if any(code not in named for code in fee.tax_codes):
            raise NotFound("tax")
        return [named[code] for code in dict.fromkeys(fee.tax_codes)]
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
    organization: Organization | None = None,
    organization_id=None,
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
    ``billing_entity_code`` must name the organization's billing entity.

    The organization, or only its id (an API request, which has not read it):
    its row is then read with the customer's. The invoice comes back with
    everything its Lago body shows (customer and organization, fees with
    their taxes, credits, applied taxes), as written: nothing is read back.
    Three round trips before the commit whatever the invoice holds, two for a
    draft (see "Round trips" below)."""
    if organization is None and organization_id is None:
        raise TypeError("invoice_create needs the organization or its id")
    finalized = status == Invoice.Status.FINALIZED
    reads = _create_reads(
        organization.pk if organization is not None else organization_id,
        organization,
        external_customer_id,
        fees,
        with_endpoints=finalized,
    )
    customer = reads.customer
    if customer is None:
        raise NotFound("customer")
    organization = reads.organization
    if not fees:
        raise NotFound("fees")
    add_ons = reads.add_ons
    if any(f.add_on_code not in add_ons for f in fees):
        raise NotFound("add_on")
    # ``Invoices::CreateOneOffService#resolve_billing_entity``, after the add-ons.
    if billing_entity_code and billing_entity_code != organization.billing_entity_code:
        raise NotFound("billing_entity")
    if metadata:
        if len(metadata) > INVOICE_METADATA_MAX_ITEMS:
            raise ValidationFailed({"metadata": ["invalid_count"]})
        _check_invoice_metadata([], metadata)

    writes = Writes()
    currency = currency or customer.currency or add_ons[fees[0].add_on_code].amount_currency
    if not is_currency(currency):
        raise ValidationFailed({"currency": ["value_is_invalid"]})
    if customer.currency and customer.currency != currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    if not customer.currency:
        customer.currency = currency
        _touch(customer)
        writes.update(customer, ("currency", "updated_at"))

    # Lago's hierarchy below the fee and the add-on: the customer's taxes if
    # any, else the organization's defaults.
    inherited = reads.customer_taxes or reads.organization_taxes
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
        taxes = _applicable_taxes(
            fee, reads.add_on_taxes.get(add_on.pk, []), reads.named_taxes, inherited
        )
        resolved.append((fee, add_on, taxes, units, unit_amount))

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
    invoice = Invoice(
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
    # Made, then finalized, then last updated, in that order, as when the
    # draft was written first and finalized after.
    _stamp(invoice)
    noted: list[Credit] = []
    settled = False
    if finalized:
        # Credited and numbered before it is written, so that it is written
        # once, finalized.
        noted, settled = _number(invoice, organization, issuing_date, writes)
        _touch(invoice)
    writes.insert([invoice])

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
            item_description=add_on.description,
            unit_code=add_on.unit_code,
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
        _as_stored(row)
        fee_rows.append(row)
        row_taxes = []
        for fee_tax in out.taxes:
            tax = tax_by_code[fee_tax.tax.code]
            row_taxes.append(
                FeeAppliedTax(
                    fee=row,
                    tax=tax,
                    amount_cents=fee_tax.amount_cents,
                    precise_amount_cents=fee_tax.precise_amount_cents,
                    **_tax_copy(tax),
                )
            )
            _as_stored(row_taxes[-1])
        _prefetched(row, "applied_taxes", row_taxes)
        fee_tax_rows += row_taxes
    writes.insert(fee_rows)
    writes.insert(fee_tax_rows)
    applied_taxes = [
        InvoiceAppliedTax(
            invoice=invoice,
            tax=tax_by_code[applied.tax.code],
            amount_cents=applied.amount_cents,
            fees_amount_cents=applied.fees_amount_cents,
            **_tax_copy(tax_by_code[applied.tax.code]),
        )
        for applied in totals.applied_taxes
    ]
    _insert_in_database_order(writes, applied_taxes, "tax_code")
    credit_rows = [
        Credit(invoice=invoice, kind=c.kind, code=c.code, name=c.name, amount_cents=amount)
        for c, amount in _applied_credit_amounts(credits, totals)
    ]
    writes.insert(credit_rows)
    _prefetched(invoice, "fees", fee_rows)
    _prefetched(invoice, "applied_taxes", applied_taxes)
    _prefetched(invoice, "credits", credit_rows + noted)
    if finalized:
        # Before any write: the numbering's bump rolls back with the refusal.
        einvoice_check(invoice=invoice)
        _finalized(invoice, writes, reads.endpoints, settled=settled)
    writes.run()
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
    now = lago_datetime(timezone.now())
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


# What finalizing changes on an invoice's row (``_number`` sets them).
FINALIZING_FIELDS = (
    "sequential_id", "number_scope", "number_sequence", "number", "issuing_date",
    "payment_due_date", "status", "finalized_at", "payment_status", "updated_at",
)  # fmt: skip


def _number(
    invoice: Invoice, organization: Organization, issuing_date: dt.date, writes: Writes
) -> tuple[list[Credit], bool]:
    """Take the customer's credit notes into ``invoice`` (services/credit_balance.py),
    then number it and mark it finalized (in memory and into ``writes``: the
    caller writes the invoice's row), inside the caller's transaction. Returns
    the credits made and whether it was settled (below).

    The organization row is the lock that serializes numbering: its UPDATE
    is the first statement after the credit notes' read (which locks them), so
    on PostgreSQL concurrent finalizations of one organization queue on its
    row lock (and on SQLite on the write lock). Both go in one round trip. The
    UPDATE takes the next organization-wide sequential id and, when this
    invoice's scope is the one the organization numbered in last, the next
    number in it: one statement, however many invoices the scope has. The
    first number in another scope (a new day, or a scheme changed since the
    request read it) is one more than the scope's last invoice, read by a
    second statement under the lock, which sees every number committed before.
    A rolled-back finalization gives its numbers back, so the sequence has no
    gaps.
    """
    guess = _number_scope(organization, issuing_date)
    org_id = _param(Organization, "id", organization.pk)
    credit = credit_notes_statement(invoice)
    statements = [(_bump_sql(), [guess, org_id], True)]
    if credit is not None:
        statements.insert(0, credit)
    *read, bumped = _run_together(statements)
    credits = credit_notes_apply(invoice=invoice, rows=read[0], writes=writes) if read else []
    if not bumped:
        raise Organization.DoesNotExist(organization.pk)
    # The row as locked: the sequential id just taken, the scheme numbering now.
    last_id, organization.numbering_scheme, organization.number_prefix, sequence = bumped[0]
    organization.last_sequential_id = last_id
    scope = _number_scope(organization, issuing_date)
    if scope != guess or not sequence:
        start = (_scope_start_sql(), [scope, scope, org_id, org_id], True)
        [[(sequence,)]] = _run_together([start])
    organization.last_number_scope, organization.last_number_sequence = scope, sequence
    invoice.sequential_id = last_id
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
    return credits, settled


def _finalized(
    invoice: Invoice, writes: Writes, endpoints: list[WebhookEndpoint], *, settled: bool
) -> None:
    """What a finalization records besides the row, with the row's writes:
    its events (and their deliveries) and its PDF job. ``endpoints``: the
    organization's enabled webhook endpoints."""
    event_record(
        invoice=invoice,
        event_type=WebhookEvent.EventType.INVOICE_CREATED,
        writes=writes,
        endpoints=endpoints,
    )
    if settled:
        event_record(
            invoice=invoice,
            event_type=WebhookEvent.EventType.INVOICE_PAYMENT_STATUS_UPDATED,
            writes=writes,
            endpoints=endpoints,
        )
    # Every finalized invoice gets its PDF without anybody asking.
    invoice_pdf_request(invoice=invoice, writes=writes)


def _locked_invoice(invoice: Invoice) -> Invoice:
    # of=("self",): lock the invoice row only, not the joined customer and
    # organization rows; numbering takes its own lock on the organization.
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer", "organization")
        .get(pk=invoice.pk)
    )


def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """Finalize this draft (see ``invoice_finalize_draft``, whose transaction
    it is)."""
    return invoice_finalize_draft(
        organization_id=invoice.organization_id, invoice_id=str(invoice.pk)
    )


@transaction.atomic
def invoice_finalize_draft(*, organization_id, invoice_id: str) -> Invoice:
    """Finalize the organization's draft with this id (in any of its public
    spellings): number it, record ``invoice.created``, ask for its PDF. Lago
    looks finalize targets up among drafts only: anything else is NotFound.

    The invoice comes back as ``invoice_create`` returns one: with everything
    its Lago body shows, its organization too. Three round trips before the
    commit (see "Round trips" below): the draft locked and read with its
    lines and organization, the numbering, the writes."""
    pk = parse_invoice_uuid(invoice_id)
    if pk is None:
        raise NotFound("invoice")
    loaded = _finalize_reads(organization_id, pk)
    if loaded is None:
        raise NotFound("invoice")
    invoice, endpoints = loaded
    einvoice_check(invoice=invoice)
    writes = Writes()
    _, settled = _number(invoice, invoice.organization, invoice.customer.today(), writes)
    _touch(invoice)
    writes.update(invoice, (*FINALIZING_FIELDS, *CREDITED_FIELDS))
    _finalized(invoice, writes, endpoints, settled=settled)
    writes.run()
    return invoice


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


# ------------------------------------------------------------------ round trips
#
# Create and finalize are the month-end hot path. Each is three round trips
# before the commit, whatever the invoice holds: the reads (the customer or
# the draft, locked, with all the invoice is made from and the organization's
# webhook endpoints), the numbering under the organization's row lock with
# the customer's credit notes read and locked (``_number``), and every write
# of the change (invoice, fees, taxes, credits, events and deliveries, PDF
# job: ``Writes``), each round trip several statements (``_run_together``).
# The SQL is written once per process from the models' metadata, as the
# hot-path reads of ``selectors`` are, rather than compiled by the ORM at each
# request; rows are inserted many to a statement;
# and the answer is rendered from the rows the request wrote, not read back.
# A one-fee create went from 29 queries and about 25-28 ms of CPU in the
# process + 7 ms in PostgreSQL to 6 queries (auth, BEGIN and COMMIT included)
# and 6-7 ms + 2.6-3.1 ms; a finalize from 24 queries, 18 + 5.7 ms, to 6 and
# 5-5.6 + 3.1-3.5 ms; with prepared statements (``_preparing``) the database's
# share falls to about 1.8 ms for either (``bench/hotpaths.py --only
# create,finalize``, with and without ``--prepare-threshold 5``, on the 2-core
# machines, shared).

# Rows per INSERT statement: an invoice may carry thousands of fees, and a
# driver binding on the server takes at most 65,535 parameters a statement.
INSERT_ROWS = 1000


def _run_together(
    statements: Sequence[tuple[str, list, bool]], *, writes: bool = False
) -> list[list[tuple]]:
    """The rows of each statement (SQL, parameters, and whether it returns
    rows: fetching from one that does not is an error), in one round trip
    where the driver allows it, else one by one. Run together, each statement
    still sees what the ones before it did and, under READ COMMITTED, takes
    its own snapshot once they are done.

    Where the connection prepares statements (``_preparing``), each is
    prepared once per connection and the round trip is a pipeline of them
    (the transaction's BEGIN too): PostgreSQL then neither parses nor plans
    them again, which was most of what it spent on a create. Otherwise, on
    psycopg 3's client-side binding cursor (``selectors._in_one_round_trip``),
    they are one query of several statements; ``writes`` (INSERT and UPDATE
    statements, those returning rows with RETURNING) are then also merged
    into fewer statements on PostgreSQL (``_as_one_statement``)."""
    raw = _preparing()
    if raw is not None:
        return _run_prepared(raw, statements)
    with connection.cursor() as cursor:
        if len(statements) < 2 or not _in_one_round_trip(cursor):
            results = []
            for sql, params, rows in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall() if rows else [])
            return results
        # Each statement bound on its own (psycopg caches the parse of a short
        # statement, not of the long text they make together), then sent as
        # one query, which has no parameters left to bind.
        bound = [cursor.mogrify(sql, params) for sql, params, _ in statements]
        if writes and connection.vendor == "postgresql":
            groups = _as_one_statement(bound, [rows for _, _, rows in statements])
        else:
            groups = [[index] for index in range(len(statements))]
        cursor.execute("; ".join(_with([bound[index] for index in group]) for group in groups))
        results: list[list[tuple]] = [[] for _ in statements]
        for number, group in enumerate(groups):
            if number:
                cursor.nextset()
            if statements[group[-1]][2]:
                results[group[-1]] = cursor.fetchall()
        return results


def _as_one_statement(bound: list[str], rows: list[bool]) -> list[list[int]]:
    """Writes grouped into single statements: each that returns no rows joins
    the next one (as a data-modifying WITH query), up to one that returns rows
    or the last. PostgreSQL parses, plans and runs each statement with a fixed
    cost (most of what a one-row INSERT costs it); data-modifying WITH queries
    run exactly once, all of them, whatever the main statement reads of them.
    A statement with WITH queries of its own stays alone."""
    groups: list[list[int]] = []
    current: list[int] = []
    for index, sql in enumerate(bound):
        if sql.startswith("WITH "):
            groups += [current, [index]] if current else [[index]]
            current = []
            continue
        current.append(index)
        if rows[index]:
            groups.append(current)
            current = []
    return groups + [current] if current else groups


def _with(statements: list[str]) -> str:
    """The last statement, with the others before it as its WITH queries."""
    if len(statements) == 1:
        return statements[0]
    queries = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(statements[:-1]))
    return f"WITH {queries} {statements[-1]}"


class Writes:
    """The writes of one change, sent together when ``run`` (see
    ``_run_together``), inside the caller's transaction; each statement may
    have a callback, given the rows it returned. The other services a change
    calls (``event_record``, ``invoice_pdf_request``) add theirs to it."""

    def __init__(self) -> None:
        self._statements: list[tuple[str, list, Callable[[list[tuple]], None] | None]] = []

    def add(self, sql: str, params: list, then: Callable[[list[tuple]], None] | None = None):
        """A statement; one with ``then`` returns rows (RETURNING), given to it."""
        self._statements.append((sql, params, then))

    def insert(
        self,
        objs: Sequence[Model],
        *,
        ignore_conflicts: bool = False,
        then: Callable[[list[tuple]], None] | None = None,
    ) -> None:
        """Insert ``objs`` (instances of one model) as ``bulk_create`` would.
        With ``ignore_conflicts``, a row that would break a unique constraint
        is skipped, and ``then`` gets the primary keys of the rows inserted."""
        for start in range(0, len(objs), INSERT_ROWS):
            sql, params = _insert_statement(objs[start : start + INSERT_ROWS])
            if ignore_conflicts:
                pk = connection.ops.quote_name(type(objs[0])._meta.pk.column)
                sql += f" ON CONFLICT DO NOTHING RETURNING {pk}"
            self.add(sql, params, then)

    def update(self, obj: Model, names: Sequence[str]) -> None:
        """Write these fields of ``obj``'s row as they are in memory (an
        ``auto_now`` field too: ``_touch`` sets it)."""
        sql, fields = _update_sql(type(obj), tuple(names))
        db = connections[DEFAULT_DB_ALIAS]
        pk = type(obj)._meta.pk
        params = [f.get_db_prep_save(getattr(obj, f.attname), db) for f in fields]
        self.add(sql, [*params, pk.get_db_prep_value(obj.pk, db)])

    def run(self) -> None:
        statements, self._statements = self._statements, []
        if not statements:
            return
        results = _run_together(
            [(sql, params, then is not None) for sql, params, then in statements], writes=True
        )
        for (_, _, then), rows in zip(statements, results, strict=True):
            if then is not None:
                then(rows)


@functools.cache
def _insert_parts(model: type[Model]) -> tuple[str, str, tuple]:
    q = connection.ops.quote_name
    fields = tuple(model._meta.concrete_fields)
    head = (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) VALUES "
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return head, row, tuple((f.attname, _stored_as_is(f), f.get_db_prep_save) for f in fields)


# The types of value each kind of column is stored from unchanged on
# PostgreSQL: ``get_db_prep_save`` gives such a value back as it is (it is a
# dozen calls per column, for the 100 or so columns of a create). Exact
# classes: a subclass (encrypted text) prepares its own way.
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.BooleanField: bool,
    models.UUIDField: uuid.UUID,
    models.DecimalField: Decimal,
    models.DateField: dt.date,
}


def _stored_as_is(f) -> frozenset:
    """The exact types of value ``f`` stores as they are (None included),
    none if its values all need preparing (JSON, timestamps, which the ORM
    checks for a time zone) or the database is not PostgreSQL."""
    if connection.vendor != "postgresql":
        return frozenset()
    kind = _AS_IS.get(type(f.target_field if f.many_to_one else f))
    return frozenset({kind, type(None)}) if kind else frozenset()


def _insert_statement(objs: Sequence[Model]) -> tuple[str, list]:
    """One INSERT of every column of ``objs``, valued as the ORM would store
    them; their timestamps not set yet are set (``_stamp``) and they count as
    saved from now on."""
    head, row, columns = _insert_parts(type(objs[0]))
    # The connection itself, not the proxy that looks it up at each use.
    db = connections[DEFAULT_DB_ALIAS]
    params: list = []
    for obj in objs:
        _stamp(obj)
        for attname, as_is, prepare in columns:
            value = getattr(obj, attname)
            params.append(value if type(value) in as_is else prepare(value, db))
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS
    return head + ", ".join([row] * len(objs)), params


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    q = connection.ops.quote_name
    fields = tuple(model._meta.get_field(name) for name in names)
    assignments = ", ".join(f"{q(f.column)} = %s" for f in fields)
    return (
        f"UPDATE {q(model._meta.db_table)} SET {assignments} WHERE {q(model._meta.pk.column)} = %s",
        fields,
    )


def _insert_in_database_order(writes: Writes, objs: list[Model], name: str) -> None:
    """Insert ``objs`` and sort the list by ``name`` as the database sorts
    them, in the collation of the column (which Python's order of strings
    need not be): the order a read of the model would give them in. On
    PostgreSQL the insert itself returns that order."""
    if len(objs) < 2 or connection.vendor != "postgresql":
        # SQLite compares text byte by byte (BINARY): Python's order.
        objs.sort(key=lambda obj: getattr(obj, name))
        writes.insert(objs)
        return
    q = connection.ops.quote_name
    model = type(objs[0])
    pk, column = q(model._meta.pk.column), q(model._meta.get_field(name).column)
    sql, params = _insert_statement(objs)

    def reorder(rows: list[tuple]) -> None:
        position = {row[0]: index for index, row in enumerate(rows)}
        objs.sort(key=lambda obj: position[obj.pk])

    writes.add(
        f"WITH inserted AS ({sql} RETURNING {pk}, {column}) "
        f"SELECT {pk} FROM inserted ORDER BY {column}",
        params,
        reorder,
    )


@functools.cache
def _auto_fields(model: type[Model]) -> tuple[tuple, tuple]:
    """(fields set when a row is made, fields set whenever it is saved)."""
    fields = model._meta.concrete_fields
    made = tuple(
        f for f in fields if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
    )
    return made, tuple(f for f in made if getattr(f, "auto_now", False))


def _stamp(obj: Model) -> None:
    """Set ``obj``'s creation timestamps, unless set already: as the ORM sets
    them at the insert, but before, for what renders the row first (an
    event's payload shows the invoice's)."""
    for f in _auto_fields(type(obj))[0]:
        if getattr(obj, f.attname) is None:
            f.pre_save(obj, True)


def _touch(obj: Model) -> None:
    """Set ``obj``'s ``auto_now`` timestamps, as saving it would."""
    for f in _auto_fields(type(obj))[1]:
        f.pre_save(obj, False)


def _prefetched(obj: Model, name: str, items: list) -> None:
    """Leave ``items`` as ``obj.<name>.all()`` (a reverse foreign key whose
    related name is ``name``), as ``prefetch_related`` leaves what it read:
    the manager's queryset, its results filled in, so that anything asked of
    it beyond them still queries the right rows."""
    queryset = getattr(obj, name).get_queryset()
    queryset._result_cache = items
    queryset._prefetch_done = True
    obj.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


@functools.cache
def _decimal_fields(model: type[Model]) -> tuple:
    return tuple(
        (f, Decimal(1).scaleb(-f.decimal_places), Context(prec=f.max_digits))
        for f in model._meta.concrete_fields
        if isinstance(f, models.DecimalField)
    )


def _as_stored(obj: Model) -> None:
    """Round ``obj``'s decimals to their columns' scale as the database stores
    them: what a read of the row would give, and the answer renders the row
    as written. PostgreSQL rounds what it is sent half away from zero; other
    databases are sent what Django's backend makes of the value. (A value too
    large for its column is left alone: the database refuses it.)"""
    postgresql = connection.vendor == "postgresql"
    for f, quantum, context in _decimal_fields(type(obj)):
        value = getattr(obj, f.attname)
        if value is None:
            continue
        try:
            value = f.to_python(value)
            if postgresql:
                value = value.quantize(quantum, rounding=ROUND_HALF_UP, context=context)
            else:
                value = Decimal(
                    connection.ops.adapt_decimalfield_value(value, f.max_digits, f.decimal_places)
                )
        except ArithmeticError:
            continue
        setattr(obj, f.attname, value)


# ------------------------------------------------------------ the reads


@dataclass
class _CreateReads:
    """What ``invoice_create`` is made from, read in one round trip."""

    customer: Customer | None = None
    organization: Organization | None = None
    add_ons: dict[str, AddOn] = field(default_factory=dict)
    add_on_taxes: dict[Any, list[Tax]] = field(default_factory=dict)
    customer_taxes: list[Tax] = field(default_factory=list)
    organization_taxes: list[Tax] = field(default_factory=list)
    # The organization's taxes of the codes the fees name.
    named_taxes: dict[str, Tax] = field(default_factory=dict)
    endpoints: list[WebhookEndpoint] = field(default_factory=list)


# What recording an event reads of an endpoint: whom it belongs to and what it wants.
_ENDPOINT_FIELDS = ("id", "organization_id", "event_types")
# The organization as an invoice's request uses it: all but the HMAC key,
# which only signing webhooks reads (deferred: decrypting it costs, and a
# read of it, should one come, loads it).
_ORGANIZATION_FIELDS = tuple(
    f.attname for f in Organization._meta.concrete_fields if f.attname != "hmac_key"
)


def _lock(of: str) -> str:
    features = connection.features
    if features.has_select_for_update_of:
        return f" FOR UPDATE OF {of}"
    return " FOR UPDATE" if features.has_select_for_update else ""


def _with_taxes(alias: str, owner: type[Model], q) -> tuple[str, str]:
    """The joins that add ``owner``'s kept taxes (many-to-many ``taxes``) to a
    row of it under ``alias``, none if it has none; and the ORDER BY of
    ``Tax``'s ordering (its code)."""
    m2m = owner._meta.get_field("taxes")
    link = f"{alias}t"
    joins = (
        f" LEFT JOIN {q(m2m.m2m_db_table())} {link} "
        f"ON {link}.{q(m2m.m2m_column_name())} = {alias}.{q('id')}"
        f" LEFT JOIN {_table(Tax, 't')} ON t.{q('id')} = {link}.{q(m2m.m2m_reverse_name())}"
        f" AND t.{q('deleted_at')} IS NULL"
    )
    return joins, f" ORDER BY t.{q('code')}"


@functools.cache
def _create_reads_sql(
    codes: int, tax_codes: int, endpoints: bool, organization: bool
) -> tuple[str, ...]:
    """The statements of ``_create_reads``, in its order. The managers' rules
    are the ORM's: deleted customers, add-ons and taxes are not found; taxes
    come in ``Tax``'s order (by code), endpoints in ``WebhookEndpoint``'s."""
    q = connection.ops.quote_name
    customer, tax = _columns(Customer, "c"), _columns(Tax, "t")
    kept_taxes = f"t.{q('deleted_at')} IS NULL ORDER BY t.{q('code')}"
    joins, by_code = _with_taxes("c", Customer, q)
    select = [customer.sql, tax.sql]
    if organization:
        select.insert(1, _columns(Organization, "o", _ORGANIZATION_FIELDS).sql)
        joins = (
            f" JOIN {_table(Organization, 'o')} ON o.{q('id')} = c.{q('organization_id')}" + joins
        )
    statements = [
        # One customer at most (a unique constraint), a row per tax of it:
        # locked, as two invoices may set the currency of a customer who has
        # none yet.
        f"SELECT {', '.join(select)} FROM {_table(Customer, 'c')}{joins} "
        f"WHERE c.{q('organization_id')} = %s AND c.{q('external_id')} = %s "
        f"AND c.{q('deleted_at')} IS NULL{by_code}" + _lock("c"),
        f"SELECT {tax.sql} FROM {_table(Tax, 't')} WHERE t.{q('organization_id')} = %s "
        f"AND t.{q('applied_to_organization')} = %s AND {kept_taxes}",
    ]
    if codes:
        joins, by_code = _with_taxes("a", AddOn, q)
        statements.append(
            f"SELECT {_columns(AddOn, 'a').sql}, {tax.sql} FROM {_table(AddOn, 'a')}{joins} "
            f"WHERE a.{q('organization_id')} = %s "
            f"AND a.{q('code')} IN ({', '.join(['%s'] * codes)}) "
            f"AND a.{q('deleted_at')} IS NULL{by_code}"
        )
    if tax_codes:
        statements.append(
            f"SELECT {tax.sql} FROM {_table(Tax, 't')} WHERE t.{q('organization_id')} = %s "
            f"AND t.{q('code')} IN ({', '.join(['%s'] * tax_codes)}) AND {kept_taxes}"
        )
    if endpoints:
        statements.append(_endpoints_sql())
    return tuple(statements)


@functools.cache
def _endpoints_sql() -> str:
    q = connection.ops.quote_name
    columns = _columns(WebhookEndpoint, "e", _ENDPOINT_FIELDS)
    return (
        f"SELECT {columns.sql} FROM {_table(WebhookEndpoint, 'e')} "
        f"WHERE e.{q('organization_id')} = %s AND e.{q('enabled')} = %s "
        f"ORDER BY e.{q('created_at')}"
    )


def _endpoints(rows: list[tuple]) -> list[WebhookEndpoint]:
    columns = _columns(WebhookEndpoint, "e", _ENDPOINT_FIELDS)
    return [columns.instance(row) for row in rows]


def _taxes_of(rows: list[tuple], start: int) -> list[Tax]:
    """The taxes in ``rows`` from column ``start`` on, where a LEFT JOIN found
    one (a NULL id: none)."""
    tax = _columns(Tax, "t")
    return [tax.instance(row[start:]) for row in rows if row[start] is not None]


def _create_reads(
    organization_id,
    organization: Organization | None,
    external_customer_id: str | None,
    fees: list[FeeInput],
    *,
    with_endpoints: bool,
) -> _CreateReads:
    """The customer (locked) and its taxes, the organization (unless given)
    and its default taxes, the fees' add-ons with their taxes, the taxes the
    fees name and (to record events) the organization's enabled webhook
    endpoints, in one round trip."""
    if external_customer_id is None:
        return _CreateReads()
    codes = list(dict.fromkeys(f.add_on_code for f in fees))
    tax_codes = list(dict.fromkeys(code for f in fees for code in f.tax_codes or ()))
    org = _param(Customer, "organization", organization_id)
    params = [[org, external_customer_id], [org, _param(Tax, "applied_to_organization", True)]]
    if codes:
        params.append([org, *codes])
    if tax_codes:
        params.append([org, *tax_codes])
    if with_endpoints:
        params.append([org, _param(WebhookEndpoint, "enabled", True)])
    sql = _create_reads_sql(len(codes), len(tax_codes), with_endpoints, organization is None)
    results = iter(_run_together([(s, p, True) for s, p in zip(sql, params, strict=True)]))
    found, organization_taxes = next(results), next(results)
    if not found:
        return _CreateReads()
    customer_columns = _columns(Customer, "c")
    start = len(customer_columns)
    customer = customer_columns.instance(found[0][:start])
    if organization is None:
        organization_columns = _columns(Organization, "o", _ORGANIZATION_FIELDS)
        end = start + len(organization_columns)
        organization = organization_columns.instance(found[0][start:end])
        start = end
    # Every invoice's customer is of the invoice's organization.
    _relate(customer, "organization", organization)
    reads = _CreateReads(
        customer=customer,
        organization=organization,
        customer_taxes=_taxes_of(found, start),
        organization_taxes=_taxes_of(organization_taxes, 0),
    )
    if codes:
        add_on_columns = _columns(AddOn, "a")
        width = len(add_on_columns)
        # A row per tax of each add-on (the first column is the add-on's id, as the driver
        # gives it: a UUID on PostgreSQL, hex text on SQLite, so rows are grouped by that
        # raw value and the lists keyed by the converted pk).
        by_raw_id: dict = {}
        for row in next(results):
            taxes = by_raw_id.get(row[0])
            if taxes is None:
                add_on = add_on_columns.instance(row[:width])
                reads.add_ons[add_on.code] = add_on
                taxes = by_raw_id[row[0]] = reads.add_on_taxes[add_on.pk] = []
            taxes += _taxes_of([row], width)
    if tax_codes:
        reads.named_taxes = {t.code: t for t in _taxes_of(next(results), 0)}
    if with_endpoints:
        reads.endpoints = _endpoints(next(results))
    return reads


@functools.cache
def _finalize_reads_sql() -> tuple[str, ...]:
    q = connection.ops.quote_name
    invoice, customer = _columns(Invoice, "i"), _columns(Customer, "c")
    organization = _columns(Organization, "o", _ORGANIZATION_FIELDS)
    fee, fee_tax = _columns(Fee, "f"), _columns(FeeAppliedTax, "x")
    credit, applied = _columns(Credit, "r"), _columns(InvoiceAppliedTax, "a")
    return (
        # The draft, locked: the invoice row only (numbering locks the
        # organization's), with its customer (found even if deleted since)
        # and its organization.
        f"SELECT {invoice.sql}, {customer.sql}, {organization.sql} FROM {_table(Invoice, 'i')} "
        f"JOIN {_table(Customer, 'c')} ON c.{q('id')} = i.{q('customer_id')} "
        f"JOIN {_table(Organization, 'o')} ON o.{q('id')} = i.{q('organization_id')} "
        f"WHERE i.{q('id')} = %s AND i.{q('organization_id')} = %s AND i.{q('status')} = %s"
        + _lock("i"),
        # What the answer shows, in the order the models' reads give it: the
        # fees by position, each with its taxes (a NULL id: none).
        f"SELECT {fee.sql}, {fee_tax.sql} FROM {_table(Fee, 'f')} "
        f"LEFT JOIN {_table(FeeAppliedTax, 'x')} ON x.{q('fee_id')} = f.{q('id')} "
        f"WHERE f.{q('invoice_id')} = %s ORDER BY f.{q('position')}",
        f"SELECT {credit.sql} FROM {_table(Credit, 'r')} WHERE r.{q('invoice_id')} = %s "
        f"ORDER BY r.{q('created_at')}",
        f"SELECT {applied.sql} FROM {_table(InvoiceAppliedTax, 'a')} "
        f"WHERE a.{q('invoice_id')} = %s ORDER BY a.{q('tax_code')}",
        _endpoints_sql(),
    )


def _finalize_reads(organization_id, pk: uuid.UUID) -> tuple[Invoice, list[WebhookEndpoint]] | None:
    """The organization's draft ``pk``, locked, with its customer and
    organization, fees (and their taxes), credits and applied taxes, and the
    organization's enabled webhook endpoints, in one round trip; None if there
    is no such draft."""
    invoice_id = _param(Invoice, "id", pk)
    org = _param(Invoice, "organization", organization_id)
    params = [
        [invoice_id, org, Invoice.Status.DRAFT.value],
        *([_param(Fee, "invoice", pk)] for _ in range(3)),
        [org, _param(WebhookEndpoint, "enabled", True)],
    ]
    found, fees, credits, applied, endpoints = _run_together(
        [(sql, p, True) for sql, p in zip(_finalize_reads_sql(), params, strict=True)]
    )
    if not found:
        return None
    parts = (
        _columns(Invoice, "i"),
        _columns(Customer, "c"),
        _columns(Organization, "o", _ORGANIZATION_FIELDS),
    )
    objects, start = [], 0
    for columns in parts:
        objects.append(columns.instance(found[0][start : start + len(columns)]))
        start += len(columns)
    invoice, customer, organization = objects
    _relate(invoice, "organization", organization)
    _relate(invoice, "customer", customer)
    _relate(customer, "organization", organization)
    fee_columns, tax_columns = _columns(Fee, "f"), _columns(FeeAppliedTax, "x")
    width = len(fee_columns)
    # A row per tax of each fee (the first column is the fee's id), fees in order.
    fee_taxes: dict[Any, tuple[Fee, list[FeeAppliedTax]]] = {}
    for row in fees:
        if row[0] not in fee_taxes:
            fee = fee_columns.instance(row[:width])
            _relate(fee, "invoice", invoice)
            fee_taxes[row[0]] = (fee, [])
        fee, taxes = fee_taxes[row[0]]
        if row[width] is not None:
            fee_tax = tax_columns.instance(row[width:])
            _relate(fee_tax, "fee", fee)
            taxes.append(fee_tax)
    for fee, taxes in fee_taxes.values():
        _prefetched(fee, "applied_taxes", taxes)
    _prefetched(invoice, "fees", [fee for fee, _ in fee_taxes.values()])
    for name, columns, rows in (
        ("credits", _columns(Credit, "r"), credits),
        ("applied_taxes", _columns(InvoiceAppliedTax, "a"), applied),
    ):
        children = [columns.instance(row) for row in rows]
        for child in children:
            _relate(child, "invoice", invoice)
        _prefetched(invoice, name, children)
    return invoice, _endpoints(endpoints)


@functools.cache
def _bump_sql() -> str:
    """The next sequential id and, when the scope given is the one the
    organization last numbered in, the next number in it (else 0)."""
    q = connection.ops.quote_name
    scope, sequence = q("last_number_scope"), q("last_number_sequence")
    return (
        f"UPDATE {q(Organization._meta.db_table)} "
        f"SET {q('last_sequential_id')} = {q('last_sequential_id')} + 1, "
        f"{sequence} = CASE WHEN {scope} = %s THEN {sequence} + 1 ELSE 0 END "
        f"WHERE {q('id')} = %s "
        f"RETURNING {q('last_sequential_id')}, {q('numbering_scheme')}, {q('number_prefix')}, "
        f"{sequence}"
    )


@functools.cache
def _scope_start_sql() -> str:
    """Number in a scope other than the last one: one more than the scope's
    last invoice (none: 1); that scope becomes the organization's last."""
    q = connection.ops.quote_name
    number = q("number_sequence")
    # Run once per scope (a day's first invoice), not at every finalization as
    # the MAX() it replaces was: prepared, that one kept a plan made from
    # statistics taken while the scope was small, which aggregated every number
    # of the scope under the organization's lock (0.25 ms at a month-end's
    # 2,000th invoice, and growing). ORDER BY ... LIMIT 1 lets a plan stop at
    # the index's last entry; stale statistics can still plan it otherwise.
    last = (
        f"SELECT {number} FROM {q(Invoice._meta.db_table)} "
        f"WHERE {q('number_scope')} = %s AND {q('organization_id')} = %s AND {number} IS NOT NULL "
        f"ORDER BY {number} DESC LIMIT 1"
    )
    sequence = q("last_number_sequence")
    return (
        f"UPDATE {q(Organization._meta.db_table)} "
        f"SET {q('last_number_scope')} = %s, {sequence} = COALESCE(({last}), 0) + 1 "
        f"WHERE {q('id')} = %s RETURNING {sequence}"
    )
