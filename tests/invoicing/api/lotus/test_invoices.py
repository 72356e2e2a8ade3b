"""GET /api/invoices/ and GET /api/invoices/{invoice_id}/."""

import re

import pytest

from invoicing.models import Invoice
from invoicing.services.invoices import FeeInput, invoice_update, invoice_void
from tests.factories import make_add_on, make_customer, make_invoice
from tests.invoicing.api.lotus.conftest import make_rich_invoice, render_now
from tests.invoicing.api.lotus.seed import INVOICE, check
from tests.invoicing.api.shapes import assert_declared_shape

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(organization):
    """Two paid and two unpaid invoices of two customers, a voided one and a draft."""
    alice = make_customer(organization, external_id="alice", currency="EUR")
    bob = make_customer(organization, external_id="bob", currency="EUR")
    invoices = {}
    for name, customer, paid in (
        ("alice_paid", alice, True),
        ("alice_unpaid", alice, False),
        ("bob_paid", bob, True),
        ("bob_unpaid", bob, False),
    ):
        invoice = make_invoice(organization, customer=customer)
        if paid:
            invoice_update(invoice=invoice, payment_status=Invoice.PaymentStatus.SUCCEEDED)
        invoices[name] = invoice
    invoices["voided"] = invoice_void(invoice=make_invoice(organization, customer=alice))
    invoices["draft"] = make_invoice(organization, customer=alice, status=Invoice.Status.DRAFT)
    return invoices


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert isinstance(body, list)
    for item in body:
        check(item, INVOICE)
    return {item["invoice_id"] for item in body}


def test_lists_paid_by_default_and_filters_by_payment_status_and_customer(lotus_api, book):
    ids = {name: invoice.lotus_id for name, invoice in book.items()}
    assert _ids(lotus_api.get("/api/invoices/")) == {ids["alice_paid"], ids["bob_paid"]}
    assert _ids(lotus_api.get("/api/invoices/?payment_status=unpaid")) == {
        ids["alice_unpaid"], ids["bob_unpaid"]
    }  # fmt: skip
    both = lotus_api.get("/api/invoices/?payment_status=paid&payment_status=unpaid")
    assert _ids(both) == {ids[n] for n in ("alice_paid", "alice_unpaid", "bob_paid", "bob_unpaid")}
    assert _ids(
        lotus_api.get("/api/invoices/?payment_status=paid&payment_status=unpaid&customer_id=bob")
    ) == {ids["bob_paid"], ids["bob_unpaid"]}
    assert _ids(lotus_api.get("/api/invoices/?customer_id=alice")) == {ids["alice_paid"]}
    assert _ids(lotus_api.get("/api/invoices/?customer_id=nobody")) == set()


def test_a_bad_payment_status_is_a_validation_error(lotus_api, book):
    response = lotus_api.get("/api/invoices/?payment_status=voided")
    assert response.status_code == 400
    assert response.json()["validation_errors"][0]["attr"] == "payment_status"


def test_pages_follow_the_link_header(lotus_api, organization):
    customer = make_customer(organization, currency="EUR")
    made = {make_invoice(organization, customer=customer).lotus_id for _ in range(5)}
    seen, pages = [], 0
    url = "/api/invoices/?payment_status=unpaid&page_size=2"
    while url:
        response = lotus_api.get(url)
        pages += 1
        seen += [item["invoice_id"] for item in response.json()]
        match = re.search(r'<([^>]+)>; rel="next"', response.get("Link", ""))
        url = match.group(1) if match else None
    assert pages == 3 and len(seen) == 5 and set(seen) == made


def test_detail_by_id_or_number_with_the_pdf_once_stored(lotus_api, organization):
    invoice = make_rich_invoice(organization)
    by_id = lotus_api.get(f"/api/invoices/{invoice.lotus_id}/")
    assert by_id.status_code == 200
    check(by_id.json(), INVOICE)
    assert by_id.json()["invoice_pdf"] is None  # never waits: the PDF is not rendered yet
    render_now(invoice)
    by_number = lotus_api.get(f"/api/invoices/{invoice.number}/").json()
    assert by_number["invoice_pdf"].startswith("http")
    assert {**by_number, "invoice_pdf": None} == by_id.json()


def test_detail_of_a_draft_or_a_voided_invoice(lotus_api, book):
    assert lotus_api.get(f"/api/invoices/{book['draft'].lotus_id}/").status_code == 404
    voided = lotus_api.get(f"/api/invoices/{book['voided'].number}/").json()
    assert voided["payment_status"] == "voided"


def test_listing_costs_a_fixed_number_of_queries(lotus_api, book, django_assert_num_queries):
    # key, organization (the seller), page, line counts, lines, stored PDFs
    with django_assert_num_queries(6):
        response = lotus_api.get("/api/invoices/?payment_status=paid&payment_status=unpaid")
    assert len(response.json()) == 4


def test_a_page_stops_at_the_invoice_that_reaches_the_lines_limit(
    lotus_api, organization, monkeypatch
):
    """Issue 15: 500 invoices of 10,000 lines would load 5 million rows in one
    request. A page ends after the invoice that reaches LOTUS_MAX_LINES_PER_PAGE
    (at least one invoice a page); the Link header goes on from there."""
    from invoicing import selectors

    monkeypatch.setattr(selectors, "LOTUS_MAX_LINES_PER_PAGE", 3)
    add_on = make_add_on(organization, currency="EUR")
    customer = make_customer(organization, external_id="many-lines", currency="EUR")
    fees = [FeeInput(add_on_code=add_on.code)] * 2  # 2 lines each
    for _ in range(3):
        make_invoice(organization, customer=customer, fees=fees)
    url = "/api/invoices/?customer_id=many-lines&payment_status=unpaid"
    seen, pages = [], 0
    while url:
        response = lotus_api.get(url)
        assert response.status_code == 200
        body = response.json()
        # 2 lines fit; a second invoice would make 4 > 3: one invoice a page.
        assert len(body) == 1 and len(body[0]["line_items"]) == 2
        seen += [i["invoice_id"] for i in body]
        pages += 1
        link = response.headers.get("Link", "")
        url = link.split(">")[0].lstrip("<") if 'rel="next"' in link else None
        assert pages <= 5
    assert len(set(seen)) == 3


def test_a_tampered_cursor_is_a_lotus_400(lotus_api):
    import base64

    for raw in (b"p=notadate", b"o=abc&p=2025-01-01T00:00:00Z", b"r=x"):
        cursor = base64.b64encode(raw).decode()
        response = lotus_api.get(f"/api/invoices/?cursor={cursor}")
        assert response.status_code == 400, (cursor, response.content)
        body = response.json()
        assert body["type"].endswith("#validation-error") and body["title"]


def test_rendered_keys_are_the_declared_schema_fields(lotus_api, organization):
    from invoicing.api.lotus import serializers as s

    customer = make_customer(organization, external_id="shape", currency="EUR", city="Nice",
                             country="FR", address_line1="1 quai", zipcode="06000")  # fmt: skip
    invoice = make_rich_invoice(organization)
    make_invoice(organization, customer=customer)
    render_now(invoice)
    shown = lotus_api.get(f"/api/invoices/{invoice.lotus_id}/").json()
    assert_declared_shape(shown, s.LotusInvoiceOutput())
    pdf_url = lotus_api.get(f"/api/invoices/{invoice.lotus_id}/pdf_url/").json()
    assert_declared_shape(pdf_url, s.LotusInvoicePdfUrlOutput())
    assert pdf_url["line_items"][0]["plan"] and pdf_url["line_items"][0]["adjustments"]
    customer_body = lotus_api.get("/api/customers/shape/").json()
    assert customer_body["invoices"] and customer_body["address"]
    assert_declared_shape(customer_body, s.LotusCustomerOutput())
