"""GET /api/invoices/{invoice_id}/pdf_url/: lookup by every id spelling and by
number, the seed's body with a working URL, and the bounded wait."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from invoicing.models import Invoice, PdfJob
from invoicing.representations import lotus
from invoicing.services.files import pdf_download_url
from invoicing.services.invoices import invoice_update, invoice_void
from tests.factories import make_invoice, make_organization
from tests.invoicing.api.lotus.conftest import (
    JAN_1,
    JAN_31,
    download,
    local_path,
    make_rich_invoice,
    render_now,
)
from tests.invoicing.api.lotus.seed import PDF_URL_BODY, check
from tests.pdftext import pdf_text

pytestmark = pytest.mark.django_db

DOCS = "https://docs.uselotus.io/errors/error-responses"
NOT_FOUND = {"type": f"{DOCS}#client-error", "detail": "Not found.", "title": "not_found"}


def _pdf_url(client, ref: str):
    return client.get(f"/api/invoices/{ref}/pdf_url/")


def test_the_body_is_the_seed_invoice_with_values_from_the_database(seller):
    organization, client = seller
    invoice = make_rich_invoice(organization)
    render_now(invoice)

    response = _pdf_url(client, invoice.lotus_id)

    assert response.status_code == 200, response.content
    assert "Retry-After" not in response
    body = response.json()
    check(body, PDF_URL_BODY)
    assert list(body) == [*PDF_URL_BODY]  # the seed's field order, then url
    invoice.refresh_from_db()
    plan_fee, setup_fee = invoice.fees.order_by("position")
    assert body["invoice_id"] == "invoice_" + invoice.id.hex
    assert body["invoice_number"] == invoice.number
    # 2 x 100.00 + 20 % VAT, plus 25.50 untaxed.
    assert invoice.total_amount_cents == 2 * 10_000 * 120 // 100 + 2_550
    assert body["amount"] == body["cost_due"] == invoice.total_amount_cents / 100 == 265.5
    assert body["currency"] == {"code": "EUR", "name": "Euro", "symbol": "€"}
    assert dt.datetime.fromisoformat(body["issue_date"]) == invoice.finalized_at.replace(
        microsecond=0
    )
    assert body["issue_date"].endswith("+00:00")
    assert body["payment_status"] == "unpaid"
    assert body["due_date"] == f"{invoice.payment_due_date.isoformat()}T00:00:00+00:00"
    assert (body["start_date"], body["end_date"]) == ("2024-01-01", "2024-01-31")
    assert body["external_payment_obj_id"] is None
    assert body["external_payment_obj_type"] is None
    assert body["external_payment_obj_status"] is None

    plan_line, setup_line = body["line_items"]
    assert plan_line == {
        "name": plan_fee.display_name,
        "start_date": JAN_1.isoformat(),
        "end_date": JAN_31.isoformat(),
        "quantity": 2.0,
        "billing_type": "in_arrears",
        "metadata": {},
        "plan": {"plan_name": "Pro", "plan_id": "plan_pro", "version_id": "plan_pro:v3",
                 "version": 3},
        "subscription_filters": [{"value": "eu", "property_name": "region"}],
        "base": plan_fee.amount_cents / 100,
        "adjustments": [
            {"amount": f"{plan_fee.taxes_amount_cents / 100:.10f}", "account": "41100",
             "adjustment_type": "sales_tax"}
        ],
        "amount": plan_fee.total_amount_cents / 100,
        "subtotal": plan_fee.amount_cents / 100,
    }  # fmt: skip
    assert plan_line["adjustments"][0]["amount"] == "40.0000000000"
    assert plan_line["amount"] == 240.0
    # A one-off line without a period spans the moment the invoice was issued.
    assert setup_line["start_date"] == setup_line["end_date"] == body["issue_date"]
    assert setup_line["adjustments"] == [] and setup_line["plan"] is None
    assert setup_line["amount"] == setup_line["base"] == setup_fee.amount_cents / 100 == 25.5

    assert body["customer"] == {
        "customer_name": "Émilie Dupont",
        "email": "emilie@example.com",
        "customer_id": invoice.customer.external_id,
        "address": {"city": "Paris", "country": "FR", "line1": "1 rue de la Paix",
                    "line2": None, "postal_code": "75002", "state": None},
    }  # fmt: skip
    assert body["seller"] == {
        "name": "Seller Co",
        "address": {"city": "Lyon", "country": "FR", "line1": "5 avenue Foch", "line2": None,
                    "postal_code": "69006", "state": None},
        "phone": "+33 1 23 45 67 89",
        "email": "billing@seller.example",
    }  # fmt: skip
    assert body["url"] == body["invoice_pdf"]
    assert invoice.number in pdf_text(download(client, body["url"]))


def test_every_spelling_of_the_id_and_the_number_find_the_same_invoice(seller):
    organization, client = seller
    invoice = make_invoice(organization)
    other = make_invoice(organization)
    for i in (invoice, other):
        render_now(i)
    spellings = [
        invoice.lotus_id,
        "invoice_" + invoice.id.hex.upper(),
        invoice.id.hex,
        str(invoice.id),
        str(invoice.id).upper(),
        invoice.number,
    ]
    for ref in spellings:
        response = _pdf_url(client, ref)
        assert response.status_code == 200, (ref, response.content)
        body = response.json()
        assert (body["invoice_id"], body["invoice_number"]) == (invoice.lotus_id, invoice.number)
        assert invoice.number in pdf_text(download(client, body["url"]))
    assert _pdf_url(client, other.number).json()["invoice_id"] == other.lotus_id


def test_a_number_of_the_organizations_own_scheme_is_found(db):
    organization, key = make_organization(numbering_scheme="sequence", number_prefix="ACME")
    invoice = make_invoice(organization)
    render_now(invoice)
    assert invoice.number == "ACME-000001"
    from rest_framework.test import APIClient

    client = APIClient(HTTP_X_API_KEY=key)
    response = _pdf_url(client, "ACME-000001")
    assert response.status_code == 200
    assert "ACME-000001" in pdf_text(download(client, response.json()["url"]))
    # Matched whole, never as a prefix or a part.
    for ref in ("ACME-00000", "CME-000001", "ACME-0000011", "acme-000001"):
        assert _pdf_url(client, ref).status_code == 404, ref


def test_another_organizations_invoice_is_404_by_id_and_by_number(seller, db):
    organization, client = seller
    mine = make_invoice(organization)
    other_org, _ = make_organization()
    theirs = make_invoice(other_org)
    # Both organizations number per day from 000001: the same number, two invoices.
    assert mine.number == theirs.number
    render_now(mine)
    render_now(theirs)
    for ref in (theirs.lotus_id, str(theirs.id)):
        response = _pdf_url(client, ref)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    # The number resolves to this organization's own invoice only.
    assert _pdf_url(client, theirs.number).json()["invoice_id"] == mine.lotus_id


def test_drafts_and_unknown_invoices_are_404(seller):
    organization, client = seller
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    for ref in (draft.lotus_id, str(draft.id), "invoice_" + "0" * 32, "991231-000001",
                "not-a-number"):  # fmt: skip
        response = _pdf_url(client, ref)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), ref
    assert not PdfJob.objects.filter(invoice=draft).exists()


@pytest.mark.parametrize(
    "ref, code",
    [
        ("x" * 65, "max_length"),
        ("invoice_123", "invalid"),
        ("invoice_" + "g" * 32, "invalid"),
        ("invoice_" + "0" * 31, "invalid"),
        ("240101-000001%00", "invalid"),
        ("240101%20000001", "invalid"),
        ("240101-%0A000001", "invalid"),
    ],
)
def test_malformed_ids_are_400_with_lotus_validation_body(lotus_api, ref, code):
    response = _pdf_url(lotus_api, ref)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == f"{DOCS}#validation-error"
    assert body["title"] == code
    assert body["validation_errors"] == [
        {"code": code, "detail": body["detail"], "attr": "invoice_id"}
    ]


def test_a_voided_invoice_is_served_with_its_voided_pdf(seller):
    organization, client = seller
    invoice = make_invoice(organization)
    render_now(invoice)
    first_url = _pdf_url(client, invoice.number).json()["url"]
    voided = invoice_void(invoice=invoice)
    render_now(voided)

    body = _pdf_url(client, invoice.number).json()

    assert body["payment_status"] == "voided"
    assert body["url"] != first_url
    text = pdf_text(download(client, body["url"]))
    assert invoice.number in text and "VOID" in text.upper()
    # Voiding made a new version: the first version's URL no longer works.
    assert client.get(local_path(first_url)).status_code == 404


def test_paid_invoices_say_paid(seller):
    organization, client = seller
    invoice = make_invoice(organization)
    render_now(invoice)
    invoice_update(invoice=invoice, payment_status=Invoice.PaymentStatus.SUCCEEDED)
    assert _pdf_url(client, invoice.lotus_id).json()["payment_status"] == "paid"


def test_a_stored_pdf_costs_one_round_trip_however_many_lines(seller, django_assert_num_queries):
    organization, client = seller
    invoice = make_rich_invoice(organization)
    render_now(invoice)
    # the key, and the stored PDF with its invoice, customer, seller and lines,
    # sent together (api/auth.py, read_with_key)
    with django_assert_num_queries(1):
        response = _pdf_url(client, invoice.lotus_id)
    assert response.status_code == 200 and len(response.json()["line_items"]) == 2
    # by number: key, organization, invoice, current job, lines
    with django_assert_num_queries(5):
        response = _pdf_url(client, invoice.number)
    assert response.status_code == 200 and response.json()["url"]


def test_without_a_worker_it_answers_after_the_bound_with_nulls_and_retry_after(
    seller, settings, monkeypatch
):
    from invoicing.services import pdf_wait
    from tests.invoicing.api.lotus.test_pdf_wait import FakeClock

    settings.LOTUS_PDF_WAIT_SECONDS = 2
    settings.REDIS_URL = ""  # the polling path, on the clock the wait reads
    clock = FakeClock()
    monkeypatch.setattr(pdf_wait, "time", clock)
    organization, client = seller
    invoice = make_invoice(organization)

    response = _pdf_url(client, invoice.lotus_id)

    # It waited the whole bound (on its own clock), not a moment more.
    assert clock.now == pytest.approx(1002.0)
    assert response.status_code == 200
    assert response["Retry-After"] == "5"
    body = response.json()
    check(body, PDF_URL_BODY)
    assert body["invoice_pdf"] is None and body["url"] is None
    assert body["invoice_number"] == invoice.number
    # Asking did not make a second job: there is one, shared.
    assert PdfJob.objects.filter(invoice=invoice).count() == 1


@pytest.fixture
def fake_clock(settings, monkeypatch):
    """The polling path (no Redis) on the clock the wait reads: a request that
    waits moves it, one answered at once leaves it where it was."""
    from invoicing.services import pdf_wait
    from tests.invoicing.api.lotus.test_pdf_wait import FakeClock

    settings.REDIS_URL = ""
    settings.LOTUS_PDF_WAIT_SECONDS = 10
    clock = FakeClock()
    monkeypatch.setattr(pdf_wait, "time", clock)
    monkeypatch.setattr(pdf_wait, "_local_slots", pdf_wait._LocalSlots())
    return clock


def _not_ready_at_once(response, clock, invoice) -> dict:
    assert clock.now == 1000.0, "it waited"
    assert response.status_code == 200, response.content
    body = response.json()
    check(body, PDF_URL_BODY)
    assert body["invoice_pdf"] is None and body["url"] is None
    assert body["invoice_number"] == invoice.number
    return body


def test_with_no_waiting_slot_free_it_answers_at_once_as_after_the_wait(
    seller, settings, fake_clock
):
    """Too many of the organization's requests wait already: this one does
    not hold a web worker too, it gets the answer of a wait that ran out."""
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 0
    organization, client = seller
    invoice = make_invoice(organization)
    response = _pdf_url(client, invoice.lotus_id)
    _not_ready_at_once(response, fake_clock, invoice)
    assert response["Retry-After"] == "5"
    # The job was asked for all the same.
    assert PdfJob.objects.get(invoice=invoice).state == PdfJob.State.PENDING


def test_a_job_backing_off_past_the_wait_is_answered_at_once(seller, fake_clock):
    organization, client = seller
    invoice = make_invoice(organization)
    PdfJob.objects.filter(invoice=invoice).update(
        attempts=1, available_at=timezone.now() + dt.timedelta(seconds=40)
    )
    response = _pdf_url(client, invoice.lotus_id)
    _not_ready_at_once(response, fake_clock, invoice)
    assert 39 <= int(response["Retry-After"]) <= 40


def test_a_job_queued_behind_more_than_the_wait_is_answered_at_once(seller, settings, fake_clock):
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 4.0
    settings.LOTUS_PDF_WAIT_RENDERERS = 1
    organization, client = seller
    ahead = [make_invoice(organization) for _ in range(3)]
    invoice = make_invoice(organization)
    assert all(i.pdf_jobs.get().created_at < invoice.pdf_jobs.get().created_at for i in ahead)
    response = _pdf_url(client, invoice.lotus_id)
    _not_ready_at_once(response, fake_clock, invoice)
    # 3 renders of 4 s ahead of it.
    assert response["Retry-After"] == "12"


def test_retry_after_follows_a_job_backing_off_after_a_failure(seller, settings):
    settings.LOTUS_PDF_WAIT_SECONDS = 0
    organization, client = seller
    invoice = make_invoice(organization)
    PdfJob.objects.filter(invoice=invoice).update(
        attempts=1, available_at=timezone.now() + dt.timedelta(seconds=30)
    )
    response = _pdf_url(client, invoice.lotus_id)
    assert response.status_code == 200 and response.json()["url"] is None
    assert 29 <= int(response["Retry-After"]) <= 30


def test_a_failed_job_is_rearmed_once_then_a_lotus_503(seller, settings):
    """A failed job gets one fresh series of attempts from a download (a
    failure that went away, or a fixed bug, then gets its PDF); failed again,
    it is a 503 in Lotus's format, never a 500 (issue 15)."""
    settings.LOTUS_PDF_WAIT_SECONDS = 0
    organization, client = seller
    invoice = make_invoice(organization)
    PdfJob.objects.filter(invoice=invoice).update(state=PdfJob.State.FAILED, attempts=5)
    response = _pdf_url(client, invoice.lotus_id)
    assert response.status_code == 200 and response.json()["url"] is None
    assert "Retry-After" in response
    job = PdfJob.objects.get(invoice=invoice)
    assert (job.state, job.attempts) == (PdfJob.State.PENDING, 0) and job.rearmed_at

    PdfJob.objects.filter(pk=job.pk).update(state=PdfJob.State.FAILED, attempts=5)
    response = _pdf_url(client, invoice.lotus_id)
    assert response.status_code == 503
    assert response.json() == {
        "type": f"{DOCS}#server-error",
        "detail": (
            "The PDF of this invoice could not be generated; the operators can see why and "
            "retry it."
        ),
        "title": "pdf_generation_failed",
    }
    assert PdfJob.objects.get(pk=job.pk).state == PdfJob.State.FAILED


def test_money_follows_the_currency_exponent(db):
    from rest_framework.test import APIClient

    from tests.factories import make_add_on, make_customer

    organization, key = make_organization()
    customer = make_customer(organization, currency="JPY")
    add_on = make_add_on(organization, amount_cents=1_500, currency="JPY")
    from invoicing.services.invoices import FeeInput

    fees = [FeeInput(add_on_code=add_on.code, units=Decimal("3"))]
    invoice = make_invoice(organization, customer=customer, currency="JPY", fees=fees)
    render_now(invoice)
    body = _pdf_url(APIClient(HTTP_X_API_KEY=key), invoice.number).json()
    assert body["amount"] == 4500.0
    assert body["currency"] == {"code": "JPY", "name": "Japanese Yen", "symbol": "¥"}


def test_a_stored_pdfs_body_is_the_one_rendered_from_fully_loaded_rows(seller):
    # The stored PDF path reads only the columns the body shows, in SQL of its own.
    organization, client = seller
    invoice = make_rich_invoice(organization)
    job = render_now(invoice)
    body = client.get(f"/api/invoices/{invoice.lotus_id}/pdf_url/").json()

    full = Invoice.objects.select_related("customer__organization", "organization").get(
        pk=invoice.pk
    )
    expected = lotus.PDF_URL.render(full, {"pdf_urls": {full.pk: pdf_download_url(job)}})
    signed = {"invoice_pdf", "url"}  # signed at different seconds
    assert list(body) == list(expected)
    assert {k: v for k, v in body.items() if k not in signed} == json.loads(
        json.dumps({k: v for k, v in expected.items() if k not in signed})
    )
    assert body["url"] == body["invoice_pdf"] and body["url"].startswith("http")
