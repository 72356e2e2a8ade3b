"""Fixtures of the Lotus face's tests: a client speaking as Lotus clients do,
an invoice with every field filled, and its PDF rendered in-process."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from invoicing.models import Invoice, PdfJob
from invoicing.services.invoices import FeeInput
from invoicing.services.pdf import invoice_pdf_request, pdf_job_run
from tests.factories import make_add_on, make_customer, make_invoice, make_organization, make_tax

JAN_1 = dt.datetime(2024, 1, 1, 0, 30, 12, tzinfo=dt.UTC)
JAN_31 = dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=dt.UTC)


@pytest.fixture
def lotus_api(org_and_key):
    """Authenticated like the Lotus docs: ``Authorization: Token <key>``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {org_and_key[1]}")
    return client


def make_rich_invoice(organization, **kwargs) -> Invoice:
    """A finalized invoice with a taxed plan line (period, filters) and an
    untaxed one-off line, for a customer with an address."""
    customer = make_customer(
        organization, name="Émilie Dupont", email="emilie@example.com", currency="EUR",
        address_line1="1 rue de la Paix", city="Paris", zipcode="75002", country="FR",
    )  # fmt: skip
    vat = make_tax(organization, rate="20")
    plan_fee = make_add_on(organization, name="Pro plan", amount_cents=10_000, taxes=[vat])
    setup = make_add_on(organization, name="Setup", amount_cents=2_550)
    fees = [
        FeeInput(
            add_on_code=plan_fee.code, units=Decimal("2"), from_datetime=JAN_1,
            to_datetime=JAN_31, billing_type="in_arrears", plan_name="Pro", plan_id="plan_pro",
            plan_version=3, subscription_filters=[{"property_name": "region", "value": "eu"}],
        ),
        FeeInput(add_on_code=setup.code, tax_codes=[]),
    ]  # fmt: skip
    return make_invoice(organization, customer=customer, fees=fees, **kwargs)


@pytest.fixture
def seller(db):
    organization, key = make_organization(
        name="Seller Co", email="billing@seller.example", phone="+33 1 23 45 67 89",
        address_line1="5 avenue Foch", city="Lyon", zipcode="69006", country="FR",
    )  # fmt: skip
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return organization, client


def render_now(invoice: Invoice) -> PdfJob:
    """Render and store the invoice's PDF in this process (no worker)."""
    job = invoice_pdf_request(invoice=invoice)
    # The run may have taken this job along with an earlier one's: either way
    # it ends stored.
    pdf_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == PdfJob.State.READY
    return job


def local_path(url: str) -> str:
    """A download URL (absolute under PUBLIC_BASE_URL) as a test client path."""
    assert url.startswith(settings.PUBLIC_BASE_URL + "/files/invoices/"), url
    return url[len(settings.PUBLIC_BASE_URL) :]


def download(client, url: str) -> bytes:
    response = client.get(local_path(url))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    return b"".join(response.streaming_content)
