"""pdf_url against a live server with a real Celery worker: one call asks for
the shared job, waits for the worker to render it, and answers with a URL."""

from unittest import mock

import httpx
import pytest
from django.conf import settings

from invoicing.models import PdfJob
from invoicing.services.invoices import invoice_void
from tests.factories import make_invoice, make_organization
from tests.pdftext import pdf_text
from tests.processes import Worker, flush_broker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(transactional_db):
    flush_broker()
    with Worker("lotus", queues="pdf", concurrency=1) as w:
        yield w


def _get_pdf(live_server, key: str, url: str) -> bytes:
    response = httpx.get(url.replace(settings.PUBLIC_BASE_URL, live_server.url))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def test_one_call_returns_the_url_of_a_pdf_rendered_meanwhile(worker, live_server, settings):
    # A wait far beyond a render, so a busy machine cannot make the call give
    # up first: what is shown is that one call waits and answers the URL.
    settings.LOTUS_PDF_WAIT_SECONDS = 60
    organization, key = make_organization()
    # Finalized without its PDF being asked for, so that the call asks for it.
    with mock.patch("invoicing.services.invoices.invoice_pdf_request"):
        invoice = make_invoice(organization)
    assert not PdfJob.objects.filter(invoice=invoice).exists()

    response = httpx.get(
        f"{live_server.url}/api/invoices/{invoice.number}/pdf_url/",
        headers={"X-API-KEY": key},
        timeout=90,
    )

    assert response.status_code == 200, response.text
    assert "retry-after" not in response.headers
    body = response.json()
    assert body["url"] and body["url"] == body["invoice_pdf"]
    job = PdfJob.objects.get(invoice=invoice)
    assert (job.state, job.attempts) == (PdfJob.State.READY, 1)
    pdf = _get_pdf(live_server, key, body["url"])
    assert len(pdf) == job.size_bytes and invoice.number in pdf_text(pdf)

    # Voiding makes a new version; the next call waits for that one.
    invoice_void(invoice=invoice)
    voided = httpx.get(
        f"{live_server.url}/api/invoices/{invoice.lotus_id}/pdf_url",
        headers={"Authorization": f"Token {key}"},
        timeout=90,
    ).json()
    assert voided["payment_status"] == "voided" and voided["url"] != body["url"]
    text = pdf_text(_get_pdf(live_server, key, voided["url"]))
    assert invoice.number in text and "VOID" in text.upper()
    old = httpx.get(body["url"].replace(settings.PUBLIC_BASE_URL, live_server.url))
    assert old.status_code == 404  # the first version was retired
    assert PdfJob.objects.filter(invoice=invoice).count() == 2
