"""Writes for customers, taxes and add-ons."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from invoicing.errors import AlreadyExists, NotFound, ValidationFailed
from invoicing.models import ZERO_RATE_CATEGORIES, AddOn, Customer, Organization, Tax

CUSTOMER_FIELDS = (
    "name", "firstname", "lastname", "customer_type", "legal_name", "legal_number",
    "tax_identification_number", "email", "phone", "url", "address_line1", "address_line2",
    "city", "state", "zipcode", "country", "currency", "timezone", "document_locale",
    "net_payment_term",
)  # fmt: skip


def _merge_metadata(existing: list[dict], incoming: list[dict]) -> list[dict]:
    """Lago's metadata semantics: items with a known ``id`` are updated, items
    without one are added, and items not sent any more are removed."""
    by_id = {item["id"]: item for item in existing}
    merged = []
    for item in incoming:
        kept = by_id.get(item.get("id") or "")
        merged.append(
            {
                "id": kept["id"] if kept else str(uuid.uuid4()),
                "key": item["key"],
                "value": item["value"],
                "display_in_invoice": bool(item.get("display_in_invoice", False)),
            }
        )
    return merged


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
    values = {k: ("" if data[k] is None and k != "net_payment_term" else data[k])
              for k in CUSTOMER_FIELDS if k in data}  # fmt: skip
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


def _unique_violation(exc: IntegrityError) -> bool:
    return "unique" in str(exc).lower()


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
        if _unique_violation(exc):
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
        if _unique_violation(exc):
            raise ValidationFailed({"code": ["value_already_exist"]}) from exc
        raise
    return tax


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
        if _unique_violation(exc):
            raise ValidationFailed({"code": ["value_already_exist"]}) from exc
        raise
    return add_on


def add_on_create(*, organization: Organization, data: dict[str, Any]) -> AddOn:
    return _add_on_save(AddOn(organization=organization), dict(data))


def add_on_update(*, add_on: AddOn, data: dict[str, Any]) -> AddOn:
    return _add_on_save(add_on, dict(data))
