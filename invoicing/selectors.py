"""Reads, always scoped to the caller's organization."""

from __future__ import annotations

import re
import uuid

from django.db.models import QuerySet, prefetch_related_objects

from invoicing.errors import NotFound
from invoicing.models import AddOn, Customer, Invoice, Organization, Tax

LOTUS_ID_RE = re.compile(r"^invoice_([0-9a-f]{32})$")


def parse_invoice_uuid(value: str) -> uuid.UUID | None:
    """The invoice UUID in any of its public spellings (dashed UUID, bare
    32-hex, Lotus's ``invoice_<hex>``), or None if ``value`` is none of them."""
    match = LOTUS_ID_RE.match(value)
    candidate = match.group(1) if match else value
    if len(candidate) not in (32, 36):
        return None
    try:
        return uuid.UUID(candidate)
    except ValueError:
        return None


def invoice_list(*, organization: Organization) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization=organization).select_related("customer")


def invoice_get(
    *, organization: Organization, invoice_id: str, statuses: tuple[str, ...] | None = None
) -> Invoice:
    pk = parse_invoice_uuid(invoice_id)
    if pk is None:
        raise NotFound("invoice")
    qs = invoice_list(organization=organization).filter(pk=pk)
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    invoice = qs.first()
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def invoice_get_by_reference(
    *, organization: Organization, reference: str, statuses: tuple[str, ...]
) -> Invoice:
    """The invoice named by an id in any spelling, or else by its number
    (matched whole): how Lotus clients and operators name invoices."""
    pk = parse_invoice_uuid(reference)
    if pk is not None:
        return invoice_get(organization=organization, invoice_id=str(pk), statuses=statuses)
    invoice = (
        invoice_list(organization=organization)
        .filter(number=reference, status__in=statuses)
        .first()
    )
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def customer_get(*, organization: Organization, external_id: str) -> Customer:
    customer = Customer.objects.filter(organization=organization, external_id=external_id).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def tax_get(*, organization: Organization, code: str) -> Tax:
    tax = Tax.objects.filter(organization=organization, code=code).first()
    if tax is None:
        raise NotFound("tax")
    return tax


def add_on_get(*, organization: Organization, code: str) -> AddOn:
    add_on = (
        AddOn.objects.filter(organization=organization, code=code).prefetch_related("taxes").first()
    )
    if add_on is None:
        raise NotFound("add_on")
    return add_on


def invoice_load_details(invoices: list[Invoice]) -> list[Invoice]:
    """Load fees, taxes and credits of ``invoices`` in a fixed number of queries
    and point the children back at their (already loaded) parents, so that
    serializing 10,000 fees does not query once per fee."""
    prefetch_related_objects(
        invoices, "fees__applied_taxes", "credits", "applied_taxes", "customer__organization"
    )
    for invoice in invoices:
        for fee in invoice.fees.all():
            fee.invoice = invoice
            for applied in fee.applied_taxes.all():
                applied.fee = fee
        for credit in invoice.credits.all():
            credit.invoice = invoice
        for applied in invoice.applied_taxes.all():
            applied.invoice = invoice
    return invoices


def invoice_load_summaries(invoices: list[Invoice]) -> list[Invoice]:
    """What list pages show: customer and applied taxes, not fees."""
    prefetch_related_objects(invoices, "applied_taxes", "customer__organization")
    for invoice in invoices:
        for applied in invoice.applied_taxes.all():
            applied.invoice = invoice
    return invoices
