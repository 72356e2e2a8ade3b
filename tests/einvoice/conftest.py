"""An e-invoicing organization and its catalogue, built through the services."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from invoicing.einvoice import validate
from invoicing.services import organizations
from tests.factories import make_add_on, make_customer, make_organization, make_tax

SELLER = {
    "legal_name": "Acme Cloud SAS",
    "legal_number": "912345678",
    "tax_identification_number": "FR12912345678",
    "address_line1": "12 rue de la Paix",
    "city": "Paris",
    "zipcode": "75002",
    "country": "FR",
    "email": "billing@acme.example",
    "electronic_address": "FR12912345678",
    "electronic_address_scheme": "9957",
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPP",
    "net_payment_term": 30,
}


def buyer(country: str = "DE", vat: str = "DE123456789", **extra) -> dict:
    data = {
        "name": "Globex GmbH",
        "legal_name": "Globex GmbH",
        "tax_identification_number": vat,
        "address_line1": "Hauptstraße 5",
        "city": "Berlin",
        "zipcode": "10115",
        "country": country,
        "email": "ap@globex.example",
        # Peppol endpoints: the German VAT number (EAS 9930), else a DUNS
        # number (EAS 0060).
        "electronic_address": vat or "150483782",
        "electronic_address_scheme": "9930" if vat.startswith("DE") else "0060",
        "buyer_reference": "PO-BOX-17",
    }
    data.update(extra)
    return data


@pytest.fixture(scope="session")
def rules_compiled():
    """Compile every stylesheet once per session (a few seconds in all)."""
    for syntax in ("cii", "ubl"):
        for _name, path in validate._rule_sets(syntax):
            validate._stylesheet(path)
        validate._schema(syntax)


@pytest.fixture
def seller_and_key(db):
    organization, key = make_organization("Acme Cloud", **SELLER)
    organizations.organization_update(organization=organization, data={"einvoicing_enabled": True})
    organization.refresh_from_db()
    return organization, key


@pytest.fixture
def seller(seller_and_key):
    return seller_and_key[0]


@pytest.fixture
def seller_api(seller_and_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seller_and_key[1]}")
    return client


@pytest.fixture
def catalog(seller):
    """Taxes of every kind the tests need, and an add-on for each."""
    taxes = {
        "vat20": make_tax(seller, "vat20", "20"),
        "vat55": make_tax(seller, "vat55", "5.5"),
        "vat10": make_tax(seller, "vat10", "10"),
        "ae": make_tax(seller, "ae", "0", vat_category_code="AE"),
        "k": make_tax(seller, "k", "0", vat_category_code="K"),
        "e": make_tax(
            seller,
            "e",
            "0",
            vat_category_code="E",
            vat_exemption_reason="Exempt training, Art. 261-4-4 CGI",
        ),
        "g": make_tax(seller, "g", "0", vat_category_code="G"),
    }
    add_ons = {
        code: make_add_on(
            seller,
            code=f"svc_{code}",
            amount_cents=12_345,
            taxes=[tax],
            name=f"Service {code}",
            unit_code="HUR",
        )
        for code, tax in taxes.items()
    }
    add_ons["jpy"] = make_add_on(
        seller, code="svc_jpy", amount_cents=98_765, currency="JPY", taxes=[taxes["vat20"]]
    )
    return taxes, add_ons


@pytest.fixture
def make_buyer(seller):
    def make(currency: str = "EUR", **overrides):
        return make_customer(seller, currency=currency, **buyer(**overrides))

    return make
