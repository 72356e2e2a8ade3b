"""Lotus's RFC 7807-style error bodies for every status, the three key header
forms, and routes with or without their trailing slash."""

from unittest import mock

import pytest
from rest_framework.test import APIClient

from invoicing.models import Customer
from tests.factories import make_invoice
from tests.invoicing.api.lotus.conftest import render_now

pytestmark = pytest.mark.django_db

DOCS = "https://docs.uselotus.io/errors/error-responses"
NOT_FOUND = {"type": f"{DOCS}#client-error", "detail": "Not found.", "title": "not_found"}
ROUTES = ["/api/customers/", "/api/invoices/", "/api/invoices/240101-000001/",
          "/api/invoices/240101-000001/pdf_url/", "/api/customers/c1/"]  # fmt: skip


@pytest.mark.parametrize("path", ROUTES)
def test_no_key_is_401_not_authenticated(path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response.json() == {
        "type": f"{DOCS}#client-error",
        "detail": "Authentication credentials were not provided.",
        "title": "not_authenticated",
    }
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Token ik_wrongwrongwrongwrongwrong"},
        {"HTTP_AUTHORIZATION": "Bearer ik_wrongwrongwrongwrongwrong"},
        {"HTTP_X_API_KEY": "ik_wrongwrongwrongwrongwrong"},
        {"HTTP_AUTHORIZATION": "Token"},
    ],
)
def test_a_wrong_key_is_401_invalid_token(headers):
    response = APIClient().get("/api/invoices/", **headers)
    assert response.status_code == 401
    assert response.json() == {
        "type": f"{DOCS}#client-error",
        "detail": "Invalid token.",
        "title": "authentication_failed",
    }


def test_each_header_form_of_the_key_works(org_and_key):
    organization, key = org_and_key
    invoice = make_invoice(organization)
    render_now(invoice)
    for headers in (
        {"HTTP_AUTHORIZATION": f"Bearer {key}"},
        {"HTTP_AUTHORIZATION": f"Token {key}"},
        {"HTTP_X_API_KEY": key},
    ):
        response = APIClient().get(f"/api/invoices/{invoice.number}/pdf_url/", **headers)
        assert response.status_code == 200, headers
        assert response.json()["invoice_id"] == invoice.lotus_id


def test_wrong_method_is_405_method_not_allowed(lotus_api):
    for method, path in [
        ("post", "/api/invoices/"),
        ("delete", "/api/customers/c1/"),
        ("put", "/api/invoices/240101-000001/pdf_url/"),
        ("patch", "/api/invoices/240101-000001"),
    ]:
        response = getattr(lotus_api, method)(path)
        assert response.status_code == 405, (method, path)
        assert response.json() == {
            "type": f"{DOCS}#client-error",
            "detail": f'Method "{method.upper()}" not allowed.',
            "title": "method_not_allowed",
        }


def test_unknown_routes_under_api_are_lotus_json_404_with_or_without_a_key(lotus_api):
    for client in (lotus_api, APIClient()):
        for method, path in [
            ("get", "/api/nope/"),
            ("post", "/api/track/"),
            ("get", "/api/invoices/x/y/z/"),
            ("delete", "/api/plans"),
        ]:
            response = getattr(client, method)(path)
            assert response.status_code == 404, (method, path)
            assert response.json() == NOT_FOUND
    # Lago's face keeps its own 404 under /api/v1/.
    assert lotus_api.get("/api/v1/nope").json()["code"] == "resource_not_found"


def test_an_unexpected_exception_is_a_lotus_500(lotus_api):
    client = APIClient(raise_request_exception=False)
    client.credentials(**lotus_api._credentials)
    with mock.patch("invoicing.api.lotus.views.invoice_find", side_effect=RuntimeError("boom")):
        response = client.get("/api/invoices/240101-000001/pdf_url/")
    assert response.status_code == 500
    assert response.json() == {
        "type": f"{DOCS}#server-error",
        "detail": "A server error occurred.",
        "title": "error",
    }


def test_malformed_json_is_a_lotus_400(lotus_api):
    response = lotus_api.generic("POST", "/api/customers/", b'{"customer_id": ',
                                 content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == f"{DOCS}#client-error" and body["title"] == "parse_error"


def test_validation_errors_list_every_field_with_its_path(lotus_api):
    response = lotus_api.post(
        "/api/customers/",
        {"customer_id": "", "email": "nope", "address": {"city": "Paris", "country": "QQ"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == f"{DOCS}#validation-error"
    errors = {(e["attr"], e["code"]) for e in body["validation_errors"]}
    assert errors == {
        ("customer_id", "blank"),
        ("email", "invalid"),
        ("address.country", "invalid"),
        ("address.line1", "required"),
        ("address.postal_code", "required"),
    }
    first = body["validation_errors"][0]
    assert (body["title"], body["detail"]) == (first["code"], first["detail"])
    assert not Customer.objects.exists()


def test_routes_are_served_with_and_without_the_trailing_slash(lotus_api, organization):
    invoice = make_invoice(organization)
    render_now(invoice)
    for path in (f"/api/invoices/{invoice.number}/pdf_url", f"/api/invoices/{invoice.number}"):
        response = lotus_api.get(path)
        assert response.status_code == 200, path
        assert response.json()["invoice_id"] == invoice.lotus_id
    assert lotus_api.get("/api/invoices?payment_status=unpaid").json()[0]["invoice_id"] == (
        invoice.lotus_id
    )
    created = lotus_api.post("/api/customers", {"customer_id": "c9", "email": "c9@example.com"},
                             format="json")  # fmt: skip
    assert created.status_code == 201
    assert lotus_api.get("/api/customers/c9").json()["customer_id"] == "c9"
    assert len(lotus_api.get("/api/customers").json()) == 2  # c9 and the invoice's customer


def test_the_schema_still_documents_the_lotus_routes_and_redirects_without_a_slash(db):
    client = APIClient()
    assert client.get("/api/schema").status_code == 301
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/invoices/{invoice_id}/pdf_url/", "/api/invoices/", "/api/customers/",
                 "/api/invoices/{invoice_id}/", "/api/customers/{customer_id}/"):  # fmt: skip
        assert path in schema["paths"], path
    assert "/api/invoices/{invoice_id}/pdf_url" not in schema["paths"]
