"""Lago's face of e-invoicing: the organization setting, the refusal of an
invoice that would be an invalid e-invoice, ``xml_url`` and ``download_xml``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from invoicing.models import Invoice, Organization
from invoicing.services import pdf
from invoicing.services.invoices import FeeInput
from tests.einvoice.conftest import SELLER
from tests.factories import make_invoice, make_organization


def test_put_organizations_turns_einvoicing_on_with_lagos_fields(api, organization):
    response = api.put(
        "/api/v1/organizations",
        {
            "organization": {
                "legal_name": "Acme Cloud SAS",
                "country": "FR",
                "billing_configuration": {"invoice_footer": "Thanks", "document_locale": "fr"},
                "einvoicing_enabled": True,
                "electronic_address": "FR12912345678",
                "electronic_address_scheme": "9957",
                "iban": "FR7630006000011234567890189",
                "bic": "AGRIFRPP",
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()["organization"]
    assert body["einvoicing_enabled"] is True
    assert body["iban"] == "FR7630006000011234567890189"
    assert body["billing_configuration"] == {
        "invoice_footer": "Thanks", "invoice_grace_period": None, "document_locale": "fr"
    }  # fmt: skip
    organization.refresh_from_db()
    assert organization.einvoicing_enabled and organization.invoice_footer == "Thanks"
    assert api.get("/api/v1/organizations").json()["organization"] == body


def test_put_organizations_refuses_a_malformed_iban_in_lagos_format(api, organization):
    response = api.put(
        "/api/v1/organizations",
        {"organization": {"iban": "not an iban", "electronic_address_scheme": "EM"}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {
            "iban": ["value_is_invalid"],
            "electronic_address_scheme": ["value_is_invalid"],
        },
    }
    organization.refresh_from_db()
    assert organization.iban == "" and not organization.einvoicing_enabled


def test_finalizing_an_invoice_that_lacks_einvoice_data_is_refused(
    seller, seller_api, catalog, make_buyer
):
    # A buyer with no Peppol endpoint, no buyer reference, no VAT number,
    # bought a reverse-charge service: each missing datum is named.
    customer = make_buyer(electronic_address="", electronic_address_scheme="",
                          buyer_reference="", tax_identification_number="")  # fmt: skip
    payload = {
        "invoice": {
            "external_customer_id": customer.external_id,
            "currency": "EUR",
            "fees": [{"add_on_code": "svc_ae", "units": 1}],
        }
    }
    response = seller_api.post("/api/v1/invoices", payload, format="json")
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {
            "customer.tax_identification_number": ["value_is_mandatory"],
            "customer.electronic_address": ["value_is_mandatory"],
            "customer.electronic_address_scheme": ["value_is_mandatory"],
            "customer.buyer_reference": ["value_is_mandatory"],
        },
    }
    assert not Invoice.objects.filter(customer=customer).exists()
    assert Organization.objects.get(pk=seller.pk).last_sequential_id == 0

    # A draft is made; finalizing it is refused the same way and it stays a
    # draft, with no number taken.
    payload["invoice"]["status"] = "draft"
    draft = seller_api.post("/api/v1/invoices", payload, format="json").json()["invoice"]
    response = seller_api.put(f"/api/v1/invoices/{draft['lago_id']}/finalize")
    assert response.status_code == 422
    assert "customer.electronic_address" in response.json()["error_details"]
    invoice = Invoice.objects.get(pk=draft["lago_id"])
    assert invoice.status == Invoice.Status.DRAFT and invoice.number is None

    # With the data filled in, the same draft is finalized.
    seller_api.post(
        "/api/v1/customers",
        {"customer": {"external_id": customer.external_id, "buyer_reference": "991-12345-67",
                      "electronic_address": "DE123456789", "electronic_address_scheme": "9930",
                      "tax_identification_number": "DE123456789"}},
        format="json",
    )  # fmt: skip
    response = seller_api.put(f"/api/v1/invoices/{draft['lago_id']}/finalize")
    assert response.status_code == 200, response.content
    assert response.json()["invoice"]["status"] == "finalized"


def test_xml_url_and_download_xml(seller, seller_api, catalog, make_buyer):
    customer = make_buyer()
    response = seller_api.post(
        "/api/v1/invoices",
        {"invoice": {"external_customer_id": customer.external_id,
                     "fees": [{"add_on_code": "svc_vat20", "units": 2}]}},
        format="json",
    )  # fmt: skip
    invoice_id = response.json()["invoice"]["lago_id"]
    assert response.json()["invoice"]["xml_url"] is None

    # Not stored yet: an empty 200, as lago-api's GenerateXmlJob answer.
    response = seller_api.post(f"/api/v1/invoices/{invoice_id}/download_xml")
    assert response.status_code == 200 and response.content == b""

    job = Invoice.objects.get(pk=invoice_id).pdf_jobs.get()
    pdf.pdf_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    response = seller_api.post(f"/api/v1/invoices/{invoice_id}/download_xml")
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["lago_id"] == invoice_id and body["file_url"] and body["xml_url"]
    assert seller_api.get(f"/api/v1/invoices/{invoice_id}").json()["invoice"]["xml_url"]
    listed = seller_api.get("/api/v1/invoices").json()["invoices"]
    assert [i["xml_url"] is not None for i in listed] == [True]

    # The link needs no key, and serves the stored UBL.
    anonymous = APIClient()
    served = anonymous.get(urlsplit(body["xml_url"]).path)
    assert served.status_code == 200
    assert served["Content-Type"] == "application/xml"
    with default_storage.open(job.xml_storage_key) as handle:
        assert b"".join(served.streaming_content) == handle.read()
    pdf_served = anonymous.get(urlsplit(body["file_url"]).path)
    assert pdf_served["Content-Type"] == "application/pdf"
    assert b"".join(pdf_served.streaming_content).startswith(b"%PDF-1.7")


def test_without_einvoicing_there_is_no_xml(db):
    organization, key = make_organization(**SELLER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    invoice = make_invoice(organization)
    pdf.pdf_job_run(job_id=str(invoice.pdf_jobs.get().pk))
    response = client.post(f"/api/v1/invoices/{invoice.id}/download_xml")
    assert response.status_code == 200 and response.content == b""
    assert client.get(f"/api/v1/invoices/{invoice.id}").json()["invoice"]["xml_url"] is None


def test_download_xml_of_an_unknown_invoice_is_lagos_404(seller_api):
    response = seller_api.post("/api/v1/invoices/00000000-0000-0000-0000-000000000000/download_xml")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "invoice_not_found"}


@pytest.mark.django_db(transaction=True)
def test_lago_python_client_reads_xml_url(live_server, seller_and_key, catalog, make_buyer):
    from lago_python_client.client import Client

    seller, key = seller_and_key
    invoice = make_invoice(seller, make_buyer(), fees=[FeeInput(add_on_code="svc_vat20")])
    pdf.pdf_job_run(job_id=str(invoice.pdf_jobs.get().pk))
    found = Client(api_key=key, api_url=live_server.url).invoices.find(str(invoice.id))
    assert found.xml_url and found.xml_url != found.file_url


def test_deleting_a_customer_whose_draft_is_no_valid_einvoice_is_refused(
    seller, seller_api, catalog, make_buyer
):
    # lago-api finalizes a deleted customer's drafts; this one has no buyer
    # reference, so it would be an invalid e-invoice.
    customer = make_buyer(buyer_reference="")
    draft = make_invoice(seller, customer, fees=[FeeInput(add_on_code="svc_vat20")],
                         status=Invoice.Status.DRAFT)  # fmt: skip
    response = seller_api.delete(f"/api/v1/customers/{customer.external_id}")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"customer.buyer_reference": ["value_is_mandatory"]}
    customer.refresh_from_db()
    draft.refresh_from_db()
    assert customer.deleted_at is None and draft.status == Invoice.Status.DRAFT
