"""Bad input answered as lago-api answers it: its status codes, error codes
and the order it checks things in. Each rule cites where lago-api has it."""

import pytest

from invoicing.models import Customer, Invoice
from tests.factories import make_add_on, make_customer, make_invoice

pytestmark = pytest.mark.django_db


def _customer(api, **fields):
    return api.post("/api/v1/customers", {"customer": {"external_id": "c1", **fields}},
                    format="json")  # fmt: skip


def _details(response, status=422) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status
    if status == 422:
        assert body["error"] == "Unprocessable Entity" and body["code"] == "validation_errors"
        return body["error_details"]
    return body


# --------------------------------------------------------------- customers


@pytest.mark.parametrize("country", ["ZZ", "EU", "XK", "UN", "FRA", "1"])
def test_only_iso_3166_1_countries(api, country):
    from invoicing.api.fields import _COUNTRIES

    assert len(_COUNTRIES) == 249
    # CountryCodeValidator (ISO3166::Country), error country_code_invalid ->
    # not_a_valid_country_code (config/locales/en.yml).
    assert _details(_customer(api, country=country)) == {"country": ["not_a_valid_country_code"]}
    assert not Customer.objects.exists()


def test_a_country_is_upcased_and_an_empty_one_is_none(api):
    # UpsertFromApiService: params[:country]&.upcase.
    assert _customer(api, country="fr").json()["customer"]["country"] == "FR"
    assert _customer(api, country="").json()["customer"]["country"] is None


@pytest.mark.parametrize(
    "email",
    [
        "joão.silva@",
        "no-at-sign",
        "a@b",
        "a@-b.com",
        "a..b@c.com",
        "a@b.com,",
        "a b@c.com",
        '"john doe"@example.com',
    ],
)
def test_malformed_emails(api, email):
    # EmailValidator with Regex::EMAIL; "joão.silva@" is lago-api's own example.
    assert _details(_customer(api, email=email)) == {"email": ["invalid_email_format"]}


def test_emails_as_lago_accepts_and_cleans_them(api):
    # Unicode letters in the local part, comma-separated lists, EmailSanitizer's
    # dash look-alikes and invisible characters; "" is no email (not checked).
    for sent, kept in [
        ("joão.silva@example.com", "joão.silva@example.com"),
        ("a@b.example, c@d.example", "a@b.example, c@d.example"),
        (" billing\u200b@acme\u2013corp.example ", "billing@acme-corp.example"),
        ('"john..doe"@example.com', '"john..doe"@example.com'),
        ("", None),
    ]:
        response = _customer(api, email=sent)
        assert response.status_code == 200, (sent, response.content)
        assert response.json()["customer"]["email"] == kept


def test_document_locales(api):
    def locale(value):
        return _customer(api, billing_configuration={"document_locale": value})

    # LanguageCodeValidator over config.i18n.available_locales.
    for bad in ["klingon", "pt_BR", "PT-BR", "", "en-US"]:
        assert _details(locale(bad)) == {"document_locale": ["not_a_valid_language_code"]}
    assert not Customer.objects.exists()
    for good in ["en", "fr", "nb", "de", "it", "es", "sv", "pt-BR", "zh-TW"]:
        body = locale(good).json()["customer"]
        assert body["billing_configuration"]["document_locale"] == good
    # Beyond Lago: the other languages this service's PDFs are written in.
    assert locale("ja").json()["customer"]["billing_configuration"]["document_locale"] == "ja"


def test_customer_metadata_limits(api):
    def metadata(*items):
        return _customer(api, metadata=[{"key": k, "value": v} for k, v in items])

    # UpsertFromApiService#valid_metadata_count? (COUNT_PER_CUSTOMER = 5), then
    # Metadata::CustomerMetadata's validations, reported as the item's own.
    six = [(f"k{i}", "v") for i in range(6)]
    assert _details(metadata(*six)) == {"metadata": ["invalid_count"]}
    assert _details(metadata(("k" * 21, "v"))) == {"key": ["value_is_too_long"]}
    assert _details(metadata(("k", "v" * 101))) == {"value": ["value_is_too_long"]}
    assert _details(metadata(("k", ""))) == {"value": ["value_is_mandatory"]}
    assert _details(metadata(("k", "1"), ("k", "2"))) == {"key": ["value_already_exist"]}
    assert not Customer.objects.exists()
    five = [(f"{i}" * 20, "v" * 100) for i in range(5)]
    assert metadata(*five).status_code == 200


def test_an_unknown_billing_entity_is_404_before_anything_else(api, organization):
    # UpsertFromApiService resolves the billing entity first (BillingEntities::ResolveService).
    response = _customer(api, billing_entity_code="nope", email="not an email")
    assert _details(response, 404) == {
        "status": 404,
        "error": "Not Found",
        "code": "billing_entity_not_found",
    }
    ok = _customer(api, billing_entity_code=organization.billing_entity_code)
    assert ok.json()["customer"]["billing_entity_code"] == organization.billing_entity_code


@pytest.mark.parametrize("body", [{}, {"customer": {}}, {"customer": "c1"}, {"customer": []}])
def test_a_missing_root_key_is_400(api, body):
    # Api::BaseController: rescue_from ActionController::ParameterMissing.
    response = api.post("/api/v1/customers", body, format="json")
    assert _details(response, 400) == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: customer",
    }


# ---------------------------------------------------------------- invoices


@pytest.fixture
def catalog(organization):
    make_customer(organization, external_id="c1", currency="EUR")
    make_add_on(organization, code="setup", amount_cents=1000)


def _create(api, *fees, **invoice):
    body = {"invoice": {"external_customer_id": "c1", "fees": list(fees), **invoice}}
    return api.post("/api/v1/invoices", body, format="json")


BOUNDARIES = {"boundaries": ["values_are_invalid"]}


@pytest.mark.parametrize(
    "window",
    [
        {"from_datetime": "2024-01-01T00:00:00Z"},
        {"to_datetime": "2024-01-31T23:59:59Z"},
        {"from_datetime": "2024-02-01T00:00:00Z", "to_datetime": "2024-01-31T00:00:00Z"},
        {"from_datetime": "2024-13-01T00:00:00Z", "to_datetime": "2024-12-31T00:00:00Z"},
        {"from_datetime": "yesterday", "to_datetime": "today"},
    ],
)
def test_fee_boundaries(api, catalog, window):
    # Fees::OneOffService#valid_boundaries?: both or neither, ISO 8601, from <= to.
    assert _details(_create(api, {"add_on_code": "setup", **window})) == BOUNDARIES
    assert not Invoice.objects.exists()


def test_valid_boundaries_are_the_fees_period(api, catalog):
    window = {"from_datetime": "2024-01-01T00:00:00+01:00", "to_datetime": "2024-01-01"}
    fee = _create(api, {"add_on_code": "setup", **window}).json()["invoice"]["fees"][0]
    # Fee#from_date: DateTime#iso8601 of the stored UTC time.
    assert (fee["from_date"], fee["to_date"]) == ("2023-12-31T23:00:00+00:00",
                                                  "2024-01-01T00:00:00+00:00")  # fmt: skip


def test_boundaries_come_after_the_add_ons(api, catalog):
    # CreateOneOffService checks the add-ons before Fees::OneOffService the period.
    response = _create(api, {"add_on_code": "nope", "from_datetime": "2024-01-01"})
    assert _details(response, 404)["code"] == "add_on_not_found"


def test_zero_units_are_a_fee_of_nothing(api, catalog):
    # Fee validates units >= 0 only.
    invoice = _create(api, {"add_on_code": "setup", "units": 0}).json()["invoice"]
    assert invoice["fees"][0]["units"] == "0.0"
    assert invoice["fees"][0]["amount_cents"] == 0 and invoice["total_amount_cents"] == 0


def test_an_unknown_billing_entity_code_is_404(api, catalog, organization):
    # CreateOneOffService#resolve_billing_entity.
    response = _create(api, {"add_on_code": "setup"}, billing_entity_code="nope")
    assert _details(response, 404)["code"] == "billing_entity_not_found"
    assert not Invoice.objects.exists()
    ok = _create(
        api, {"add_on_code": "setup"}, billing_entity_code=organization.billing_entity_code
    )
    assert ok.json()["invoice"]["billing_entity_code"] == organization.billing_entity_code
    assert _create(api, {"add_on_code": "setup"}, billing_entity_code="").status_code == 200


def _put(api, invoice_id, body):
    return api.put(f"/api/v1/invoices/{invoice_id}", body, format="json")


def test_a_voided_invoice_cannot_be_updated(api, catalog):
    invoice = _create(api, {"add_on_code": "setup"}).json()["invoice"]
    api.post(f"/api/v1/invoices/{invoice['lago_id']}/void")
    # InvoicesController#update, before it reads the body.
    for body in ({"invoice": {"payment_status": "succeeded"}}, {}):
        assert _details(_put(api, invoice["lago_id"], body), 405) == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "update_on_voided_invoice",
        }


def test_metadata_on_a_draft_is_refused_first(api, catalog):
    draft = _create(api, {"add_on_code": "setup"}, status="draft").json()["invoice"]
    # Invoices::UpdateService: even an empty list, and before the payment status.
    for body in (
        {"metadata": [{"key": "po", "value": "1"}]},
        {"metadata": []},
        {"metadata": [], "payment_status": "bogus"},
    ):
        response = _put(api, draft["lago_id"], {"invoice": body})
        assert _details(response, 405)["code"] == "metadata_on_draft_invoice"
    response = _put(api, draft["lago_id"], {"invoice": {"payment_status": "succeeded"}})
    assert _details(response, 405)["code"] == "payment_status_update_on_draft_invoice"


def test_update_checks_in_lagos_order(api, catalog):
    invoice = _create(api, {"add_on_code": "setup"}).json()["invoice"]
    six = [{"key": f"k{i}", "value": "v"} for i in range(6)]
    body = {"invoice": {"payment_status": "paid", "metadata": six}}
    assert _details(_put(api, invoice["lago_id"], body)) == {"payment_status": ["value_is_invalid"]}
    body["invoice"]["payment_status"] = "succeeded"
    assert _details(_put(api, invoice["lago_id"], body)) == {"metadata": ["invalid_count"]}
    # Nothing was written.
    assert Invoice.objects.get().payment_status == "pending"


def test_unknown_invoice_missing_body_is_400_then_404(api):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert _details(_put(api, unknown, {}), 400)["error"].endswith(": invoice")
    response = _put(api, unknown, {"invoice": {"payment_status": "succeeded"}})
    assert _details(response, 404)["code"] == "invoice_not_found"


def test_invoice_metadata_limits(api, catalog):
    invoice_id = _create(api, {"add_on_code": "setup"}).json()["invoice"]["lago_id"]

    def metadata(*items):
        return _put(api, invoice_id, {"invoice": {"metadata": list(items)}})

    # Metadata::InvoiceMetadata: key <= 20, value <= 140, both present, key
    # unique on the invoice; the failing item's errors as the record's.
    assert _details(metadata({"key": "k" * 21, "value": "v"})) == {"key": ["value_is_too_long"]}
    assert _details(metadata({"key": "k", "value": "v" * 141})) == {"value": ["value_is_too_long"]}
    assert _details(metadata({"key": "", "value": "v"})) == {"key": ["value_is_mandatory"]}
    assert _details(metadata({"key": "k"})) == {"value": ["value_is_mandatory"]}
    assert _details(metadata({"key": "k", "value": "1"}, {"key": "k", "value": "2"})) == {
        "key": ["value_already_exist"]
    }
    limits = metadata({"key": "k" * 20, "value": "v" * 140}).json()["invoice"]["metadata"]
    assert [(m["key"], len(m["value"])) for m in limits] == [("k" * 20, 140)]
    # The item is replaced only by naming its id: Invoices::Metadata::UpdateService
    # removes the items not sent after saving the new ones.
    again = metadata({"key": "k" * 20, "value": "other"})
    assert _details(again) == {"key": ["value_already_exist"]}
    same = metadata({"id": limits[0]["lago_id"], "key": "k" * 20, "value": "other"})
    assert same.json()["invoice"]["metadata"][0]["value"] == "other"


def test_invoice_metadata_at_creation_follows_the_same_rules(api, catalog):
    six = [{"key": f"k{i}", "value": "v"} for i in range(6)]
    response = _create(api, {"add_on_code": "setup"}, metadata=six)
    assert _details(response) == {"metadata": ["invalid_count"]}
    assert not Invoice.objects.exists()


def test_customer_delete_of_an_unknown_customer_is_404(api):
    response = api.delete("/api/v1/customers/nobody")
    assert _details(response, 404)["code"] == "customer_not_found"


def test_invoices_of_another_organization_stay_unknown(api, organization):
    from tests.factories import make_organization

    other, _ = make_organization()
    invoice = make_invoice(other, status=Invoice.Status.DRAFT)
    assert _details(api.delete(f"/api/v1/invoices/{invoice.id}"), 404)["code"] == (
        "invoice_not_found"
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "draft"
