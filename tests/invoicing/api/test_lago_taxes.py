"""Which taxes a fee gets, and what Lago's face says about them.

The hierarchy follows lago-api's ``Fees::ApplyTaxesService#applicable_taxes``
for an add-on fee: the fee's ``tax_codes``, else the add-on's taxes, else the
customer's, else the organization's defaults. Expected amounts are worked by
hand (10,000 cents at the rate that should apply).
"""

import pytest

from invoicing.models import Invoice, Tax, WebhookEvent

pytestmark = pytest.mark.django_db


def _post(api, path, root, body):
    return api.post(path, {root: body}, format="json")


@pytest.fixture
def catalog(api):
    """Four taxes, one of them the organization's default, and two add-ons:
    one with its own tax, one without."""
    for code, rate, default in [
        ("vat_20", "20", False),
        ("vat_19", "19", False),
        ("reduced_5_5", "5.5", False),
        ("org_default_7", "7", True),
    ]:
        body = {"code": code, "name": code, "rate": rate, "applied_to_organization": default}
        assert _post(api, "/api/v1/taxes", "tax", body).status_code == 200
    for code, tax_codes in [("taxed", ["vat_20"]), ("untaxed", [])]:
        body = {"code": code, "name": code, "amount_cents": 10_000, "amount_currency": "EUR",
                "tax_codes": tax_codes}  # fmt: skip
        assert _post(api, "/api/v1/add_ons", "add_on", body).status_code == 200
    return api


def _invoice(api, customer, *fees):
    response = _post(
        api,
        "/api/v1/invoices",
        "invoice",
        {"external_customer_id": customer, "currency": "EUR", "fees": list(fees)},
    )
    assert response.status_code == 200, response.json()
    return response.json()["invoice"]


def _customer(api, external_id, **fields):
    response = _post(api, "/api/v1/customers", "customer", {"external_id": external_id, **fields})
    assert response.status_code == 200, response.json()
    return response.json()["customer"]


def _taxes(invoice):
    return [(t["tax_code"], t["amount_cents"]) for t in invoice["applied_taxes"]]


def test_fee_tax_codes_override_the_add_ons_taxes(catalog):
    """Fees::ApplyTaxesService#applicable_taxes: ``tax_codes`` first. 10,000 x 5.5 % = 550."""
    _customer(catalog, "c1", tax_codes=["vat_19"])
    invoice = _invoice(catalog, "c1", {"add_on_code": "taxed", "tax_codes": ["reduced_5_5"]})
    assert _taxes(invoice) == [("reduced_5_5", 550)]
    assert invoice["fees"][0]["taxes_rate"] == 5.5


def test_the_add_ons_taxes_come_before_the_customers(catalog):
    """Fees::ApplyTaxesService#applicable_taxes: ``fee.add_on.taxes`` when any. 10,000 x 20 %."""
    _customer(catalog, "c1", tax_codes=["vat_19"])
    invoice = _invoice(catalog, "c1", {"add_on_code": "taxed"})
    assert _taxes(invoice) == [("vat_20", 2000)]


def test_customer_taxes_apply_where_the_add_on_has_none(catalog):
    """Fees::ApplyTaxesService#applicable_taxes: ``customer.taxes`` before the
    organization's defaults. 10,000 x 19 % = 1,900 (not the default 7 %)."""
    customer = _customer(catalog, "c1", tax_codes=["vat_19"])
    assert [t["code"] for t in customer["taxes"]] == ["vat_19"]
    invoice = _invoice(catalog, "c1", {"add_on_code": "untaxed"})
    assert _taxes(invoice) == [("vat_19", 1900)]
    assert invoice["taxes_amount_cents"] == 1900
    assert invoice["total_amount_cents"] == 11_900


def test_empty_fee_tax_codes_inherit(catalog):
    """Fees::OneOffService#call applies explicit codes only when ``present?``:
    ``[]`` falls through to the hierarchy (here the customer's 19 %)."""
    _customer(catalog, "c1", tax_codes=["vat_19"])
    invoice = _invoice(catalog, "c1", {"add_on_code": "untaxed", "tax_codes": []})
    assert _taxes(invoice) == [("vat_19", 1900)]


def test_the_organizations_default_taxes_come_last(catalog):
    """Fees::ApplyTaxesService#applicable_taxes: the billing entity's default
    taxes (``applied_to_organization``). 10,000 x 7 % = 700."""
    _customer(catalog, "c2")
    invoice = _invoice(catalog, "c2", {"add_on_code": "untaxed"})
    assert _taxes(invoice) == [("org_default_7", 700)]


def test_customer_taxes_are_replaced_on_update_and_shown(catalog):
    """Customers::ApplyTaxesService: the codes sent replace the customer's taxes."""
    _customer(catalog, "c1", tax_codes=["vat_19", "vat_20"])
    updated = _customer(catalog, "c1", tax_codes=["reduced_5_5"])
    assert [t["code"] for t in updated["taxes"]] == ["reduced_5_5"]
    shown = catalog.get("/api/v1/customers/c1").json()["customer"]
    assert [t["code"] for t in shown["taxes"]] == ["reduced_5_5"]
    listed = catalog.get("/api/v1/customers").json()["customers"]
    assert [t["code"] for t in listed[0]["taxes"]] == ["reduced_5_5"]
    # Leaving tax_codes out keeps them; an empty list removes them.
    assert [t["code"] for t in _customer(catalog, "c1", name="Jo")["taxes"]] == ["reduced_5_5"]
    assert _customer(catalog, "c1", tax_codes=[])["taxes"] == []


def test_an_unknown_customer_tax_code_is_lagos_tax_not_found(catalog):
    """Customers::ApplyTaxesService#call: ``not_found_failure!(resource: "tax")``,
    and the customer is not created."""
    response = _post(catalog, "/api/v1/customers", "customer",
                     {"external_id": "c9", "tax_codes": ["vat_19", "nope"]})  # fmt: skip
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}
    assert catalog.get("/api/v1/customers/c9").status_code == 404


def test_an_unknown_fee_tax_code_is_refused(catalog):
    """lago-api's Fees::ApplyTaxesService drops unknown codes silently; this
    service answers Lago's ``tax_not_found`` instead (an issued invoice cannot
    be corrected), and creates nothing."""
    _customer(catalog, "c1")
    before = Invoice.objects.count()
    response = _post(catalog, "/api/v1/invoices", "invoice", {
        "external_customer_id": "c1", "currency": "EUR",
        "fees": [{"add_on_code": "taxed", "tax_codes": ["vat_20", "nope"]}],
    })  # fmt: skip
    assert response.status_code == 404
    assert response.json()["code"] == "tax_not_found"
    assert Invoice.objects.count() == before


def test_a_zero_total_invoice_is_paid_at_finalization(catalog, organization):
    """Invoices::CreateOneOffService#call: ``total_amount_cents.positive? ?
    :pending : :succeeded``; announced with invoice.payment_status_updated."""
    _customer(catalog, "c1")
    invoice = _invoice(catalog, "c1", {"add_on_code": "taxed", "unit_amount_cents": 0})
    assert (invoice["total_amount_cents"], invoice["payment_status"]) == (0, "succeeded")
    events = WebhookEvent.objects.filter(object_id=invoice["lago_id"]).order_by("created_at")
    assert [e.event_type for e in events] == ["invoice.created", "invoice.payment_status_updated"]
    assert events[1].payload["invoice"]["payment_status"] == "succeeded"
    paid = _invoice(catalog, "c1", {"add_on_code": "taxed"})
    assert paid["payment_status"] == "pending"


def test_a_zero_total_draft_stays_pending_until_finalized(catalog):
    _customer(catalog, "c1")
    response = _post(catalog, "/api/v1/invoices", "invoice", {
        "external_customer_id": "c1", "currency": "EUR", "status": "draft",
        "fees": [{"add_on_code": "taxed", "unit_amount_cents": 0}],
    })  # fmt: skip
    draft = response.json()["invoice"]
    assert draft["payment_status"] == "pending"
    finalized = catalog.put(f"/api/v1/invoices/{draft['lago_id']}/finalize").json()["invoice"]
    assert finalized["payment_status"] == "succeeded"


def test_fee_fields_carry_the_precise_amounts(catalog):
    """V1::FeeSerializer: ``precise_*`` in major units and ``*_cents`` precise
    values as lago-api's JSON writes a BigDecimal. 0.3333 units x 10,000 cents =
    3,333 cents (precise 3,333.0); 20 % is 666.6 -> 667, precise 666.6."""
    _customer(catalog, "c1")
    invoice = _invoice(catalog, "c1", {"add_on_code": "taxed", "units": "0.3333"})
    fee = invoice["fees"][0]
    assert fee["amount_cents"] == 3333
    assert fee["precise_amount"] == "33.33"
    assert fee["precise_unit_amount"] == "100.0"
    assert fee["units"] == "0.3333"
    assert fee["taxes_amount_cents"] == 667
    assert fee["taxes_precise_amount"] == "6.666"
    assert fee["precise_total_amount"] == "39.996"
    assert fee["total_amount_cents"] == 3333 + 667
    assert fee["precise_coupons_amount_cents"] == "0.0"
    assert fee["sub_total_excluding_taxes_amount_cents"] == 3333
    assert fee["sub_total_excluding_taxes_precise_amount_cents"] == "3333.0"
    assert fee["total_aggregated_units"] is None
    # Fees::OneOffService#from_datetime: a fee sent without a period spans
    # the moment it was made, written as Fee#from_date does.
    assert fee["from_date"] == fee["to_date"]
    assert fee["from_date"].endswith("+00:00") and "." not in fee["from_date"]
    explicit = _invoice(catalog, "c1", {
        "add_on_code": "taxed",
        "from_datetime": "2025-01-01T00:00:00Z", "to_datetime": "2025-01-31T23:59:59.5Z",
    })["fees"][0]  # fmt: skip
    assert (explicit["from_date"], explicit["to_date"]) == (
        "2025-01-01T00:00:00+00:00",
        "2025-01-31T23:59:59+00:00",
    )


def test_vat_categories_are_stored_shown_and_copied_onto_invoices(catalog):
    body = {
        "code": "rc",
        "name": "Reverse charge",
        "rate": "0",
        "vat_category_code": "AE",
        "vat_exemption_reason": "Reverse charge",
        "vat_exemption_reason_code": "VATEX-EU-AE",
    }
    tax = _post(catalog, "/api/v1/taxes", "tax", body).json()["tax"]
    assert (tax["vat_category_code"], tax["vat_exemption_reason_code"]) == ("AE", "VATEX-EU-AE")
    assert catalog.get("/api/v1/taxes/vat_20").json()["tax"]["vat_category_code"] == "S"
    _customer(catalog, "c1")
    invoice = _invoice(catalog, "c1", {"add_on_code": "taxed", "tax_codes": ["rc"]})
    (applied,) = invoice["applied_taxes"]
    assert (applied["amount_cents"], applied["vat_category_code"]) == (0, "AE")
    assert invoice["fees"][0]["applied_taxes"][0]["vat_exemption_reason"] == "Reverse charge"
    # Editing the tax later leaves the issued invoice as it was.
    catalog.put("/api/v1/taxes/rc", {"tax": {"vat_exemption_reason": "Autoliquidation"}},
                format="json")  # fmt: skip
    again = catalog.get(f"/api/v1/invoices/{invoice['lago_id']}").json()["invoice"]
    assert again["applied_taxes"][0]["vat_exemption_reason"] == "Reverse charge"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"vat_category_code": "X"}, {"vat_category_code": ["value_is_invalid"]}),
        ({"vat_category_code": "s"}, {"vat_category_code": ["value_is_invalid"]}),
        (
            {"vat_exemption_reason_code": "EU-AE"},
            {"vat_exemption_reason_code": ["value_is_invalid"]},
        ),
        ({"vat_category_code": "AE", "rate": "20"}, {"rate": ["must_be_zero_for_vat_category"]}),
    ],
)
def test_bad_vat_categories_are_lagos_422(api, body, details):
    response = _post(api, "/api/v1/taxes", "tax", {"code": "t", "name": "T", "rate": "0", **body})
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert not Tax.objects.exists()


def test_only_a_taken_code_is_answered_as_one(api):
    """A duplicate code is Lago's 422 value_already_exist; another integrity
    error is not passed off as one (it used to be, whenever its message held
    the word "unique")."""
    from unittest import mock

    from django.db import IntegrityError

    from invoicing.services import catalog

    body = {"code": "dup", "name": "Dup", "rate": "10"}
    assert _post(api, "/api/v1/taxes", "tax", body).status_code == 200
    again = _post(api, "/api/v1/taxes", "tax", body)
    assert again.status_code == 422
    assert again.json()["error_details"] == {"code": ["value_already_exist"]}

    class Diag:
        constraint_name = "some_other_unique_index"

    other = IntegrityError("duplicate key value violates unique constraint")
    other.__cause__ = type("Cause", (Exception,), {"diag": Diag()})()
    assert catalog._code_taken(other, Tax) is False
    with mock.patch.object(Tax, "save", side_effect=other), pytest.raises(IntegrityError):
        catalog.tax_create(organization=Tax.objects.get(code="dup").organization,
                           data={"code": "x", "name": "X", "rate": 1})  # fmt: skip
