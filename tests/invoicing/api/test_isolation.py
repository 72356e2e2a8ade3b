"""Another organization's objects are answered exactly like missing ones."""

import pytest
from rest_framework.test import APIClient

from invoicing.models import Invoice
from tests.factories import (
    make_add_on,
    make_customer,
    make_invoice,
    make_organization,
    make_tax,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim():
    organization, _ = make_organization(name="Victim")
    customer = make_customer(organization, external_id="victim-customer")
    tax = make_tax(organization, code="victim-tax")
    add_on = make_add_on(organization, code="victim-addon", taxes=[tax])
    final = make_invoice(organization, customer=customer)
    draft = make_invoice(organization, customer=customer, status=Invoice.Status.DRAFT)
    return {"customer": customer, "tax": tax, "add_on": add_on, "final": final, "draft": draft}


def _routes(v):
    final, draft = v["final"].id, v["draft"].id
    lotus = v["final"].lotus_id
    body_inv = {"invoice": {"payment_status": "succeeded"}}
    return [
        ("get", "/api/v1/customers/victim-customer", None, "customer_not_found"),
        ("get", "/api/v1/taxes/victim-tax", None, "tax_not_found"),
        ("put", "/api/v1/taxes/victim-tax", {"tax": {"name": "x"}}, "tax_not_found"),
        ("get", "/api/v1/add_ons/victim-addon", None, "add_on_not_found"),
        ("put", "/api/v1/add_ons/victim-addon", {"add_on": {"name": "x"}}, "add_on_not_found"),
        ("get", f"/api/v1/invoices/{final}", None, "invoice_not_found"),
        ("get", f"/api/v1/invoices/{lotus}", None, "invoice_not_found"),
        ("put", f"/api/v1/invoices/{final}", body_inv, "invoice_not_found"),
        ("put", f"/api/v1/invoices/{draft}/finalize", None, "invoice_not_found"),
        ("post", f"/api/v1/invoices/{final}/void", None, "invoice_not_found"),
    ]


def test_every_route_with_an_id_answers_404_for_another_organization(api, victim):
    for method, path, body, code in _routes(victim):
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
        assert response.json() == {"status": 404, "error": "Not Found", "code": code}
    # Nothing changed on the victim's side.
    victim["final"].refresh_from_db()
    victim["draft"].refresh_from_db()
    assert victim["final"].status == "finalized" and victim["final"].payment_status == "pending"
    assert victim["draft"].status == "draft"


def test_lists_and_creates_never_reach_another_organization(api, victim):
    assert api.get("/api/v1/invoices").json()["invoices"] == []
    assert api.get("/api/v1/customers").json()["customers"] == []
    listed = api.get("/api/v1/invoices", {"external_customer_id": "victim-customer"}).json()
    assert listed["meta"]["total_count"] == 0
    # An invoice for the victim's customer id or add-on code is not found here.
    response = api.post(
        "/api/v1/invoices",
        {"invoice": {"external_customer_id": "victim-customer",
                     "fees": [{"add_on_code": "victim-addon"}]}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json()["code"] == "customer_not_found"


def test_the_owner_sees_the_same_objects(victim):
    organization = victim["customer"].organization
    from invoicing.services.organizations import api_key_issue

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_issue(organization=organization).raw_key}"
    )
    for method, path, _, _ in _routes(victim):
        if method == "get":
            assert client.get(path).status_code == 200, path
