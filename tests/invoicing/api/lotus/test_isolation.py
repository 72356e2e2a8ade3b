"""Every Lotus route that takes an id answers another organization's objects
exactly like missing ones (404), and lists never show them."""

import pytest

from invoicing.models import Customer, PdfJob
from tests.factories import make_customer, make_invoice, make_organization
from tests.invoicing.api.lotus.conftest import render_now

pytestmark = pytest.mark.django_db

DOCS = "https://docs.uselotus.io/errors/error-responses"
NOT_FOUND = {"type": f"{DOCS}#client-error", "detail": "Not found.", "title": "not_found"}


@pytest.fixture
def victim():
    organization, _ = make_organization(name="Victim")
    customer = make_customer(organization, external_id="victim-customer")
    invoice = make_invoice(organization, customer=customer)
    render_now(invoice)
    return customer, invoice


def test_every_route_with_an_id_answers_404_for_another_organization(lotus_api, victim):
    customer, invoice = victim
    refs = [invoice.lotus_id, invoice.id.hex, str(invoice.id)]
    paths = ["/api/customers/victim-customer/", "/api/customers/victim-customer"]
    for ref in refs:
        paths += [f"/api/invoices/{ref}/", f"/api/invoices/{ref}/pdf_url/"]
    for path in paths:
        response = lotus_api.get(path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    # Nothing was asked of the victim's pipeline either.
    assert PdfJob.objects.filter(invoice=invoice).count() == 1


def test_lists_and_creates_stay_in_the_callers_organization(lotus_api, organization, victim):
    customer, invoice = victim
    assert lotus_api.get("/api/customers/").json() == []
    both = "payment_status=paid&payment_status=unpaid"
    assert lotus_api.get(f"/api/invoices/?{both}&customer_id=victim-customer").json() == []
    # The same customer_id is free in this organization, and stays a separate row.
    response = lotus_api.post("/api/customers/", {"customer_id": "victim-customer",
                              "email": "me@example.com"}, format="json")  # fmt: skip
    assert response.status_code == 201
    assert response.json()["invoices"] == []
    assert Customer.objects.filter(external_id="victim-customer").count() == 2
    customer.refresh_from_db()
    assert customer.email == "" and customer.organization_id == invoice.organization_id
