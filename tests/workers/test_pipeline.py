"""The PDF pipeline end to end: real PostgreSQL, real Redis, real Celery
worker processes, the real lago-python-client against a live server."""

import os
import signal
import threading
from decimal import Decimal
from pathlib import Path
from unittest import mock

import httpx
import pytest
from django.conf import settings
from lago_python_client.client import Client

from invoicing.models import Invoice, PdfJob, WebhookEndpoint, WebhookEvent
from invoicing.services.invoices import FeeInput
from invoicing.services.pdf import pdf_jobs_sweep
from tests.factories import make_add_on, make_customer, make_invoice, make_organization
from tests.pdftext import pdf_pages, pdf_text, wait_for
from tests.processes import Worker, flush_broker

pytestmark = pytest.mark.django_db(transaction=True)


def _stored_files(invoice: Invoice) -> list[Path]:
    folder = Path(settings.VAR_DIR) / "files" / "invoices" / str(invoice.organization_id)
    return sorted((folder / str(invoice.id)).glob("*.pdf"))


def _ready(invoice: Invoice) -> PdfJob | None:
    return PdfJob.objects.filter(invoice=invoice, is_current=True, state="ready").first()


def _local(url: str, live_server) -> str:
    # file_url is absolute under PUBLIC_BASE_URL; the live server listens elsewhere.
    return url.replace(settings.PUBLIC_BASE_URL, live_server.url)


def test_lago_download_returns_none_then_the_invoice_with_a_working_file_url(worker, live_server):
    organization, key = make_organization()
    WebhookEndpoint.objects.create(organization=organization, webhook_url="http://127.0.0.1:9/h")
    with mock.patch("invoicing.services.invoices.invoice_pdf_request"):
        invoice = make_invoice(organization)
    client = Client(api_key=key, api_url=live_server.url)

    assert client.invoices.download(str(invoice.id)) is None
    job = wait_for(lambda: _ready(invoice), timeout=30)

    downloaded = client.invoices.download(str(invoice.id))
    assert downloaded is not None and downloaded.number == invoice.number
    assert downloaded.file_url.startswith(settings.PUBLIC_BASE_URL + "/files/invoices/")
    response = httpx.get(_local(downloaded.file_url, live_server))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{invoice.number}.pdf"'
    )
    assert "private" in response.headers["cache-control"]
    assert invoice.number in pdf_text(response.content)
    assert len(response.content) == job.size_bytes
    events = WebhookEvent.objects.filter(object_id=invoice.id, event_type="invoice.generated")
    assert events.count() == 1
    assert events.get().deliveries.count() == 1


def test_fifty_concurrent_downloads_render_once(worker, live_server):
    organization, key = make_organization()
    WebhookEndpoint.objects.create(organization=organization, webhook_url="http://127.0.0.1:9/a")
    WebhookEndpoint.objects.create(organization=organization, webhook_url="http://127.0.0.1:9/b")
    with mock.patch("invoicing.services.invoices.invoice_pdf_request"):
        invoice = make_invoice(organization)
    assert not PdfJob.objects.filter(invoice=invoice).exists()

    barrier = threading.Barrier(50)
    statuses = []

    def call():
        barrier.wait(timeout=30)
        response = httpx.post(
            f"{live_server.url}/api/v1/invoices/{invoice.id}/download",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 50

    job = wait_for(lambda: _ready(invoice), timeout=30)
    assert PdfJob.objects.filter(invoice=invoice).count() == 1
    assert job.attempts == 1  # one render
    assert len(_stored_files(invoice)) == 1
    generated = WebhookEvent.objects.filter(object_id=invoice.id, event_type="invoice.generated")
    assert generated.count() == 1
    assert generated.get().deliveries.count() == 2  # one per endpoint


def test_finalizing_requests_the_pdf_without_anybody_asking(worker):
    organization, _ = make_organization()
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    assert not PdfJob.objects.filter(invoice=draft).exists()
    from invoicing.services.invoices import invoice_finalize

    invoice_finalize(invoice=draft)
    wait_for(lambda: _ready(draft), timeout=30)
    assert len(_stored_files(draft)) == 1


def test_sigkill_mid_render_recovers_and_stores_once(transactional_db):
    flush_broker()
    organization, _ = make_organization()
    customer = make_customer(organization, currency="EUR")
    add_on = make_add_on(organization)
    fees = [
        FeeInput(add_on_code=add_on.code, units=Decimal(n % 7 + 1), description=f"Line {n}")
        for n in range(10_000)
    ]
    # A short lease so that the sweep hands the dead worker's job over soon.
    with Worker("doomed", concurrency=1, PDF_RENDER_LEASE_SECONDS=3) as first:
        invoice = make_invoice(organization, customer=customer, fees=fees)
        wait_for(
            lambda: PdfJob.objects.filter(invoice=invoice, state="rendering").exists(),
            timeout=60,
            interval=0.02,
        )
        first.kill()
    job = PdfJob.objects.get(invoice=invoice)
    assert job.state == "rendering" and job.attempts == 1
    assert _stored_files(invoice) == []

    with Worker("survivor", concurrency=1, PDF_RENDER_LEASE_SECONDS=3):
        # What beat does every 15 s: hand over jobs whose lease ran out.
        wait_for(lambda: pdf_jobs_sweep().requeued or _ready(invoice), timeout=20, interval=0.5)
        job = wait_for(lambda: _ready(invoice), timeout=90, interval=0.5)
    assert job.attempts == 2
    assert PdfJob.objects.filter(invoice=invoice).count() == 1
    files = _stored_files(invoice)
    assert len(files) == 1 and files[0].name == f"{job.checksum}.pdf"
    pdf = files[0].read_bytes()
    assert pdf_pages(pdf) == job.page_count > 100
    generated = WebhookEvent.objects.filter(object_id=invoice.id, event_type="invoice.generated")
    assert generated.count() == 1


def test_sigterm_lets_the_running_render_finish(transactional_db):
    flush_broker()
    organization, _ = make_organization()
    add_on = make_add_on(organization)
    fees = [FeeInput(add_on_code=add_on.code) for _ in range(5_000)]
    with Worker("graceful", concurrency=1) as w:
        invoice = make_invoice(organization, fees=fees)
        wait_for(
            lambda: PdfJob.objects.filter(invoice=invoice, state="rendering").exists(),
            timeout=60,
            interval=0.02,
        )
        os.kill(w.proc.pid, signal.SIGTERM)  # warm shutdown: finish, then exit
        w.proc.wait(timeout=60)
    job = PdfJob.objects.get(invoice=invoice)
    assert job.state == "ready" and job.attempts == 1
    assert len(_stored_files(invoice)) == 1


@pytest.mark.parametrize("case", ["draft", "voided", "unknown", "malformed", "other-org"])
def test_download_of_anything_but_a_finalized_invoice_of_yours_is_404(live_server, case):
    organization, key = make_organization()
    other, _ = make_organization()
    invoice_id = {
        "draft": lambda: make_invoice(organization, status="draft").id,
        "voided": lambda: _voided(organization).id,
        "unknown": lambda: "5eb02857-a71e-4ea2-bcf9-57d8885990ba",
        "malformed": lambda: "not-an-id",
        "other-org": lambda: make_invoice(other).id,
    }[case]()
    response = httpx.post(
        f"{live_server.url}/api/v1/invoices/{invoice_id}/download",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "invoice_not_found"}


def _voided(organization):
    from invoicing.services.invoices import invoice_void

    return invoice_void(invoice=make_invoice(organization))
