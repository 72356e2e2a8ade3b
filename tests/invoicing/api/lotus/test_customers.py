"""GET/POST /api/customers/ and GET /api/customers/{customer_id}/: Lotus's
shapes over the same Customer rows as the Lago face."""

import pytest

from invoicing.models import Customer
from invoicing.services.invoices import invoice_update
from tests.factories import make_customer, make_invoice
from tests.invoicing.api.lotus.conftest import render_now

pytestmark = pytest.mark.django_db

DOCS = "https://docs.uselotus.io/errors/error-responses"
CUSTOMER_FIELDS = [
    "customer_id", "email", "customer_name", "invoices", "total_amount_due", "subscriptions",
    "integrations", "default_currency", "payment_provider", "payment_provider_id",
    "has_payment_method", "address", "billing_address", "shipping_address", "tax_rate",
    "timezone", "tax_providers",
]  # fmt: skip


def test_create_writes_the_row_the_lago_face_reads(lotus_api, api, organization):
    response = lotus_api.post(
        "/api/customers/",
        {
            "customer_id": "cus_42",
            "email": "ada@example.com",
            "customer_name": "Ada Lovelace",
            "properties": {"plan": "pro", "seats": 3},
            "default_currency_code": "usd",
            "billing_address": {"city": "London", "country": "GB", "line1": "12 St James's Sq",
                                "postal_code": "SW1Y 4LB"},
            # What lotus-python adds to every body.
            "$type": "create_customer", "library": "lotus-python", "sentAt": "2024-01-01",
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == CUSTOMER_FIELDS
    address = {"city": "London", "country": "GB", "line1": "12 St James's Sq", "line2": None,
               "postal_code": "SW1Y 4LB", "state": None}  # fmt: skip
    assert body == {
        "customer_id": "cus_42",
        "email": "ada@example.com",
        "customer_name": "Ada Lovelace",
        "invoices": [],
        "total_amount_due": 0.0,
        "subscriptions": [],
        "integrations": {"stripe": None, "braintree": None},
        "default_currency": {"code": "USD", "name": "US Dollar", "symbol": "$"},
        "payment_provider": None,
        "payment_provider_id": None,
        "has_payment_method": False,
        "address": address,
        "billing_address": address,
        "shipping_address": None,
        "tax_rate": None,
        "timezone": "UTC",
        "tax_providers": [],
    }
    row = Customer.objects.get(organization=organization, external_id="cus_42")
    assert (row.name, row.email, row.currency, row.city, row.zipcode) == (
        "Ada Lovelace", "ada@example.com", "USD", "London", "SW1Y 4LB"
    )  # fmt: skip
    assert {m["key"]: m["value"] for m in row.metadata} == {"plan": "pro", "seats": "3"}
    lago = api.get("/api/v1/customers/cus_42").json()["customer"]
    assert (lago["lago_id"], lago["email"], lago["currency"]) == (str(row.id), row.email, "USD")


def test_creating_an_existing_customer_id_is_refused_and_changes_nothing(lotus_api, organization):
    make_customer(organization, external_id="cus_1", name="Original", email="o@example.com")
    body = {"customer_id": "cus_1", "email": "new@example.com", "customer_name": "New"}
    response = lotus_api.post("/api/customers/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "type": f"{DOCS}#client-error",
        "detail": "Customer ID already exists",
        "title": "duplicate_resource",
    }
    row = Customer.objects.get(organization=organization, external_id="cus_1")
    assert (row.name, row.email) == ("Original", "o@example.com")


def test_a_create_that_loses_a_race_rolls_its_update_back(lotus_api, organization, monkeypatch):
    """Another request creates the same id between the check and the upsert:
    the upsert updates that row, and the refusal rolls the update back."""
    from invoicing.services import catalog

    make_customer(organization, external_id="cus_race", name="Winner")
    # The check ran before the winner's commit: it saw no such customer.
    monkeypatch.setattr(catalog, "_customer_exists", lambda *_: False)
    body = {"customer_id": "cus_race", "email": "l@example.com", "customer_name": "Loser"}
    response = lotus_api.post("/api/customers/", body, format="json")
    assert response.status_code == 400 and response.json()["title"] == "duplicate_resource"
    assert Customer.objects.get(external_id="cus_race").name == "Winner"


def test_payment_providers_are_refused_as_upstream_does_without_an_integration(lotus_api):
    response = lotus_api.post(
        "/api/customers/",
        {"customer_id": "c", "email": "c@example.com", "payment_provider": "stripe",
         "payment_provider_id": "cus_stripe"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"] == "Specified payment provider not connected to organization"
    assert response.json()["validation_errors"][0]["attr"] == "non_field_errors"


def test_get_and_list_show_finalized_invoices_and_the_amount_due(lotus_api, organization):
    customer = make_customer(organization, external_id="cus_7", name="Grace", currency="EUR")
    paid = make_invoice(organization, customer=customer)
    invoice_update(invoice=paid, payment_status="succeeded")
    unpaid = make_invoice(organization, customer=customer)
    render_now(unpaid)
    make_invoice(organization, customer=customer, status="draft")

    body = lotus_api.get("/api/customers/cus_7/").json()

    assert {i["invoice_id"]: i["payment_status"] for i in body["invoices"]} == {
        paid.lotus_id: "paid", unpaid.lotus_id: "unpaid"
    }  # fmt: skip
    unpaid.refresh_from_db()
    assert body["total_amount_due"] == unpaid.total_amount_cents / 100
    by_id = {i["invoice_id"]: i for i in body["invoices"]}
    assert by_id[unpaid.lotus_id]["invoice_pdf"].startswith("http")
    assert by_id[paid.lotus_id]["invoice_pdf"] is None
    assert set(by_id[paid.lotus_id]) == {
        "invoice_id", "invoice_number", "cost_due", "amount", "currency", "issue_date",
        "payment_status", "external_payment_obj_id", "external_payment_obj_type",
        "external_payment_obj_status", "due_date", "start_date", "end_date", "seller",
        "invoice_pdf",
    }  # fmt: skip
    listed = lotus_api.get("/api/customers/").json()
    assert [c["customer_id"] for c in listed] == ["cus_7"]

    # Download links are signed when made: two answers a second apart differ there.
    def unsigned(customer):
        return {**customer, "invoices": [{**i, "invoice_pdf": bool(i["invoice_pdf"])}
                                         for i in customer["invoices"]]}  # fmt: skip

    assert unsigned(listed[0]) == unsigned(body)


def test_unknown_customer_is_404(lotus_api):
    response = lotus_api.get("/api/customers/nobody/")
    assert response.status_code == 404
    assert response.json()["title"] == "not_found"


def test_listing_costs_a_fixed_number_of_queries(lotus_api, organization,
                                                 django_assert_num_queries):  # fmt: skip
    for n in range(3):
        customer = make_customer(organization, currency="EUR")
        for _ in range(n + 1):
            make_invoice(organization, customer=customer)
    # key, organization (the seller), customers, their invoices, stored PDFs
    with django_assert_num_queries(5):
        assert len(lotus_api.get("/api/customers/").json()) == 3
