"""Reads, always scoped to the caller's organization."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, OperationalError, connection
from django.db.models import (
    DEFERRED,
    BooleanField,
    Count,
    F,
    Max,
    Min,
    Model,
    Prefetch,
    Q,
    QuerySet,
    Window,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils import timezone

from invoicing.errors import NotFound
from invoicing.models import AddOn, ApiKey, Customer, Fee, Invoice, Organization, PdfJob, Tax
from invoicing.models.catalog import time_zone

try:
    import psycopg
    from psycopg import ClientCursor as _ClientCursor
except ImportError:  # psycopg 2, or SQLite only
    psycopg = None
    _ClientCursor = None

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


# lago-api's ``Invoice::VISIBLE_STATUS``: what any read may show. A deleted
# draft is kept but never shown again.
VISIBLE_INVOICE_STATUSES = (
    Invoice.Status.DRAFT, Invoice.Status.FINALIZED, Invoice.Status.VOIDED, "failed", "pending",
)  # fmt: skip


def invoice_list(*, organization: Organization) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(organization=organization)
        .exclude(status=Invoice.Status.DELETED)
        .select_related("customer")
    )


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
    else:
        qs = qs.exclude(status=Invoice.Status.DELETED)
    # A primary key lookup: no ORDER BY (``first()`` and the model's ordering
    # add one, and compiling it is a measurable part of a download request).
    invoice = next(iter(qs[:1]), None)
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
    serializing 10,000 fees does not query once per fee.

    An invoice that has them all already (as ``invoice_create`` and
    ``invoice_finalize_draft`` return theirs: children linked to it, customer
    and its organization set) is left as it is: walking the prefetch over it
    finds nothing to read but costs as much as rendering it."""
    details = ("fees", "credits", "applied_taxes")
    invoices_to_load = [
        invoice
        for invoice in invoices
        if not (
            all(name in getattr(invoice, "_prefetched_objects_cache", ()) for name in details)
            and all(
                "applied_taxes" in getattr(fee, "_prefetched_objects_cache", ())
                for fee in invoice.fees.all()
            )
            and Invoice.customer.is_cached(invoice)
            and Customer.organization.is_cached(invoice.customer)
        )
    ]
    if not invoices_to_load:
        return invoices
    prefetch_related_objects(
        invoices_to_load,
        "fees__applied_taxes",
        "credits",
        "applied_taxes",
        "customer__organization",
    )
    for invoice in invoices_to_load:
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


# ------------------------------------------------------------- Lago lists


@dataclass(frozen=True)
class InvoiceFilters:
    """The invoice list's filters, as lago-api's ``InvoicesQuery`` applies
    them once parsed (``None``: not asked)."""

    statuses: tuple[str, ...] | None = None
    payment_statuses: tuple[str, ...] | None = None
    currencies: tuple[str, ...] | None = None
    invoice_types: tuple[str, ...] | None = None
    customer_external_id: str | None = None
    issuing_date_from: dt.date | None = None
    issuing_date_to: dt.date | None = None
    amount_from: Decimal | None = None
    amount_to: Decimal | None = None
    payment_overdue: bool | None = None
    payment_dispute_lost: bool | None = None
    self_billed: bool | None = None
    # ``metadata[key]=value``; an empty value asks for invoices without the key.
    metadata: tuple[tuple[str, str], ...] = ()
    search_term: str = ""
    # Matched whole, case-insensitively (``with_purchase_order_number``).
    purchase_order_number: str | None = None
    partially_paid: bool | None = None


# lago-api's ``BaseQuery::UUID_REGEX``: a search term that is a (dashed) id
# also finds the invoice with that id.
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _contains(fields: Iterable[str], term: str) -> Q:
    """Any of ``fields`` contains ``term``, case-insensitively (lago-api's
    ``ILIKE '%term%'`` with the term's wildcards escaped). PostgreSQL answers
    from trigram indexes on ``UPPER(field)``, which is what ``icontains``
    compares (migration 0009)."""
    q = Q()
    for field in fields:
        q |= Q(**{f"{field}__icontains": term})
    return q


# Searched customer columns: ``InvoicesQuery#matching_customers`` and
# ``CustomersQuery::SEARCHABLE_FIELDS``.
_INVOICE_CUSTOMER_SEARCH = ("name", "firstname", "lastname", "external_id", "email")
_CUSTOMER_SEARCH = ("name", "firstname", "lastname", "legal_name", "external_id", "email")


def _invoice_search(qs: QuerySet, organization: Organization, term: str, customers: bool):
    """``InvoicesQuery#matching_invoices``: the number contains the term, or
    the id is the term, or (unless the list is one customer's) the customer's
    name, first or last name, external id or email does. Each branch is its
    own indexed lookup, joined by UNION, as lago-api does, rather than one
    OR that no index serves."""
    base = Invoice.objects.filter(organization=organization).order_by()
    branches = [base.filter(number__icontains=term).values("id")]
    if _UUID_RE.match(term):
        branches.append(base.filter(id=term).values("id"))
    if customers:
        # Deleted customers are not searched (lago-api: ``organization.customers``).
        matching = Customer.objects.filter(organization=organization).filter(
            _contains(_INVOICE_CUSTOMER_SEARCH, term)
        )
        branches.append(base.filter(customer__in=matching.values("id")).values("id"))
    return qs.filter(id__in=branches[0].union(*branches[1:]))


def _customer_today_groups(organization: Organization) -> dict[dt.date, list[str]]:
    """The time zones the organization's customers are billed in, grouped by
    the date it is there now ("" standing for the organization's own zone):
    an invoice falls due on its customer's calendar (``Customer.today``)."""
    now = timezone.now()
    groups: dict[dt.date, list[str]] = defaultdict(list)
    zones = set(
        Customer.all_objects.filter(organization=organization)
        .values_list("timezone", flat=True)
        .distinct()
    ) | {""}
    for name in zones:
        zone = time_zone(name or organization.timezone)
        groups[now.astimezone(zone).date()].append(name)
    return groups


def _overdue(organization: Organization) -> Q:
    """Finalized, not paid, and due before its customer's today: what the
    Lago face renders as ``payment_overdue`` (lago-api keeps it in a column
    that a daily job sets)."""
    groups = _customer_today_groups(organization)
    if len(groups) == 1:
        # Every customer's calendar says the same date: no need to read whose.
        [today] = groups
        past_due = Q(payment_due_date__lt=today)
    else:
        past_due = Q()
        for today, zones in groups.items():
            past_due |= Q(customer__timezone__in=zones, payment_due_date__lt=today)
    return (
        Q(status=Invoice.Status.FINALIZED)
        & ~Q(payment_status=Invoice.PaymentStatus.SUCCEEDED)
        & past_due
    )


def _metadata_has(key: str, value: str | None) -> Q:
    """The invoice's metadata has an item with this key (and value): jsonb
    containment on PostgreSQL (indexed, migration 0009), ``json_each`` on
    SQLite."""
    item = {"key": key} if value is None else {"key": key, "value": value}
    q = connection.ops.quote_name
    column = f"{q(Invoice._meta.db_table)}.{q('metadata')}"
    if connection.vendor == "postgresql":
        return Q(RawSQL(f"{column} @> %s::jsonb", [json.dumps([item])], BooleanField()))
    condition = "json_extract(m.value, '$.key') = %s"
    params = [key]
    if value is not None:
        condition += " AND json_extract(m.value, '$.value') = %s"
        params.append(value)
    sql = f"EXISTS (SELECT 1 FROM json_each({column}) m WHERE {condition})"
    return Q(RawSQL(sql, params, BooleanField()))


def invoice_list_filtered(
    *, organization: Organization, filters: InvoiceFilters
) -> QuerySet[Invoice]:
    """The organization's invoices as lago-api's ``InvoicesQuery`` selects and
    orders them: visible statuses only, each filter exact unless said
    otherwise, newest issuing date first."""
    f = filters
    qs = Invoice.objects.filter(organization=organization).select_related("customer")
    texts = [f.search_term, f.customer_external_id or "", f.purchase_order_number or "",
             *(f.currencies or ()),
             *(f.invoice_types or ()), *(part for pair in f.metadata for part in pair)]  # fmt: skip
    if not all(_storable(text) for text in texts):
        return qs.none()
    if f.search_term:
        qs = _invoice_search(qs, organization, f.search_term, f.customer_external_id is None)
    if f.currencies is not None:
        qs = qs.filter(currency__in=f.currencies)
    if f.customer_external_id is not None:
        # Deleted customers' invoices too: an invoice's customer is found
        # whatever became of it (lago-api: ``belongs_to :customer, -> { with_discarded }``).
        qs = qs.filter(customer__external_id=f.customer_external_id)
    if f.invoice_types is not None:
        qs = qs.filter(invoice_type__in=f.invoice_types)
    if f.issuing_date_from is not None:
        qs = qs.filter(issuing_date__gte=f.issuing_date_from)
    if f.issuing_date_to is not None:
        qs = qs.filter(issuing_date__lte=f.issuing_date_to)
    statuses = VISIBLE_INVOICE_STATUSES
    if f.statuses:
        statuses = [s for s in f.statuses if s in VISIBLE_INVOICE_STATUSES]
    qs = qs.filter(status__in=statuses)
    if f.payment_statuses:
        qs = qs.filter(payment_status__in=f.payment_statuses)
    if f.payment_dispute_lost is not None:
        qs = qs.filter(payment_dispute_lost_at__isnull=not f.payment_dispute_lost)
    if f.payment_overdue is not None:
        overdue = _overdue(organization)
        qs = qs.filter(overdue if f.payment_overdue else ~overdue)
    if f.amount_from is not None:
        qs = qs.filter(total_amount_cents__gte=f.amount_from)
    if f.amount_to is not None:
        qs = qs.filter(total_amount_cents__lte=f.amount_to)
    for key, value in f.metadata:
        # ``InvoicesQuery#with_metadata``: every key=value pair present, and
        # none of the keys asked with an empty value.
        if value:
            qs = qs.filter(_metadata_has(key, value))
        else:
            qs = qs.exclude(_metadata_has(key, None))
    if f.purchase_order_number is not None:
        qs = qs.filter(purchase_order_number__iexact=f.purchase_order_number)
    if f.partially_paid is not None:
        partly = Q(total_paid_amount_cents__gt=0) & Q(
            total_amount_cents__gt=F("total_paid_amount_cents")
        )
        qs = qs.filter(partly if f.partially_paid else ~partly)
    if f.self_billed:
        # This service issues no self-billed invoices (``self_billed`` is false).
        qs = qs.none()
    return qs.order_by("-issuing_date", "-created_at", "id")


def invoice_stored_pdf_jobs(*, invoice_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PdfJob]:
    """The stored PDF (current and ready job) of each of these invoices that
    has one, in one query: what ``file_url`` is made from."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    # Hand-built, as the download lookups are: the ORM's compiling was most of this
    # read's cost, and webhook deliveries make it once per claim.
    columns = _columns(PdfJob, "j", _LISTED_JOB_FIELDS)
    [rows] = _select(
        (
            _stored_pdf_jobs_sql(len(ids)),
            [_param(PdfJob, "invoice", pk) for pk in ids],
        )
    )
    jobs = [columns.instance(row) for row in rows]
    return {job.invoice_id: job for job in jobs}


# What a ``file_url`` is made from.
_LISTED_JOB_FIELDS = ("id", "invoice_id", "checksum", "xml_checksum")


@functools.lru_cache(maxsize=64)
def _stored_pdf_jobs_sql(count: int) -> str:
    q = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * count)
    return (
        f"SELECT {_columns(PdfJob, 'j', _LISTED_JOB_FIELDS).sql} FROM {_table(PdfJob, 'j')} "
        f"WHERE j.{q('invoice_id')} IN ({placeholders}) AND j.{q('is_current')} "
        f"AND j.{q('state')} = {_constant(PdfJob.State.READY.value)}"
    )


def billing_entities_check(
    *, organization: Organization, codes: Sequence[str], distinct: bool = False
) -> None:
    """``billing_entity_codes[]`` names the organization's billing entity (its
    only one) or nothing: ``billing_entity_not_found`` otherwise. lago-api
    compares the number found with the number sent, so the invoice list
    refuses a code sent twice and the customer list (``distinct``) does not."""
    sent = set(codes) if distinct else list(codes)
    found = 1 if organization.billing_entity_code in sent else 0
    if found != len(sent):
        raise NotFound("billing_entity")


@dataclass(frozen=True)
class CustomerFilters:
    """The customer list's filters, as lago-api's ``CustomersQuery`` applies
    them (``None``: not asked); lists match any of their values."""

    external_id: str | None = None
    currencies: tuple[str, ...] | None = None
    countries: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    zipcodes: tuple[str, ...] | None = None
    customer_type: str | None = None
    has_customer_type: bool | None = None
    has_tax_identification_number: bool | None = None


def customer_list(
    *, organization: Organization, search_term: str = "", filters: CustomerFilters | None = None
) -> QuerySet[Customer]:
    """The organization's customers (not deleted), newest first; a search
    term matches name, first or last name, legal name, external id or email
    (``CustomersQuery#matching_ids_by_search``)."""
    qs = Customer.objects.filter(organization=organization)
    f = filters or CustomerFilters()
    texts = [search_term, f.external_id or "", f.customer_type or ""]
    for values in (f.currencies, f.countries, f.states, f.zipcodes):
        texts += values or ()
    if not all(_storable(text) for text in texts):
        return qs.none()
    if search_term:
        qs = qs.filter(_contains(_CUSTOMER_SEARCH, search_term))
    if f.external_id is not None:
        qs = qs.filter(external_id=f.external_id)
    for column, values in (("currency", f.currencies), ("country", f.countries),
                           ("state", f.states), ("zipcode", f.zipcodes)):  # fmt: skip
        if values is not None:
            qs = qs.filter(**{f"{column}__in": values})
    if f.customer_type is not None:
        qs = qs.filter(customer_type=f.customer_type)
    if f.has_customer_type is not None:
        qs = qs.exclude(customer_type="") if f.has_customer_type else qs.filter(customer_type="")
    if f.has_tax_identification_number is not None:
        with_tin = ~Q(tax_identification_number="")
        qs = qs.filter(with_tin if f.has_tax_identification_number else ~with_tin)
    return qs.order_by("-created_at", "id").prefetch_related("taxes")


def tax_list(*, organization: Organization) -> QuerySet[Tax]:
    return Tax.objects.filter(organization=organization).order_by("code")


def add_on_list(*, organization: Organization) -> QuerySet[AddOn]:
    qs = AddOn.objects.filter(organization=organization).prefetch_related("taxes")
    return qs.order_by("code")


# ------------------------------------------------------------------ Lotus

# Lines a page of Lotus invoices may carry: a page is cut after the invoice
# that reaches it (always at least one), so 500 invoices of 10,000 lines each
# never load 5 million rows into one request.
LOTUS_MAX_LINES_PER_PAGE = 10_000
# A Lotus customer's nested ``invoices`` holds its most recent finalized
# invoices; all of them are one call away (``GET /api/invoices/?customer_id=``).
LOTUS_CUSTOMER_INVOICES_SHOWN = 100


def lotus_invoice_list(
    *, organization: Organization, payment_statuses: set[str], customer_external_id=None
) -> QuerySet[Invoice]:
    """Lotus's invoice list: finalized invoices, ``paid`` and/or ``unpaid``."""
    qs = invoice_list(organization=organization).filter(status=Invoice.Status.FINALIZED)
    paid = Q(payment_status=Invoice.PaymentStatus.SUCCEEDED)
    if payment_statuses == {"paid"}:
        qs = qs.filter(paid)
    elif payment_statuses == {"unpaid"}:
        qs = qs.exclude(paid)
    if customer_external_id is not None:
        qs = qs.filter(customer__external_id=customer_external_id)
    return qs


def lotus_customer_list(*, organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.filter(organization=organization)


def invoices_within_lines(invoices: list[Invoice]) -> int:
    """How many of ``invoices``, in order, fit LOTUS_MAX_LINES_PER_PAGE lines
    (at least one)."""
    if not invoices:
        return 0
    limit = LOTUS_MAX_LINES_PER_PAGE
    counts = dict(
        Fee.objects.filter(invoice__in=invoices)
        .order_by()
        .values_list("invoice_id")
        .annotate(n=Count("id"))
    )
    total = 0
    for index, invoice in enumerate(invoices):
        total += counts.get(invoice.pk, 0)
        if total > limit and index > 0:
            return index
    return len(invoices)


def invoices_load_lines(invoices: list[Invoice], organization: Organization) -> list[Invoice]:
    """Lines in one query; seller and customer's organization from the
    caller's (already loaded) organization, so nothing else queries."""
    prefetch_related_objects(invoices, "fees")
    for invoice in invoices:
        invoice.organization = organization
        invoice.customer.organization = organization
    return invoices


def customers_load_recent_invoices(
    customers: list[Customer], organization: Organization, *, to_attr: str
) -> list[Invoice]:
    """Each customer's most recent finalized invoices (in ``to_attr``, newest
    first, with their periods annotated) in one query; returns them all."""
    # The organization too, not only the customer: a row moved between
    # organizations at the database level must not carry its invoices along.
    recent = Window(
        RowNumber(),
        partition_by=[F("customer_id")],
        order_by=[F("issuing_date").desc(), F("created_at").desc()],
    )
    invoices = (
        Invoice.objects.filter(organization=organization, status=Invoice.Status.FINALIZED)
        .annotate(rank=recent)
        .filter(rank__lte=LOTUS_CUSTOMER_INVOICES_SHOWN)
        .annotate(period_from=Min("fees__from_datetime"), period_to=Max("fees__to_datetime"))
    )
    prefetch_related_objects(
        customers,
        Prefetch(
            "invoices",
            queryset=invoices.order_by("-issuing_date", "-created_at"),
            to_attr=to_attr,
        ),
    )
    every_invoice = []
    for customer in customers:
        customer.organization = organization
        for invoice in getattr(customer, to_attr):
            invoice.organization = organization
            invoice.customer = customer
            every_invoice.append(invoice)
    return every_invoice


# ------------------------------------------------------------------ hot paths
#
# The reads of every API request (the key) and of the download endpoints (a
# stored PDF with its invoice, a Lotus invoice's lines) are SQL written once
# per process from the models' metadata rather than compiled by the ORM at
# each request: compiling a select_related over some 60 columns costs more
# than running it. With the other hot-path changes (the organization read
# only when used, only the columns rendered, one round trip for Lotus), CPU
# per request went from 3.0-4.0 ms to 1.5-1.8 ms for Lago's download and from
# 4.5-5.6 ms to 1.9-2.0 ms for Lotus's pdf_url (``bench/hotpaths.py`` on the
# 2-core machines, shared). Rows become instances the way the ORM makes them
# (each field's database converters, then ``Model.from_db``), so they behave
# like any other.


class _Columns:
    """The columns of ``model`` (all its concrete fields, or ``only`` these) in
    a SELECT under ``alias``, and how to turn their values into an instance."""

    def __init__(self, model: type[Model], alias: str, only: tuple[str, ...] = ()):
        every = model._meta.concrete_fields
        fields = [f for f in every if not only or f.attname in only]
        unknown = set(only) - {f.attname for f in fields}
        if unknown:
            raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
        ops = connection.ops
        self.model = model
        self.width = len(fields)
        self.sql = ", ".join(f"{alias}.{ops.quote_name(f.column)}" for f in fields)
        self.converters = []
        for index, field in enumerate(fields):
            column = field.get_col(alias)
            found = ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                self.converters.append((index, found, column))
        # Every field's place, deferred ones marked DEFERRED, as ``from_db``
        # would fill them in itself (but looking each name up in a tuple).
        self.attnames = tuple(f.attname for f in every)
        self.positions = [every.index(f) for f in fields] if len(fields) < len(every) else None

    def __len__(self) -> int:
        return self.width

    def instance(self, values: Sequence) -> Model:
        if self.converters:
            values = list(values)
            for index, converters, column in self.converters:
                for convert in converters:
                    values[index] = convert(values[index], column, connection)
        if self.positions is not None:
            row = [DEFERRED] * len(self.attnames)
            for position, value in zip(self.positions, values, strict=True):
                row[position] = value
            values = row
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)


@functools.cache
def _columns(model: type[Model], alias: str, only: tuple[str, ...] = ()) -> _Columns:
    return _Columns(model, alias, only)


def _table(model: type[Model], alias: str) -> str:
    return f"{connection.ops.quote_name(model._meta.db_table)} {alias}"


def _param(model: type[Model], name: str, value):
    """``value`` as the database stores ``model.name`` (a UUID is 32 hex
    digits on SQLite, a native uuid on PostgreSQL)."""
    return _field(model, name).get_db_prep_value(value, connection, prepared=False)


def _constant(value: str) -> str:
    """A state or status of the code's own (never a request's value) as an SQL
    literal. A prepared statement's generic plan cannot use a partial index
    whose predicate names a state when the state is a parameter, nor the
    statistics of that state's frequency: the claims' partial indexes of
    pending rows went unused, and a bitmap scan of the (status, ...) index
    read every dead entry that a month-end's updates left behind until
    VACUUM, at every claim."""
    if not re.fullmatch(r"[a-z_]+", value):
        raise ValueError(f"not a state name: {value!r}")
    return f"'{value}'"


@functools.cache
def _field(model: type[Model], name: str):
    return model._meta.get_field(name)


def _in_one_round_trip(cursor) -> bool:
    """Whether ``cursor`` runs several statements sent as one query and reads
    each one's rows with ``nextset()``: psycopg 3's client-side binding cursor
    (Django's default on PostgreSQL) sends a query in one simple-protocol
    message. Server-side binding, psycopg 2 and SQLite take one statement
    per call."""
    return _ClientCursor is not None and isinstance(getattr(cursor, "cursor", None), _ClientCursor)


def _preparing(*, rerun_safe: bool = False):
    """The psycopg 3 connection under Django's when it prepares statements
    and can pipeline them, else None: as
    ``DATABASES["default"]["OPTIONS"]["prepare_threshold"]`` says, which the
    settings set unless ``DB_PREPARED_STATEMENTS=0`` (prepared statements do not
    survive a transaction-pooling proxy that does not keep them). Django's own
    cursors bind on the client and never prepare either way.

    The raw connection bypasses Django's cursors and with them the health
    check they run on a request's (or task's) first use of a persistent
    connection, which may have died while idle (the database restarted).
    Statements that may run twice (``rerun_safe``: reads) skip that check's
    round trip: ``_prepared_rows`` runs them again on a new connection if the
    old one turns out dead. The others get Django's check first, as its own
    cursors would."""
    if not rerun_safe:
        connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if psycopg is None or not isinstance(raw, psycopg.Connection):
        return None
    if raw.prepare_threshold is None or not psycopg.Pipeline.is_supported():
        return None
    return raw


def _run_prepared(raw, statements: Sequence[tuple[str, list, bool]]) -> list[list[tuple]]:
    """``_run_together`` on prepared statements: one server-side binding
    cursor per statement, all sent in one pipeline (one alone is sent
    without), the rows read once it is synced. Errors are Django's, as from
    its cursors, and the round trip is logged where Django logs queries (one
    entry: what tests count)."""
    connection.validate_no_broken_transaction()
    started = time.monotonic()
    with connection.wrap_database_errors:
        cursors = []
        if len(statements) == 1 and (
            raw.autocommit or raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        ):
            # One statement is one round trip without a pipeline, whose
            # machinery (entering, a sync, reading results back through it)
            # cost about as much client CPU as the statement itself. Not when
            # a transaction is still to begin: outside a pipeline psycopg
            # sends its BEGIN in a round trip of its own.
            [(sql, params, _)] = statements
            cursor = psycopg.Cursor(raw)
            cursor.execute(sql, params, prepare=True)
            cursors.append(cursor)
        else:
            with raw.pipeline():
                for sql, params, _ in statements:
                    cursor = psycopg.Cursor(raw)
                    cursor.execute(sql, params, prepare=True)
                    cursors.append(cursor)
        results = []
        for cursor, (_, _, rows) in zip(cursors, statements, strict=True):
            results.append(cursor.fetchall() if rows else [])
            cursor.close()
    if connection.queries_logged:
        connection.queries_log.append(
            {
                "sql": "; ".join(sql for sql, _, _ in statements),
                "time": f"{time.monotonic() - started:.3f}",
            }
        )
    return results


def _prepared_rows(statements: Sequence[tuple[str, list, bool]]) -> list[list[tuple]] | None:
    """The rows of read-only ``statements`` run prepared (``_run_prepared``), or
    None when the connection does not prepare them. Where the connection was
    not checked yet since the request (or task) began, and a transaction does
    not hold it, a connection found dead (``raw.broken``: the server closed it)
    is replaced and the reads run once more, as Django's health check would
    have replaced it before the first statement: they wrote nothing, so
    nothing happens twice."""
    raw = _preparing(rerun_safe=True)
    if raw is None:
        return None
    unchecked = (
        connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    )
    try:
        results = _run_prepared(raw, statements)
    except OperationalError:
        if not (unchecked and (raw.broken or raw.closed)):
            raise
        connection.close()
        raw = _preparing(rerun_safe=True)
        results = _run_prepared(raw, statements)
    # What Django's check would have proved: this connection answers.
    connection.health_check_done = True
    return results


def _run_together_read(statements: Sequence[tuple[str, Any]]) -> list[list[tuple]]:
    """Every statement's rows (each returns rows), in order: prepared and sent in one
    round trip where the connection prepares statements, else one by one. Each still
    takes its own snapshot once the ones before it are done (READ COMMITTED)."""
    prepared = _prepared_rows([(sql, params, True) for sql, params in statements])
    if prepared is not None:
        return prepared
    results = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            results.append(cursor.fetchall())
    return results


def _select(first: tuple[str, list], *more: tuple[str, list]) -> list[list[tuple]]:
    """The rows of each SELECT (SQL and parameters), in one round trip where
    the driver allows it, as prepared statements where the connection
    prepares them (``_preparing``: PostgreSQL then neither parses nor plans
    them again, most of what it spent on a download's lookups). The
    statements after the first read what belongs to the first one's row: when
    it finds nothing they are not run (one by one) or their rows are dropped
    (together)."""
    results = _prepared_rows([(sql, params, True) for sql, params in (first, *more)])
    if results is not None:
        return results if results[0] else [[] for _ in results]
    with connection.cursor() as cursor:
        if more and _in_one_round_trip(cursor):
            statements = (first, *more)
            cursor.execute("; ".join(sql for sql, _ in statements),
                           [p for _, params in statements for p in params])  # fmt: skip
            results = [cursor.fetchall()]
            while cursor.nextset():
                results.append(cursor.fetchall())
        else:
            cursor.execute(*first)
            results = [cursor.fetchall()]
            for statement in more if results[0] else ():
                cursor.execute(*statement)
                results.append(cursor.fetchall())
    if not results[0]:
        return [[] for _ in (first, *more)]
    return results


# What the API key check reads: not the name, prefix or creation time.
_KEY_FIELDS = ("id", "organization_id", "key_hash", "expires_at", "revoked_at")


@functools.cache
def _api_key_sql() -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {_columns(ApiKey, 'k', _KEY_FIELDS).sql} FROM {_table(ApiKey, 'k')} "
        f"WHERE k.{q('prefix')} = %s LIMIT 1"
    )


def api_key_get_by_prefix(*, prefix: str) -> ApiKey | None:
    """The API key with this lookup prefix (unique), or None; only the fields
    that authenticating reads are loaded, not its organization."""
    [rows] = _select((_api_key_sql(), [prefix]))
    return _columns(ApiKey, "k", _KEY_FIELDS).instance(rows[0]) if rows else None


@functools.cache
def _organization_sql() -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {_columns(Organization, 'o').sql} FROM {_table(Organization, 'o')} "
        f"WHERE o.{q('id')} = %s"
    )


def organization_get(*, organization_id) -> Organization:
    [rows] = _select((_organization_sql(), [_param(Organization, "id", organization_id)]))
    if not rows:
        raise Organization.DoesNotExist(organization_id)
    return _columns(Organization, "o").instance(rows[0])


# What a download link is made of, and the job's identity and state; not its
# timestamps, lease and error.
_STORED_JOB_FIELDS = ("id", "organization_id", "invoice_id", "version", "is_current", "state",
                      "storage_key", "checksum", "xml_checksum")  # fmt: skip
# The keys that tie the rows together, loaded whatever ``only`` says.
_KEYS = {
    Invoice: ("id", "organization_id", "customer_id"),
    Customer: ("id", "organization_id"),
    Organization: ("id",),
    Fee: ("id", "invoice_id"),
}
ColumnChoice = tuple[tuple[type[Model], tuple[str, ...]], ...]


@functools.cache
def _chosen(model: type[Model], alias: str, only: ColumnChoice) -> _Columns:
    fields = dict(only).get(model, ())
    return _columns(model, alias, (*_KEYS[model], *fields) if fields else ())


@functools.cache
def _stored_pdf_parts(with_customer: bool, only: ColumnChoice) -> tuple[_Columns, ...]:
    parts = [_columns(PdfJob, "j", _STORED_JOB_FIELDS), _chosen(Invoice, "i", only)]
    if with_customer:
        parts += [_chosen(Customer, "c", only), _chosen(Organization, "o", only)]
    return tuple(parts)


@functools.cache
def _stored_pdf_sql(statuses: int, with_customer: bool, only: ColumnChoice) -> str:
    """The stored PDF lookup of an organization's invoice."""
    q = connection.ops.quote_name
    tables = [
        _table(PdfJob, "j"),
        f"JOIN {_table(Invoice, 'i')} ON i.{q('id')} = j.{q('invoice_id')}",
    ]
    if with_customer:
        tables += [
            f"JOIN {_table(Customer, 'c')} ON c.{q('id')} = i.{q('customer_id')}",
            f"JOIN {_table(Organization, 'o')} ON o.{q('id')} = i.{q('organization_id')}",
        ]
    select = ", ".join(part.sql for part in _stored_pdf_parts(with_customer, only))
    placeholders = ", ".join(["%s"] * statuses)
    # At most one current job per invoice (pdf_job_one_current): no ORDER BY.
    return (
        f"SELECT {select} FROM {' '.join(tables)} "
        f"WHERE j.{q('invoice_id')} = %s AND j.{q('is_current')} = %s AND j.{q('state')} = %s "
        f"AND i.{q('organization_id')} = %s "
        f"AND i.{q('status')} IN ({placeholders}) LIMIT 1"
    )


def _fee_order() -> str:
    """The order of ``invoice.fees.all()`` (Fee's default ordering) under alias f."""
    q = connection.ops.quote_name
    return ", ".join(
        f"f.{q(Fee._meta.get_field(name.lstrip('-')).column)}"
        + (" DESC" if name.startswith("-") else "")
        for name in Fee._meta.ordering
    )


@functools.cache
def _fees_sql(only: ColumnChoice) -> str:
    q = connection.ops.quote_name
    order = _fee_order()
    return (
        f"SELECT {_chosen(Fee, 'f', only).sql} FROM {_table(Fee, 'f')} "
        f"WHERE f.{q('invoice_id')} = %s ORDER BY {order}"
    )


def invoice_stored_pdf_get(
    *,
    organization_id,
    invoice_id: str,
    statuses: tuple[str, ...],
    with_customer: bool = False,
    fees_to_attr: str | None = None,
    only: ColumnChoice = (),
) -> PdfJob | None:
    """The stored PDF (current and ready job) of the organization's invoice,
    with the invoice loaded; with ``with_customer`` also its customer and
    organization; with ``fees_to_attr`` also its fees, in order, as a list in
    that attribute of the invoice (as ``Prefetch("fees", to_attr=...)`` leaves
    them); all in one round trip on PostgreSQL. None when the invoice is
    unknown or its PDF is not stored (yet). The download endpoints' common
    case.

    ``only`` narrows the columns read to ``((Model, field names), ...)``, as
    ``QuerySet.only()`` does (the keys tying the rows together are always
    read): the others are deferred, and reading one costs a query. The job's
    timestamps, lease and error are never read."""
    pk = parse_invoice_uuid(invoice_id)
    if pk is None or not statuses:
        return None
    statements = [
        (
            _stored_pdf_sql(len(statuses), with_customer, only),
            [
                _param(PdfJob, "invoice", pk),
                _param(PdfJob, "is_current", True),
                PdfJob.State.READY.value,
                _param(Invoice, "organization", organization_id),
                *statuses,
            ],
        )
    ]
    if fees_to_attr:
        # Run with the lookup above, and dropped with it unless it found the
        # invoice among the organization's.
        statements.append((_fees_sql(only), [_param(Fee, "invoice", pk)]))
    results = _select(*statements)
    return _stored_pdf_from(results, with_customer, fees_to_attr, only)


def api_key_and_stored_pdf(
    *,
    prefix: str,
    invoice_id: str,
    statuses: tuple[str, ...],
    with_customer: bool = False,
    fees_to_attr: str | None = None,
    only: ColumnChoice = (),
) -> tuple[ApiKey | None, PdfJob | None]:
    """``api_key_get_by_prefix`` and ``invoice_stored_pdf_get`` for the key's
    organization, in one statement: the download endpoints' authentication and
    lookup, which were two round trips, then a pipeline of two or three
    statements. The caller must check the key (its hash, expiry, revocation)
    before using the job: the lookup trusts the prefix alone."""
    pk = parse_invoice_uuid(invoice_id)
    if pk is None or not statuses:
        return api_key_get_by_prefix(prefix=prefix), None
    sql = _key_and_stored_pdf_sql(len(statuses), with_customer, bool(fees_to_attr), only)
    params = [
        _param(Invoice, "id", pk),
        *statuses,
        _param(PdfJob, "is_current", True),
        PdfJob.State.READY.value,
        prefix,
    ]
    [rows] = _select((sql, params))
    if not rows:
        return None, None
    key = _columns(ApiKey, "k", _KEY_FIELDS)
    api_key = key.instance(rows[0][: len(key)])
    parts = _stored_pdf_parts(with_customer, only)
    end = len(key) + sum(len(part) for part in parts)
    if all(value is None for value in rows[0][len(key) : len(key) + len(parts[0])]):
        return api_key, None  # no such invoice of the key's, or no stored PDF
    results = [[rows[0][len(key) : end]]]
    if fees_to_attr:
        # One row per fee (one with no fee when the invoice has none).
        results.append([row[end:] for row in rows if any(v is not None for v in row[end:])])
    return api_key, _stored_pdf_from(results, with_customer, fees_to_attr, only)


@functools.cache
def _key_and_stored_pdf_sql(
    statuses: int, with_customer: bool, fees: bool, only: ColumnChoice
) -> str:
    """The API key by prefix, with the stored PDF of one of its organization's
    invoices (the job's columns null when there is none) and, with ``fees``,
    one row per fee of that invoice, in Fee's order. Left joins all the way
    from the key, so that a key is found whatever the invoice."""
    q = connection.ops.quote_name
    parts = _stored_pdf_parts(with_customer, only)
    select = [_columns(ApiKey, "k", _KEY_FIELDS).sql, *(part.sql for part in parts)]
    placeholders = ", ".join(["%s"] * statuses)
    joins = [
        f"LEFT JOIN {_table(Invoice, 'i')} ON i.{q('id')} = %s "
        f"AND i.{q('organization_id')} = k.{q('organization_id')} "
        f"AND i.{q('status')} IN ({placeholders})",
        # At most one current job per invoice (pdf_job_one_current).
        f"LEFT JOIN {_table(PdfJob, 'j')} ON j.{q('invoice_id')} = i.{q('id')} "
        f"AND j.{q('is_current')} = %s AND j.{q('state')} = %s",
    ]
    if with_customer:
        joins += [
            f"LEFT JOIN {_table(Customer, 'c')} ON c.{q('id')} = i.{q('customer_id')} "
            f"AND j.{q('id')} IS NOT NULL",
            f"LEFT JOIN {_table(Organization, 'o')} ON o.{q('id')} = i.{q('organization_id')} "
            f"AND j.{q('id')} IS NOT NULL",
        ]
    order = ""
    if fees:
        select.append(_chosen(Fee, "f", only).sql)
        joins.append(f"LEFT JOIN {_table(Fee, 'f')} ON f.{q('invoice_id')} = j.{q('invoice_id')}")
        order = f" ORDER BY {_fee_order()}"
    return (
        f"SELECT {', '.join(select)} FROM {_table(ApiKey, 'k')} {' '.join(joins)} "
        f"WHERE k.{q('prefix')} = %s{order}"
    )


def _stored_pdf_from(results, with_customer, fees_to_attr, only) -> PdfJob | None:
    if not results[0]:
        return None
    row, objects, start = results[0][0], [], 0
    for columns in _stored_pdf_parts(with_customer, only):
        objects.append(columns.instance(row[start : start + len(columns)]))
        start += len(columns)
    job, invoice = objects[0], objects[1]
    _relate(job, "invoice", invoice)
    if with_customer:
        customer, organization = objects[2], objects[3]
        _relate(invoice, "customer", customer)
        _relate(invoice, "organization", organization)
        _relate(customer, "organization", organization)
    if fees_to_attr:
        columns = _chosen(Fee, "f", only)
        fees = [columns.instance(row) for row in results[1]]
        for fee in fees:
            _relate(fee, "invoice", invoice)
        setattr(invoice, fees_to_attr, fees)
    return job


# ------------------------------------------------------- PDF snapshots


# What a snapshot reads of each invoice besides its own row: each relation's
# rows, in the order ``invoice.<relation>.all()`` gives them.
_SNAPSHOT_RELATIONS = ("fees", "applied_taxes", "credits")


@functools.cache
def _snapshot_sql() -> tuple[str, ...]:
    q = connection.ops.quote_name
    parts = (_columns(Invoice, "i"), _columns(Customer, "c"), _columns(Organization, "o"))
    head = (
        f"SELECT {', '.join(part.sql for part in parts)} FROM {_table(Invoice, 'i')} "
        f"JOIN {_table(Customer, 'c')} ON c.{q('id')} = i.{q('customer_id')} "
        f"JOIN {_table(Organization, 'o')} ON o.{q('id')} = i.{q('organization_id')} "
        f"WHERE i.{q('id')} = ANY(%s)"
    )
    relations = []
    for name in _SNAPSHOT_RELATIONS:
        model = Invoice._meta.get_field(name).related_model
        order = ", ".join(
            f"r.{q(model._meta.get_field(field.lstrip('-')).column)}"
            + (" DESC" if field.startswith("-") else "")
            for field in (*model._meta.ordering, model._meta.pk.name)
        )
        relations.append(
            f"SELECT {_columns(model, 'r').sql} FROM {_table(model, 'r')} "
            f"WHERE r.{q('invoice_id')} = ANY(%s) ORDER BY {order}"
        )
    return (head, *relations)


def invoices_for_snapshot(invoice_ids: list) -> dict:
    """Invoices by id with their customer and organization, and their fees,
    taxes and credits prefetched (``invoice.fees.all()`` reads no more), as
    ``select_related`` and ``prefetch_related`` leave them: hand-written
    statements sent in one round trip (prepared where the connection prepares
    them), for the PDF workers' batches."""
    ids = [_param(Invoice, "id", pk) for pk in invoice_ids]
    head, *relations = _snapshot_sql()
    rows, *related = _run_together_read([(sql, [ids]) for sql in (head, *relations)])
    parts = (_columns(Invoice, "i"), _columns(Customer, "c"), _columns(Organization, "o"))
    loaded = {}
    for row in rows:
        invoice = parts[0].instance(row[: len(parts[0])])
        customer = parts[1].instance(row[len(parts[0]) : len(parts[0]) + len(parts[1])])
        organization = parts[2].instance(row[len(parts[0]) + len(parts[1]) :])
        _relate(invoice, "customer", customer)
        _relate(invoice, "organization", organization)
        invoice._prefetched_objects_cache = {}
        loaded[invoice.pk] = invoice
    for name, relation_rows in zip(_SNAPSHOT_RELATIONS, related, strict=True):
        model = Invoice._meta.get_field(name).related_model
        columns = _columns(model, "r")
        grouped: dict = defaultdict(list)
        for row in relation_rows:
            obj = columns.instance(row)
            invoice = loaded.get(obj.invoice_id)
            if invoice is not None:
                _relate(obj, "invoice", invoice)
                grouped[obj.invoice_id].append(obj)
        for invoice in loaded.values():
            _prefetched(invoice, name, grouped.get(invoice.pk, []))
    return loaded


def _prefetched(obj: Model, name: str, rows: list) -> None:
    """Leave ``rows`` as ``obj.<name>.all()``, as ``prefetch_related`` does."""
    queryset = getattr(obj, name).all()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    obj._prefetched_objects_cache[name] = queryset


def _relate(obj: Model, name: str, other: Model) -> None:
    """``obj.name = other`` for a foreign key whose id ``obj`` already holds, as
    ``select_related`` links the rows it reads (without the assignment's
    checks)."""
    _field(type(obj), name).set_cached_value(obj, other)


# ------------------------------------------------------------ credit notes


def credit_note_get(*, organization: Organization, credit_note_id: str):
    """One of the organization's credit notes with what its Lago body shows."""
    from invoicing.models import CreditNote

    try:
        pk = uuid.UUID(str(credit_note_id))
    except ValueError:
        raise NotFound("credit_note") from None
    note = credit_notes_with_details(CreditNote.objects.filter(organization=organization, pk=pk))
    found = next(iter(note), None)
    if found is None:
        raise NotFound("credit_note")
    return found


def credit_notes_with_details(qs):
    """Credit notes with their invoice, customer, items (and their fees with
    taxes) and applied taxes, in a fixed number of queries."""
    return qs.select_related(
        "invoice", "invoice__organization", "customer", "customer__organization"
    ).prefetch_related("items__fee__applied_taxes", "applied_taxes")


def credit_note_list_filtered(*, organization: Organization, filters: dict):
    """``CreditNotesQuery``: the organization's finalized credit notes under
    ``filters`` (already read as lago-api reads them), newest first."""
    from django.db.models import Q

    from invoicing.models import CreditNote

    qs = CreditNote.objects.filter(organization=organization, status=CreditNote.Status.FINALIZED)
    f = filters
    if f.get("currency"):
        qs = qs.filter(currency=f["currency"])
    if f.get("customer_external_id") is not None:
        qs = qs.filter(customer__external_id=f["customer_external_id"])
    for name in ("reason", "credit_status", "refund_status"):
        if f.get(name):
            qs = qs.filter(**{f"{name}__in": f[name]})
    if f.get("types") is not None:
        kinds = Q(pk__in=[])
        if "credit" in f["types"]:
            kinds |= Q(credit_amount_cents__gt=0)
        if "refund" in f["types"]:
            kinds |= Q(refund_amount_cents__gt=0)
        if "offset" in f["types"]:
            kinds |= Q(offset_amount_cents__gt=0)
        qs = qs.filter(kinds)
    if f.get("invoice_number"):
        qs = qs.filter(invoice__number=f["invoice_number"])
    if f.get("purchase_order_number"):
        qs = qs.filter(invoice__purchase_order_number__iexact=f["purchase_order_number"])
    if f.get("issuing_date_from"):
        qs = qs.filter(issuing_date__gte=f["issuing_date_from"])
    if f.get("issuing_date_to"):
        qs = qs.filter(issuing_date__lte=f["issuing_date_to"])
    if f.get("amount_from") is not None:
        qs = qs.filter(total_amount_cents__gte=f["amount_from"])
    if f.get("amount_to") is not None:
        qs = qs.filter(total_amount_cents__lte=f["amount_to"])
    if f.get("self_billed"):
        # No invoice here is self-billed.
        qs = qs.none()
    term = f.get("search_term")
    if term:
        match = Q(number__icontains=term)
        try:
            match |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass
        if f.get("customer_external_id") is None:
            for name in ("name", "firstname", "lastname", "external_id", "email"):
                match |= Q(**{f"customer__{name}__icontains": term})
        qs = qs.filter(match)
    return credit_notes_with_details(qs.order_by("-created_at", "id"))
