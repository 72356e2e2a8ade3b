"""Test data, built through the services (the only writers)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from invoicing.models import AddOn, Customer, Invoice, Organization, Tax
from invoicing.services import catalog, invoices
from invoicing.services.invoices import CreditInput, FeeInput
from invoicing.services.organizations import organization_create

_seq = itertools.count(1)


def make_organization(name: str | None = None, **fields) -> tuple[Organization, str]:
    """An organization and its raw API key."""
    organization, issued = organization_create(name=name or f"Org {next(_seq)}", **fields)
    return organization, issued.raw_key


def make_customer(organization: Organization, external_id: str | None = None, **data) -> Customer:
    data.setdefault("name", "Jane Doe")
    customer, _ = catalog.customer_upsert(
        organization=organization,
        external_id=external_id or f"cus_{next(_seq)}",
        data=data,
    )
    return customer


def make_tax(organization: Organization, code: str | None = None, rate="20", **data) -> Tax:
    return catalog.tax_create(
        organization=organization,
        data={"code": code or f"tax_{next(_seq)}", "name": "VAT", "rate": Decimal(rate), **data},
    )


def make_add_on(
    organization: Organization,
    code: str | None = None,
    amount_cents: int = 10_000,
    currency: str = "EUR",
    taxes: list[Tax] = (),
    **data,
) -> AddOn:
    return catalog.add_on_create(
        organization=organization,
        data={
            "code": code or f"addon_{next(_seq)}",
            "name": data.pop("name", "Setup fee"),
            "amount_cents": amount_cents,
            "amount_currency": currency,
            "tax_codes": [t.code for t in taxes],
            **data,
        },
    )


def make_invoice(
    organization: Organization,
    customer: Customer | None = None,
    fees: list[FeeInput] | None = None,
    status: str = Invoice.Status.FINALIZED,
    currency: str = "EUR",
    credits: list[CreditInput] = (),
    **kwargs,
) -> Invoice:
    customer = customer or make_customer(organization, currency=currency)
    if fees is None:
        add_on = make_add_on(organization, currency=currency)
        fees = [FeeInput(add_on_code=add_on.code)]
    return invoices.invoice_create(
        organization=organization,
        external_customer_id=customer.external_id,
        fees=fees,
        status=status,
        currency=currency,
        credits=list(credits),
        **kwargs,
    )
