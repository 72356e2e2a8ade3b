"""The invoice object of seed 003 (``GET /api/invoices/{invoice_id}/pdf_url/``),
transcribed field by field from the seed document, and a checker that every
field is present with the seed's JSON type, nested objects included."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Nullable:
    spec: object


@dataclass(frozen=True)
class OneOf:
    values: tuple


class DateTime:
    """``"2023-11-07T05:31:56Z"``: an ISO 8601 datetime with an offset."""


class Date:
    """``"2023-12-25"``."""


class Number:
    """A JSON number (``5000000000``, ``0``): int or float, never a bool."""


class Country:
    """``"AW"``: ISO 3166-1 alpha-2."""


ADDRESS = {
    "city": Nullable(str),
    "country": Nullable(Country),
    "line1": Nullable(str),
    "line2": Nullable(str),
    "postal_code": Nullable(str),
    "state": Nullable(str),
}

LINE_ITEM = {
    "name": str,
    "start_date": DateTime,
    "end_date": DateTime,
    "quantity": Number,
    "billing_type": OneOf(("in_arrears", "in_advance", "one_time", "intermediate")),
    "metadata": dict,
    "plan": Nullable({"plan_name": str, "plan_id": str, "version_id": str, "version": int}),
    "subscription_filters": [{"value": str, "property_name": str}],
    "base": Number,
    "adjustments": [
        {"amount": str, "account": str, "adjustment_type": OneOf(("sales_tax", "plan_adjustment"))}
    ],
    "amount": Number,
    "subtotal": Number,
}

INVOICE = {
    "invoice_id": str,
    "invoice_number": str,
    "cost_due": Number,
    "amount": Number,
    "currency": {"code": str, "name": str, "symbol": str},
    "issue_date": DateTime,
    "payment_status": OneOf(("draft", "voided", "paid", "unpaid")),
    "external_payment_obj_id": Nullable(str),
    "external_payment_obj_type": Nullable(OneOf(("stripe", "braintree"))),
    "external_payment_obj_status": Nullable(str),
    "line_items": [LINE_ITEM],
    "customer": {
        "customer_name": Nullable(str),
        "email": Nullable(str),
        "customer_id": str,
        "address": Nullable(ADDRESS),
    },
    "due_date": Nullable(DateTime),
    "start_date": Date,
    "end_date": Date,
    "seller": {
        "name": str,
        "address": Nullable(ADDRESS),
        "phone": Nullable(str),
        "email": Nullable(str),
    },
    "invoice_pdf": Nullable(str),
}

# pdf_url's body: the seed's object, plus upstream's own ``url``.
PDF_URL_BODY = {**INVOICE, "url": Nullable(str)}


def check(value, spec, path: str = "$") -> None:
    """Raise AssertionError naming the first field that does not match."""
    if isinstance(spec, Nullable):
        if value is not None:
            check(value, spec.spec, path)
        return
    if isinstance(spec, OneOf):
        assert value in spec.values, f"{path}: {value!r} not in {spec.values}"
    elif isinstance(spec, dict):
        assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
        assert set(value) == set(spec), (
            f"{path}: missing {set(spec) - set(value)}, unexpected {set(value) - set(spec)}"
        )
        for key, sub in spec.items():
            check(value[key], sub, f"{path}.{key}")
    elif isinstance(spec, list):
        assert isinstance(value, list), f"{path}: expected an array, got {value!r}"
        for index, item in enumerate(value):
            check(item, spec[0], f"{path}[{index}]")
    elif spec is Number:
        assert isinstance(value, int | float) and not isinstance(value, bool), (
            f"{path}: expected a number, got {value!r}"
        )
    elif spec is DateTime:
        assert isinstance(value, str), f"{path}: expected a datetime string, got {value!r}"
        parsed = dt.datetime.fromisoformat(value)
        assert parsed.tzinfo is not None, f"{path}: {value!r} has no offset"
    elif spec is Date:
        assert isinstance(value, str) and len(value) == 10, f"{path}: not a date: {value!r}"
        dt.date.fromisoformat(value)
    elif spec is Country:
        assert isinstance(value, str) and len(value) == 2 and value.isupper(), (
            f"{path}: not an ISO country code: {value!r}"
        )
    elif spec is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    else:
        assert isinstance(value, spec), f"{path}: expected {spec.__name__}, got {value!r}"
