"""Writes for customers, taxes and add-ons."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from invoicing.errors import AlreadyExists, NotFound, ValidationFailed
from invoicing.models import ZERO_RATE_CATEGORIES, AddOn, Customer, Invoice, Organization, Tax
from invoicing.representations.formats import lago_datetime

CUSTOMER_FIELDS = (
    "name", "firstname", "lastname", "customer_type", "legal_name", "legal_number",
    "tax_identification_number", "email", "phone", "url", "address_line1", "address_line2",
    "city", "state", "zipcode", "country", "currency", "timezone", "document_locale",
    "net_payment_term", "external_salesforce_id", "finalize_zero_amount_invoice",
    "skip_invoice_custom_sections", "shipping_address_line1", "shipping_address_line2",
    "shipping_city", "shipping_state", "shipping_zipcode", "shipping_country",
    "buyer_reference", "electronic_address", "electronic_address_scheme",
)  # fmt: skip
# Columns that are not text: an explicit null keeps them null (or default).
_NOT_TEXT = {"net_payment_term": None, "skip_invoice_custom_sections": False,
             "finalize_zero_amount_invoice": "inherit"}  # fmt: skip


def _merge_metadata(existing: list[dict], incoming: list[dict]) -> list[dict]:
    """Lago's metadata semantics: items with a known ``id`` are updated, items
    without one are added (stamped with when), and items not sent any more
    are removed (``Customers::Metadata::UpdateService``)."""
    by_id = {item["id"]: item for item in existing}
    now = lago_datetime(timezone.now())
    merged = []
    for item in incoming:
        kept = by_id.get(item.get("id") or "")
        merged.append(
            {
                "id": kept["id"] if kept else str(uuid.uuid4()),
                "key": item["key"],
                "value": item["value"],
                "display_in_invoice": bool(item.get("display_in_invoice", False)),
                "created_at": (kept.get("created_at") if kept else None) or now,
            }
        )
    return merged


def document_prefix(organization: Organization) -> str:
    return organization.document_number_prefix


def _number_new_customer(customer: Customer, organization: Organization) -> None:
    """Lago's ``Sequenced`` and ``Customer#ensure_slug``: the next number among
    the organization's customers, deleted ones included, and the slug
    ``<document prefix>-<number, 3 digits at least>``. The organization row
    is the lock that serializes two creations (as it does numbering)."""
    Organization.objects.select_for_update().filter(pk=organization.pk).values_list("pk").get()
    # The last entry of the partial (organization, sequential_id) index rather
    # than Max(), whose plan depends on the statistics being fresh.
    last = (
        Customer.all_objects.filter(organization=organization, sequential_id__isnull=False)
        .order_by("-sequential_id")
        .values_list("sequential_id", flat=True)
        .first()
    )
    customer.sequential_id = (last or 0) + 1
    customer.slug = f"{document_prefix(organization)}-{customer.sequential_id:03d}"


def customer_upsert(
    *, organization: Organization, external_id: str, data: dict[str, Any]
) -> tuple[Customer, bool]:
    """Create the customer or update the one with this ``external_id`` (Lago's
    ``POST /customers`` is an upsert). Only the fields present in ``data``
    change. ``data["tax_codes"]`` replaces the customer's taxes; an unknown
    code fails the whole upsert with ``tax_not_found``, as lago-api's
    ``Customers::ApplyTaxesService`` does. Returns ``(customer, created)``."""
    tax_codes = data.get("tax_codes")
    taxes = (
        taxes_by_codes(organization=organization, codes=tax_codes)
        if tax_codes is not None
        else None
    )
    values = {
        k: (_NOT_TEXT.get(k, "") if data[k] is None else data[k])
        for k in CUSTOMER_FIELDS
        if k in data
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                customer = (
                    Customer.objects.select_for_update()
                    .filter(organization=organization, external_id=external_id)
                    .first()
                )
                created = customer is None
                if created:
                    customer = Customer(organization=organization, external_id=external_id)
                    _number_new_customer(customer, organization)
                elif (
                    values.get("currency")
                    and customer.currency
                    and values["currency"] != customer.currency
                    and customer.invoices.exists()
                ):
                    # Lago: the currency is fixed once the customer has been invoiced.
                    raise ValidationFailed({"currency": ["currencies_does_not_match"]})
                for field, value in values.items():
                    setattr(customer, field, value)
                if "metadata" in data and data["metadata"] is not None:
                    customer.metadata = _merge_metadata(customer.metadata, data["metadata"])
                customer.save()
                if taxes is not None:
                    customer.taxes.set(taxes)
                return customer, created
        except IntegrityError:
            # A concurrent upsert created the same external_id first: update it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _customer_exists(organization: Organization, external_id: str) -> bool:
    return Customer.objects.filter(organization=organization, external_id=external_id).exists()


def customer_create(
    *, organization: Organization, external_id: str, data: dict[str, Any]
) -> Customer:
    """Create a customer, refusing an ``external_id`` already taken (Lotus's
    create; Lago's POST is ``customer_upsert``)."""
    if _customer_exists(organization, external_id):
        raise AlreadyExists("customer", "Customer ID already exists")
    # A concurrent create of the same id can still win between the check and
    # the upsert: the upsert then finds that row, and raising inside this
    # transaction rolls its update back.
    with transaction.atomic():
        customer, created = customer_upsert(
            organization=organization, external_id=external_id, data=data
        )
        if not created:
            raise AlreadyExists("customer", "Customer ID already exists")
    return customer


# The unique constraints on codes (models/catalog.py).
_CODE_CONSTRAINTS = {Tax: "tax_code_unique", AddOn: "add_on_code_unique"}


def _code_taken(exc: IntegrityError, model) -> bool:
    """Whether ``exc`` is ``model``'s unique code being taken, and not another
    integrity error (a foreign key, a check) that must not be answered as a
    taken code. PostgreSQL names the violated constraint; SQLite (the demo)
    names the table and columns instead."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None:
        return diag.constraint_name == _CODE_CONSTRAINTS[model]
    table = model._meta.db_table
    return f"UNIQUE constraint failed: {table}.organization_id, {table}.code" in str(exc)


def _check_vat_category(tax: Tax) -> None:
    """EN 16931 fixes the rate of every category but standard at zero
    (BR-Z-5, BR-E-5, BR-AE-5, BR-IC-5, BR-G-5, BR-O-5): a 20 % "reverse
    charge" would print a legal mention that contradicts the amount."""
    if tax.vat_category_code in ZERO_RATE_CATEGORIES and tax.rate != 0:
        raise ValidationFailed({"rate": ["must_be_zero_for_vat_category"]})


def tax_create(*, organization: Organization, data: dict[str, Any]) -> Tax:
    _check_vat_category(Tax(organization=organization, **data))
    try:
        with transaction.atomic():
            return Tax.objects.create(organization=organization, **data)
    except IntegrityError as exc:
        if _code_taken(exc, Tax):
            raise ValidationFailed({"code": ["value_already_exist"]}) from exc
        raise


def tax_update(*, tax: Tax, data: dict[str, Any]) -> Tax:
    """Change a tax. Invoices already made keep the name, rate and category
    they were issued with (copied onto their applied taxes)."""
    for field, value in data.items():
        setattr(tax, field, value)
    _check_vat_category(tax)
    try:
        with transaction.atomic():
            tax.save()
    except IntegrityError as exc:
        if _code_taken(exc, Tax):
            raise ValidationFailed({"code": ["value_already_exist"]}) from exc
        raise
    return tax


@transaction.atomic
def tax_delete(*, tax: Tax) -> Tax:
    """Delete a tax as lago-api's ``Taxes::DestroyService`` does: soft (issued
    invoices keep their copy of it, and its code stays taken), no longer
    applied to any customer or add-on, nor as an organization default (the
    default taxes are read among taxes not deleted). Deleting a deleted tax
    changes nothing. Unlike lago-api, drafts that carry the tax keep it: this
    service has no draft refresh (a draft's amounts change only through
    ``invoice_create``)."""
    if tax.deleted_at is not None:
        return tax
    Customer.taxes.through.objects.filter(tax=tax).delete()
    AddOn.taxes.through.objects.filter(tax=tax).delete()
    tax.deleted_at = timezone.now()
    tax.save(update_fields=["deleted_at", "updated_at"])
    return tax


def add_on_delete(*, add_on: AddOn) -> AddOn:
    """Delete an add-on as lago-api's ``AddOns::DestroyService`` does: soft,
    so fees already made from it keep their link; its code may be reused."""
    add_on.deleted_at = timezone.now()
    add_on.save(update_fields=["deleted_at", "updated_at"])
    return add_on


@transaction.atomic
def customer_delete(*, customer: Customer) -> Customer:
    """Delete a customer as lago-api does (``Customers::DestroyService``, then
    ``Customers::TerminateRelationsService``): soft, so its issued invoices
    stay untouched and keep showing it; its external_id becomes free for a new
    customer; its drafts are finalized, here in the same transaction (lago-api
    queues that five minutes later), so none is left behind unnumbered."""
    # Imported here: invoices' services build on this module (taxes, customers).
    from invoicing.services.invoices import invoice_finalize

    locked = Customer.objects.select_for_update().filter(pk=customer.pk).first()
    if locked is None:
        raise NotFound("customer")
    locked.deleted_at = timezone.now()
    locked.save(update_fields=["deleted_at", "updated_at"])
    drafts = Invoice.objects.filter(customer=locked, status=Invoice.Status.DRAFT).order_by(
        "created_at", "id"
    )
    for draft in drafts:
        invoice_finalize(invoice=draft)
    return locked


def taxes_by_codes(*, organization: Organization, codes: list[str]) -> list[Tax]:
    found = {t.code: t for t in Tax.objects.filter(organization=organization, code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound("tax")
    return [found[c] for c in dict.fromkeys(codes)]


def _add_on_save(add_on: AddOn, data: dict[str, Any]) -> AddOn:
    tax_codes = data.pop("tax_codes", None)
    taxes = (
        taxes_by_codes(organization=add_on.organization, codes=tax_codes)
        if tax_codes is not None
        else None
    )
    for field, value in data.items():
        setattr(add_on, field, value)
    try:
        with transaction.atomic():
            add_on.save()
            if taxes is not None:
                add_on.taxes.set(taxes)
    except IntegrityError as exc:
        if _code_taken(exc, AddOn):
            raise ValidationFailed({"code": ["value_already_exist"]}) from exc
        raise
    return add_on


def add_on_create(*, organization: Organization, data: dict[str, Any]) -> AddOn:
    return _add_on_save(AddOn(organization=organization), dict(data))


def add_on_update(*, add_on: AddOn, data: dict[str, Any]) -> AddOn:
    return _add_on_save(add_on, dict(data))
