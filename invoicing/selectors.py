"""Reads, always scoped to the caller's organization."""

from __future__ import annotations

import re
import uuid

from django.db.models import QuerySet, prefetch_related_objects

from invoicing.errors import NotFound
from invoicing.models import AddOn, Customer, Invoice, Organization, PdfJob, Tax

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


def _storable(key: str) -> bool:
    """Whether ``key`` could be a stored value at all. PostgreSQL refuses NUL
    in text, even in a WHERE clause (a DataError, so a 500); a key from a URL
    that holds one names nothing, so it is answered as not found."""
    return "\x00" not in key


def invoice_list(*, organization: Organization) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization=organization).select_related("customer")


def invoice_get(
    *,
    organization: Organization,
    invoice_id: str,
    statuses: tuple[str, ...] | None = None,
    with_customer: bool = True,
) -> Invoice:
    pk = parse_invoice_uuid(invoice_id)
    if pk is None:
        raise NotFound("invoice")
    qs = Invoice.objects.filter(organization=organization, pk=pk).order_by()
    if with_customer:
        qs = qs.select_related("customer")
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    # A primary key lookup: no ORDER BY (``first()`` and the model's ordering
    # add one, and compiling it is a measurable part of a download request).
    invoice = next(iter(qs[:1]), None)
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def invoice_stored_pdf_get(
    *,
    organization: Organization,
    invoice_id: str,
    statuses: tuple[str, ...],
    with_customer: bool = False,
) -> PdfJob | None:
    """The stored PDF (current and ready job) of the organization's invoice,
    with the invoice loaded, in one query; None when the invoice is unknown or
    its PDF is not stored (yet). The download endpoints' common case."""
    pk = parse_invoice_uuid(invoice_id)
    if pk is None:
        return None
    qs = (
        PdfJob.objects.filter(
            invoice_id=pk,
            invoice__organization=organization,
            invoice__status__in=statuses,
            is_current=True,
            state=PdfJob.State.READY,
        )
        .select_related("invoice__customer" if with_customer else "invoice")
        .order_by()  # at most one current job (pdf_job_one_current)
    )
    return next(iter(qs[:1]), None)


def invoice_get_by_reference(
    *, organization: Organization, reference: str, statuses: tuple[str, ...]
) -> Invoice:
    """The invoice named by an id in any spelling, or else by its number
    (matched whole): how Lotus clients and operators name invoices."""
    pk = parse_invoice_uuid(reference)
    if pk is not None:
        return invoice_get(organization=organization, invoice_id=str(pk), statuses=statuses)
    if not _storable(reference):
        raise NotFound("invoice")
    invoice = (
        invoice_list(organization=organization)
        .filter(number=reference, status__in=statuses)
        .first()
    )
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def customer_get(*, organization: Organization, external_id: str) -> Customer:
    if not _storable(external_id):
        raise NotFound("customer")
    customer = Customer.objects.filter(organization=organization, external_id=external_id).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def tax_get(*, organization: Organization, code: str) -> Tax:
    if not _storable(code):
        raise NotFound("tax")
    tax = Tax.objects.filter(organization=organization, code=code).first()
    if tax is None:
        raise NotFound("tax")
    return tax


def add_on_get(*, organization: Organization, code: str) -> AddOn:
    if not _storable(code):
        raise NotFound("add_on")
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
