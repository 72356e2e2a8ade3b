"""lotus-python 0.12.0, unchanged, against a live server: the customer calls
it makes (the only invoice-adjacent ones) and the models it parses them with.

lotus-python's models are pydantic 1 models (``__root__`` fields) and import
``pydantic`` by that name; this environment has pydantic 2 (other test tools
need it), which refuses them at import. Its users run it with pydantic 1, so
it is imported here against pydantic 2's bundled v1 API, code unchanged.
"""

import sys

import pydantic
import pydantic.v1
import pytest

sys.modules["pydantic"] = pydantic.v1
try:
    from lotus import Client
    from lotus import request as lotus_request
    from lotus.request import APIError
finally:
    sys.modules["pydantic"] = pydantic

from invoicing.models import Customer, Invoice  # noqa: E402
from invoicing.services.invoices import invoice_update  # noqa: E402
from tests.factories import make_customer, make_invoice, make_organization  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_lotus_connections():
    yield
    # lotus-python keeps one module-level requests session with keep-alive
    # connections; an open one holds a live-server thread, and its database
    # connection, past the end of the test.
    lotus_request._session.close()


@pytest.fixture
def lotus(live_server):
    organization, key = make_organization(name="Lotus Client Co")
    # sync_mode: no background consumer thread; the customer calls block anyway.
    return Client(api_key=key, host=live_server.url, sync_mode=True), organization


def test_create_list_and_get_customers(lotus):
    client, organization = lotus

    created = client.create_customer(
        customer_id="cus_lotus_1",
        customer_name="Ada Lovelace",
        email="ada@example.com",
        properties={"plan": "pro"},
    )

    assert created["customer_id"] == "cus_lotus_1"
    assert created["customer_name"] == "Ada Lovelace"
    assert created["email"] == "ada@example.com"
    assert created["invoices"] == [] and created["total_amount_due"] == 0
    row = Customer.objects.get(organization=organization, external_id="cus_lotus_1")
    assert (row.name, row.email) == ("Ada Lovelace", "ada@example.com")
    assert row.metadata[0]["key"] == "plan" and row.metadata[0]["value"] == "pro"

    client.create_customer(customer_id="cus_lotus_2", email="bob@example.com",
                           customer_name="Bob")  # fmt: skip
    listed = client.list_customers()
    assert [c["customer_id"] for c in listed] == ["cus_lotus_2", "cus_lotus_1"]

    fetched = client.get_customer(customer_id="cus_lotus_1")
    assert fetched["customer_id"] == "cus_lotus_1" and fetched["email"] == "ada@example.com"


def test_a_duplicate_or_unknown_customer_raises_lotus_errors(lotus):
    client, _ = lotus
    client.create_customer(customer_id="dup", email="d@example.com", customer_name="D")
    with pytest.raises(APIError) as duplicate:
        client.create_customer(customer_id="dup", email="e@example.com", customer_name="E")
    assert duplicate.value.status == 400
    assert duplicate.value.payload["title"] == "duplicate_resource"
    with pytest.raises(APIError) as missing:
        client.get_customer(customer_id="nobody")
    assert missing.value.status == 404
    assert missing.value.payload["title"] == "not_found"


def test_strict_mode_parses_a_customer_with_invoices(live_server):
    """``strict=True`` validates every response against lotus-python's own
    pydantic models (emails, currencies, time zones, invoice objects)."""
    organization, raw_key = make_organization(name="Strict Co")
    customer = make_customer(organization, external_id="cus_strict", name="Grace Hopper",
                             email="grace@example.com", currency="USD")  # fmt: skip
    paid = make_invoice(organization, customer=customer, currency="USD")
    invoice_update(invoice=paid, payment_status=Invoice.PaymentStatus.SUCCEEDED)
    unpaid = make_invoice(organization, customer=customer, currency="USD")
    strict = Client(api_key=raw_key, host=live_server.url, sync_mode=True, strict=True)

    fetched = strict.get_customer(customer_id="cus_strict")

    assert fetched["customer_id"] == "cus_strict"
    assert fetched["default_currency"] == {"code": "USD", "name": "US Dollar", "symbol": "$"}
    assert {i["invoice_id"]: i["payment_status"].value for i in fetched["invoices"]} == {
        paid.lotus_id: "paid", unpaid.lotus_id: "unpaid"
    }  # fmt: skip
    unpaid.refresh_from_db()
    assert fetched["total_amount_due"] == unpaid.total_amount_cents / 100
    assert [c["customer_id"] for c in strict.list_customers()] == ["cus_strict"]


# Upstream's organization default currency (metering_billing/models.py,
# Organization.save: the USD pricing unit unless set; enums.py
# SUPPORTED_CURRENCIES: ("US Dollar", "USD", "$")).
LOTUS_DEFAULT_CURRENCY = {"code": "USD", "name": "US Dollar", "symbol": "$"}


def test_strict_mode_creates_reads_and_lists_a_customer_in_the_default_currency(live_server):
    """lotus-python's own calls, each answer validated by its pydantic models
    (``strict=True``): create, get and list, for a customer that names no
    currency (lotus-python's create_customer sends none). Its Customer model
    requires a PricingUnit as default_currency: a null there fails the parse
    (pydantic.v1.ValidationError)."""
    organization, raw_key = make_organization(name="Strict Create Co")
    strict = Client(api_key=raw_key, host=live_server.url, sync_mode=True, strict=True)

    created = strict.create_customer(customer_id="cus_new", customer_name="Ada Lovelace",
                                     email="ada@example.com")  # fmt: skip
    assert (created["customer_id"], created["email"]) == ("cus_new", "ada@example.com")
    assert created["default_currency"] == LOTUS_DEFAULT_CURRENCY
    row = Customer.objects.get(organization=organization, external_id="cus_new")
    assert row.name == "Ada Lovelace"

    fetched = strict.get_customer(customer_id="cus_new")
    assert fetched["customer_name"] == "Ada Lovelace"
    assert fetched["default_currency"] == LOTUS_DEFAULT_CURRENCY
    assert fetched["invoices"] == [] and fetched["total_amount_due"] == 0

    strict.create_customer(customer_id="cus_other", customer_name="Bob", email="bob@example.com")
    listed = strict.list_customers()
    assert [(c["customer_id"], c["default_currency"]) for c in listed] == [
        ("cus_other", LOTUS_DEFAULT_CURRENCY),
        ("cus_new", LOTUS_DEFAULT_CURRENCY),
    ]


def test_strict_mode_reads_back_a_customer_created_with_a_currency(live_server):
    """The same calls for a customer whose currency is known: what strict mode
    parses besides the default currency (email, time zone, integrations)."""
    organization, raw_key = make_organization(name="Strict Read Co")
    make_customer(organization, external_id="cus_eur", name="Émilie", email="e@example.com",
                  currency="EUR", timezone="Europe/Paris")  # fmt: skip
    strict = Client(api_key=raw_key, host=live_server.url, sync_mode=True, strict=True)

    fetched = strict.get_customer(customer_id="cus_eur")

    assert fetched["default_currency"] == {"code": "EUR", "name": "Euro", "symbol": "€"}
    assert fetched["timezone"].value == "Europe/Paris"
    assert fetched["subscriptions"] == [] and fetched["payment_provider"] is None
    assert [c["customer_id"] for c in strict.list_customers()] == ["cus_eur"]
    with pytest.raises(APIError) as missing:
        strict.get_customer(customer_id="cus_nobody")
    assert missing.value.status == 404
