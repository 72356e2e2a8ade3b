"""Bad input gets Lago's error bodies, never a 500, never half-written data."""

import pytest
from rest_framework.test import APIClient

from invoicing.models import Invoice
from tests.factories import make_add_on, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(organization):
    make_customer(organization, external_id="c1", currency="EUR")
    make_add_on(organization, code="setup", amount_cents=1000)
    make_customer(organization, external_id="jp", currency="JPY")
    make_add_on(organization, code="setup-jpy", amount_cents=1000, currency="JPY")


def _create(api, fee, **invoice):
    body = {"invoice": {"external_customer_id": "c1", "fees": [fee], **invoice}}
    return api.post("/api/v1/invoices", body, format="json")


def _assert_422(response, field, code=None):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["status"] == 422 and body["error"] == "Unprocessable Entity"
    assert body["code"] == "validation_errors"
    assert field in body["error_details"], body
    if code:
        assert code in body["error_details"][field], body


def test_unknown_routes_and_methods_are_json_404(api):
    for method, path in [
        ("get", "/api/v1/nope"),
        ("post", "/api/v1/invoices/x/y/z"),
        ("delete", "/api/v1/invoices"),
        ("patch", "/api/v1/customers"),
        ("get", "/api/v1/invoices/"),
    ]:
        response = getattr(api, method)(path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {
            "status": 404,
            "error": "Not Found",
            "code": "resource_not_found",
        }


def test_unknown_route_without_a_key_is_still_json(db):
    response = APIClient().post("/api/v1/whatever")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_malformed_json_is_400(api):
    response = api.generic(
        "POST", "/api/v1/invoices", b'{"invoice": {', content_type="application/json"
    )
    assert response.status_code == 400
    # Rails' own answer to an unparsable body (ActionDispatch::PublicExceptions).
    assert response.json() == {"status": 400, "error": "Bad Request"}


def test_invalid_utf8_is_a_4xx(api):
    response = api.generic(
        "POST", "/api/v1/customers", b'{"customer": {"external_id": "\xff\xfe"}}',
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400


def test_missing_root_key_is_400_and_missing_fields_are_422(api, catalog):
    # Api::BaseController rescues ActionController::ParameterMissing (Rails 8's message).
    response = api.post("/api/v1/invoices", {"fees": []}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: invoice",
    }
    # An empty object is "missing" too (Rails' ``present?``).
    assert api.post("/api/v1/customers", {"customer": {}}, format="json").status_code == 400
    _assert_422(api.post("/api/v1/customers", {"customer": {"name": "x"}}, format="json"),
                "external_id", "value_is_mandatory")  # fmt: skip
    # Invoices::CreateOneOffService looks the customer up, then the fees: either
    # missing is its 404, not a validation error.
    response = api.post("/api/v1/invoices", {"invoice": {"currency": "EUR"}}, format="json")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
    for body in ({"external_customer_id": "c1"}, {"external_customer_id": "c1", "fees": []}):
        response = api.post("/api/v1/invoices", {"invoice": body}, format="json")
        assert response.status_code == 404, body
        assert response.json() == {"status": 404, "error": "Not Found", "code": "fees_not_found"}


@pytest.mark.parametrize(
    "fee, field",
    [
        ({"add_on_code": "setup", "units": 1e30}, "fees.0.units"),
        ({"add_on_code": "setup", "units": -1}, "fees.0.units"),
        ({"add_on_code": "setup", "units": "abc"}, "fees.0.units"),
        ({"add_on_code": "setup", "units": True}, "fees.0.units"),
        ({"add_on_code": "setup", "unit_amount_cents": -5}, "fees.0.unit_amount_cents"),
        ({"add_on_code": "setup", "unit_amount_cents": 10.5}, "fees.0.unit_amount_cents"),
        ({"add_on_code": "setup", "unit_amount_cents": 1e40}, "fees.0.unit_amount_cents"),
        # Fees::OneOffService#valid_boundaries?: one key for any bad period.
        ({"add_on_code": "setup", "from_datetime": "yesterday"}, "boundaries"),
        ({"add_on_code": "setup", "tax_codes": "vat"}, "fees.0.tax_codes"),
    ],
)
def test_absurd_fee_values_are_422_and_nothing_is_written(api, catalog, fee, field):
    _assert_422(_create(api, fee), field)
    assert Invoice.objects.count() == 0


def test_a_fraction_of_a_minor_unit_in_a_zero_decimal_currency_is_refused(api, catalog):
    body = {
        "invoice": {
            "external_customer_id": "jp",
            "currency": "JPY",
            "fees": [{"add_on_code": "setup-jpy", "unit_amount_cents": "100.125"}],
        }
    }
    _assert_422(api.post("/api/v1/invoices", body, format="json"), "fees.0.unit_amount_cents")


def test_unknown_currency_and_mismatched_currency(api, catalog):
    _assert_422(_create(api, {"add_on_code": "setup"}, currency="XYZ"), "currency")
    _assert_422(_create(api, {"add_on_code": "setup"}, currency="USD"), "currency",
                "currencies_does_not_match")  # fmt: skip


def test_unknown_references_are_404(api, catalog):
    response = _create(api, {"add_on_code": "nope"})
    assert response.status_code == 404 and response.json()["code"] == "add_on_not_found"
    response = _create(api, {"add_on_code": "setup", "tax_codes": ["nope"]})
    assert response.status_code == 404 and response.json()["code"] == "tax_not_found"
    assert Invoice.objects.count() == 0


def test_units_as_string_or_number_and_nulls_as_absent(api, catalog):
    response = _create(
        api,
        {"add_on_code": "setup", "units": "2.5", "unit_amount_cents": None,
         "description": None, "tax_codes": None},
        purchase_order_number=None,
    )  # fmt: skip
    assert response.status_code == 200, response.content
    fee = response.json()["invoice"]["fees"][0]
    assert fee["units"] == "2.5" and fee["amount_cents"] == 2500
    response = _create(api, {"add_on_code": "setup", "units": 3})
    assert response.json()["invoice"]["fees_amount_cents"] == 3000


def test_duplicate_codes_are_422(api):
    body = {"tax": {"code": "vat", "name": "VAT", "rate": 20}}
    assert api.post("/api/v1/taxes", body, format="json").status_code == 200
    _assert_422(api.post("/api/v1/taxes", body, format="json"), "code", "value_already_exist")


def test_voiding_a_draft_is_405_not_voidable(api, catalog):
    draft = _create(api, {"add_on_code": "setup"}, status="draft").json()["invoice"]
    response = api.post(f"/api/v1/invoices/{draft['lago_id']}/void")
    assert response.status_code == 405
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "not_voidable"}


def test_a_body_over_the_limit_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"customer": {"external_id": "x", "name": "y" * 5000}}
    response = api.post("/api/v1/customers", body, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_one_requests_errors_never_reach_the_next(api, catalog):
    # The input serializers are built once per thread and reused: each
    # answer must carry its own request's errors, whole, and nothing else.
    bad_units = _create(api, {"add_on_code": "setup", "units": "-1"})
    bad_both = _create(
        api, {"add_on_code": "setup", "units": "x", "unit_amount_cents": "-5"}, net_payment_term=-1
    )
    good = _create(api, {"add_on_code": "setup", "units": "2"})
    bad_term = _create(api, {"add_on_code": "setup"}, net_payment_term="soon")
    assert good.status_code == 200, good.content
    assert good.json()["invoice"]["fees_amount_cents"] == 2000
    details = [r.json()["error_details"] for r in (bad_units, bad_both, bad_term)]
    assert [sorted(d) for d in details] == [
        ["fees.0.units"],
        ["fees.0.unit_amount_cents", "fees.0.units", "net_payment_term"],
        ["net_payment_term"],
    ]
