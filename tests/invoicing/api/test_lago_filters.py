"""The invoice and customer lists' filters, as lago-api applies them
(app/controllers/concerns/invoice_index.rb, app/queries/invoices_query.rb,
app/contracts/queries/invoices_query_filters_contract.rb,
app/queries/customers_query.rb), and Lago's pagination
(app/controllers/concerns/pagination.rb over Kaminari 1.2.2)."""

import datetime as dt
import uuid
from unittest import mock

import pytest
from django.utils import timezone

from invoicing.api.pagination import page_params
from invoicing.models import Invoice
from invoicing.services.invoices import FeeInput, invoice_update, invoice_void
from tests.factories import make_add_on, make_customer, make_invoice, make_tax

pytestmark = pytest.mark.django_db

STATUS_MESSAGE = "must be one of: draft, finalized, voided, failed, pending"
PAYMENT_STATUS_MESSAGE = "must be one of: pending, succeeded, failed"


@pytest.fixture
def book(organization):
    """Four invoices, created in this order (so listed newest first: g2, g1,
    a2, a1), all issued today:

    - a1: Acme, EUR, 100.00, finalized (number ...-000001), payment failed,
      metadata po=42;
    - a2: Acme, EUR, 25.00, draft;
    - g1: Globex, USD, 50.00, finalized (...-000002), paid;
    - g2: Globex, USD, 70.00, finalized (...-000003) then voided.
    """
    acme = make_customer(organization, "cus-acme", name="Acme Corp", email="billing@acme.test",
                         legal_name="Initech Legal", currency="EUR")  # fmt: skip
    globex = make_customer(organization, "cus-globex", name="Globex", email="ap@globex.test",
                           currency="USD")  # fmt: skip
    eur_100 = make_add_on(organization, amount_cents=10_000, currency="EUR")
    eur_25 = make_add_on(organization, amount_cents=2_500, currency="EUR")
    usd_50 = make_add_on(organization, amount_cents=5_000, currency="USD")
    usd_70 = make_add_on(organization, amount_cents=7_000, currency="USD")

    def one(customer, add_on, currency, **kwargs):
        return make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)],
                            currency=currency, **kwargs)  # fmt: skip

    a1 = one(acme, eur_100, "EUR")
    a1 = invoice_update(invoice=a1, payment_status="failed",
                        metadata=[{"key": "po", "value": "42"}])  # fmt: skip
    a2 = one(acme, eur_25, "EUR", status=Invoice.Status.DRAFT)
    g1 = one(globex, usd_50, "USD")
    g1 = invoice_update(invoice=g1, payment_status="succeeded")
    g2 = invoice_void(invoice=one(globex, usd_70, "USD"))
    return {"a1": a1, "a2": a2, "g1": g1, "g2": g2}


def _names(book, response) -> list[str]:
    assert response.status_code == 200, response.content
    by_id = {str(invoice.id): name for name, invoice in book.items()}
    return [by_id[item["lago_id"]] for item in response.json()["invoices"]]


def _list(api, book, path="/api/v1/invoices", **params) -> list[str]:
    return _names(book, api.get(path, params))


def _error(response, status=422) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def test_without_filters_every_visible_invoice_newest_first(api, book):
    # InvoicesQuery: issuing_date desc, created_at desc, id asc.
    assert _list(api, book) == ["g2", "g1", "a2", "a1"]


def test_status_and_statuses(api, book):
    assert _list(api, book, status="finalized") == ["g1", "a1"]
    assert _list(api, book, **{"statuses[]": ["draft", "voided"]}) == ["g2", "a2"]
    # Statuses Lago has and this service never gives are valid and match nothing.
    assert _list(api, book, **{"statuses[]": ["failed", "pending"]}) == []


def test_an_unknown_status_is_the_contracts_422(api, book):
    # InvoicesQueryFiltersContract, its messages as the contract's spec gives them.
    body = _error(api.get("/api/v1/invoices", {"status": "paid"}))
    assert body == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"status": [f"{STATUS_MESSAGE} or must be an array"]},
    }
    body = _error(api.get("/api/v1/invoices", {"statuses[]": ["draft", "deleted"]}))
    assert body["error_details"] == {"status": {"1": [STATUS_MESSAGE]}}


def test_payment_status_and_payment_statuses(api, book):
    assert _list(api, book, payment_status="succeeded") == ["g1"]
    assert _list(api, book, **{"payment_statuses[]": ["succeeded", "failed"]}) == ["g1", "a1"]
    body = _error(api.get("/api/v1/invoices", {"payment_status": "paid"}))
    assert body["error_details"] == {
        "payment_status": [f"{PAYMENT_STATUS_MESSAGE} or must be an array"]
    }


def test_currency_and_invoice_type_are_exact(api, book):
    assert _list(api, book, currency="USD") == ["g2", "g1"]
    assert _list(api, book, currency="usd") == []
    assert _list(api, book, invoice_type="one_off") == ["g2", "g1", "a2", "a1"]
    assert _list(api, book, invoice_type="subscription") == []


def test_customer_external_id_under_both_names(api, book):
    # InvoicesController#index: external_customer_id || customer_external_id.
    assert _list(api, book, external_customer_id="cus-acme") == ["a2", "a1"]
    assert _list(api, book, customer_external_id="cus-globex") == ["g2", "g1"]
    both = {"external_customer_id": "cus-acme", "customer_external_id": "cus-globex"}
    assert _list(api, book, **both) == ["a2", "a1"]


def test_search_term_finds_numbers_ids_and_customers(api, book):
    a1, g1 = book["a1"], book["g1"]
    # InvoicesQuery#matching_invoices: number ILIKE, id =, customer fields ILIKE.
    assert _list(api, book, search_term=a1.number) == ["a1"]
    assert _list(api, book, search_term="-000002") == ["g1"]
    assert _list(api, book, search_term=str(g1.id)) == ["g1"]
    assert _list(api, book, search_term="  acme corp ") == ["a2", "a1"]  # stripped
    assert _list(api, book, search_term="AP@GLOBEX") == ["g2", "g1"]
    assert _list(api, book, search_term="cus-acm") == ["a2", "a1"]
    # The term's wildcards are literal (sanitize_sql_like).
    assert _list(api, book, search_term="%") == []
    # The customer's legal name is not among the searched fields (it is for customers).
    assert _list(api, book, search_term="Initech") == []


def test_search_term_within_one_customer_searches_numbers_only(api, book):
    # InvoicesQuery#search_customers? is false once a customer is named.
    params = {"external_customer_id": "cus-globex", "search_term": "acme"}
    assert _list(api, book, **params) == []
    params["search_term"] = "-00000"
    assert _list(api, book, **params) == ["g2", "g1"]


def test_amount_range_on_the_total(api, book):
    # InvoicesQuery#with_amount_range: total_amount_cents >= from, <= to.
    assert _list(api, book, amount_from=5000, amount_to=7000) == ["g2", "g1"]
    assert _list(api, book, amount_from=10_000) == ["a1"]
    assert _list(api, book, amount_to=2_500) == ["a2"]
    # lago-api casts the text in SQL and fails (a 500); here it is refused.
    body = _error(api.get("/api/v1/invoices", {"amount_from": "lots"}))
    assert body["error_details"] == {"amount_from": ["value_is_invalid"]}


def test_issuing_dates_and_unreadable_dates_ignored(api, book):
    today = book["a1"].issuing_date
    assert _list(api, book, issuing_date_from=today.isoformat()) == ["g2", "g1", "a2", "a1"]
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert _list(api, book, issuing_date_from=tomorrow) == []
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert _list(api, book, issuing_date_to=yesterday) == []
    # InvoiceIndex: a date that Date.iso8601 cannot read is no filter.
    assert _list(api, book, issuing_date_from="soon") == ["g2", "g1", "a2", "a1"]


def test_booleans_outside_the_contract_are_422(api, book):
    for name in ("self_billed", "payment_overdue"):
        body = _error(api.get("/api/v1/invoices", {name: "maybe"}))
        assert body["error_details"] == {name: ["must be boolean"]}


def test_self_billed(api, book):
    # No invoice here is self-billed (self_billed is false on all of them).
    assert _list(api, book, self_billed="true") == []
    assert _list(api, book, self_billed="false") == ["g2", "g1", "a2", "a1"]
    # "no" passes the contract as false, then ActiveModel's cast makes it true
    # (InvoicesQuery#with_self_billed): as lago-api answers.
    assert _list(api, book, self_billed="no") == []


def test_payment_dispute_lost(api, book):
    g1 = book["g1"]
    # No service records a lost dispute (lago-api's lose_dispute route is not
    # served): the row is marked directly.
    lost_at = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    Invoice.objects.filter(pk=g1.pk).update(payment_dispute_lost_at=lost_at)
    assert _list(api, book, payment_dispute_lost="true") == ["g1"]
    # lago-api hands the raw text to InvoicesQuery#with_payment_dispute_lost,
    # which tests it for truth: "false" is true in Ruby.
    assert _list(api, book, payment_dispute_lost="false") == ["g1"]
    shown = api.get(f"/api/v1/invoices/{g1.id}").json()["invoice"]
    # V1::InvoiceSerializer leaves this one to Rails' JSON encoder: milliseconds.
    assert shown["payment_dispute_lost_at"] == "2030-01-02T03:04:05.678Z"


def _at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def test_payment_overdue_is_past_due_and_unpaid(api, book):
    assert _list(api, book, payment_overdue="true") == []
    # A day later every invoice issued today (net payment term 0) is past due:
    # a1 is finalized and unpaid; g1 is paid, g2 voided, a2 a draft.
    with _at(timezone.now() + dt.timedelta(days=1)):
        assert _list(api, book, payment_overdue="true") == ["a1"]
        assert _list(api, book, payment_overdue="false") == ["g2", "g1", "a2"]
        item = api.get("/api/v1/invoices", {"payment_overdue": "true"}).json()["invoices"][0]
    assert item["payment_overdue"] is True


def test_payment_overdue_follows_each_customers_calendar(api, organization):
    """A Kiritimati customer's day starts 14 hours before UTC's: the same due
    date is passed there first (the rendered ``payment_overdue`` agrees)."""
    add_on = make_add_on(organization, amount_cents=1000)
    kiritimati = make_customer(organization, "kir", currency="EUR", timezone="Pacific/Kiritimati")
    utc = make_customer(organization, "utc", currency="EUR")
    with _at(dt.datetime(2030, 1, 10, 12, 0, tzinfo=dt.UTC)):
        # Issued (and due) 2030-01-11 in Kiritimati, 2030-01-10 in UTC.
        k = make_invoice(organization, kiritimati, [FeeInput(add_on_code=add_on.code)])
        u = make_invoice(organization, utc, [FeeInput(add_on_code=add_on.code)])
    names = {"k": k, "u": u}
    # 09:00 UTC on the 11th: the 11th in UTC (u past due), 23:00 on the 11th there.
    with _at(dt.datetime(2030, 1, 11, 9, 0, tzinfo=dt.UTC)):
        assert _list(api, names, payment_overdue="true") == ["u"]
    # 11:00 UTC: already the 12th in Kiritimati.
    with _at(dt.datetime(2030, 1, 11, 11, 0, tzinfo=dt.UTC)):
        assert sorted(_list(api, names, payment_overdue="true")) == ["k", "u"]


def test_metadata_pairs_and_absent_keys(api, book):
    # InvoicesQuery#with_metadata: every pair present; an empty value asks
    # for invoices without that key.
    assert _list(api, book, **{"metadata[po]": "42"}) == ["a1"]
    assert _list(api, book, **{"metadata[po]": "43"}) == []
    assert _list(api, book, **{"metadata[po]": "42", "metadata[team]": "x"}) == []
    assert _list(api, book, **{"metadata[po]": ""}) == ["g2", "g1", "a2"]


def test_billing_entity_codes(api, book, organization):
    code = organization.billing_entity_code
    assert _list(api, book, **{"billing_entity_codes[]": [code]}) == ["g2", "g1", "a2", "a1"]
    body = _error(api.get("/api/v1/invoices", {"billing_entity_codes[]": ["nope"]}), 404)
    assert body == {"status": 404, "error": "Not Found", "code": "billing_entity_not_found"}
    # InvoiceIndex compares the number found with the number sent (no uniq).
    twice = {"billing_entity_codes[]": [code, code]}
    assert _error(api.get("/api/v1/invoices", twice), 404)["code"] == "billing_entity_not_found"
    # CustomersController#index counts them uniquely.
    assert api.get("/api/v1/customers", twice).status_code == 200


def test_deleted_drafts_are_never_listed(api, book):
    api.delete(f"/api/v1/invoices/{book['a2'].id}")
    assert _list(api, book) == ["g2", "g1", "a1"]
    assert _error(api.get("/api/v1/invoices", {"status": "deleted"}))["error_details"] == {
        "status": [f"{STATUS_MESSAGE} or must be an array"]
    }


def test_the_customer_invoices_route_filters_too(api, book):
    path = "/api/v1/customers/cus-acme/invoices"
    assert _list(api, book, path) == ["a2", "a1"]
    assert _list(api, book, path, status="draft") == ["a2"]
    # The route's customer wins over a customer filter in the query.
    assert _list(api, book, path, external_customer_id="cus-globex") == ["a2", "a1"]
    # One customer's list: its name is not searched, numbers are.
    assert _list(api, book, path, search_term="acme") == []
    missing = _error(api.get("/api/v1/customers/nobody/invoices"), 404)
    assert missing["code"] == "customer_not_found"


# ------------------------------------------------------------- customers


def test_customer_search_term(api, book, organization):
    def found(term):
        response = api.get("/api/v1/customers", {"search_term": term})
        assert response.status_code == 200
        return [c["external_id"] for c in response.json()["customers"]]

    # CustomersQuery::SEARCHABLE_FIELDS: name, firstname, lastname, legal_name,
    # external_id, email; ILIKE.
    assert found("initech") == ["cus-acme"]
    assert found("GLOBEX.TEST") == ["cus-globex"]
    assert found("cus-") == ["cus-globex", "cus-acme"]
    assert found("nobody") == []
    make_customer(organization, "cus-jd", name="", firstname="Jane", lastname="Dœ")
    assert found("dœ") == ["cus-jd"]


# ------------------------------------------------------------ pagination


def test_page_params_as_kaminari_reads_them():
    # Pagination::PER_PAGE when not sent; Kaminari's 25 when not a count;
    # String#to_i for the page, the first page below 1.
    assert page_params({}) == (1, 100)
    assert page_params({"page": "0", "per_page": "500"}) == (1, 500)
    assert page_params({"page": "-3", "per_page": "abc"}) == (1, 25)
    assert page_params({"page": "2abc", "per_page": "+5"}) == (2, 25)
    assert page_params({"page": "1_0", "per_page": "7x"}) == (10, 7)
    # Beyond Lago: clamped as Kaminari's max_per_page would, where lago-api
    # serves any size; lago-api fails on 0 (a division by zero: 500).
    assert page_params({"per_page": "5000"}) == (1, 1000)
    assert page_params({"per_page": "0"}) == (1, 25)


def test_pages_default_to_100_and_larger_pages_are_served(api, organization):
    for index in range(101):
        make_tax(organization, code=f"t{index:03d}")
    page = api.get("/api/v1/taxes").json()
    assert len(page["taxes"]) == 100
    assert page["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None,
                            "total_pages": 2, "total_count": 101}  # fmt: skip
    assert len(api.get("/api/v1/taxes", {"per_page": 500}).json()["taxes"]) == 101
    first = api.get("/api/v1/taxes", {"page": 0, "per_page": 60}).json()
    assert first["meta"]["current_page"] == 1 and first["taxes"][0]["code"] == "t000"
    # A page past the last is empty and keeps its number (Kaminari's current_page).
    past = api.get("/api/v1/taxes", {"page": 5, "per_page": 60}).json()
    assert past["taxes"] == []
    assert past["meta"] == {"current_page": 5, "next_page": None, "prev_page": 4,
                            "total_pages": 2, "total_count": 101}  # fmt: skip


def test_an_empty_list_is_page_0_of_0(api):
    # Pagination#pagination_metadata: current_page nil.to_i when nothing matches.
    for params in ({}, {"page": 3}):
        meta = api.get("/api/v1/invoices", params).json()["meta"]
        assert meta == {"current_page": 0, "next_page": None, "prev_page": None,
                        "total_pages": 0, "total_count": 0}  # fmt: skip


def test_filters_and_search_are_answered_from_one_query_each(
    api, book, django_assert_max_num_queries
):
    # key, organization, count, page, applied taxes, customers' organization,
    # stored PDFs: a fixed number whatever the filters.
    params = {"search_term": "acme", "status": "finalized", "metadata[po]": "42",
              "payment_overdue": "false", "currency": "EUR"}  # fmt: skip
    with django_assert_max_num_queries(8):
        assert _list(api, book, **params) == ["a1"]


def test_text_no_row_can_hold_matches_nothing(api, book):
    # PostgreSQL refuses NUL in text, even in a WHERE clause: never a 500.
    for params in ({"search_term": "a\x00"}, {"currency": "EUR\x00"},
                   {"metadata[po\x00]": "42"}, {"external_customer_id": "\x00"}):  # fmt: skip
        assert _list(api, book, **params) == []
    assert api.get("/api/v1/customers", {"search_term": "\x00"}).json()["customers"] == []


def test_a_malformed_uuid_search_is_only_a_number_search(api, book):
    almost = str(uuid.uuid4())[:-1] + "g"
    assert _list(api, book, search_term=almost) == []
