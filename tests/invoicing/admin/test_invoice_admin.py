"""The invoice admin driven as an operator would: search, inspect, act."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from invoicing.models import Invoice, PdfJob, WebhookDelivery
from invoicing.services.files import pdf_download_url
from tests.factories import make_customer, make_invoice, make_organization

from .helpers import (
    failed_delivery,
    invoice_with_failed_pdf,
    invoice_with_ready_pdf,
    invoice_without_job,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:invoicing_invoice_changelist")


def _change(invoice) -> str:
    return reverse("admin:invoicing_invoice_change", args=[invoice.pk])


def _found(client, term: str) -> list:
    response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return [invoice.pk for invoice in response.context["cl"].result_list]


@pytest.fixture
def three_invoices(db):
    """Three invoices of two organizations, each with its own customer."""
    # Numbers with letters ("ACME-000001"), so that searching the number in
    # lower case is a case of its own. Numbers are unique per organization
    # only: the other scheme keeps the two apart here (the same number in two
    # organizations is tested below).
    first, _ = make_organization(numbering_scheme="sequence", number_prefix="ACME")
    second, _ = make_organization()
    target = make_invoice(
        first, customer=make_customer(first, external_id="cus-target", name="Zebulon Widgets")
    )
    others = [
        make_invoice(first, customer=make_customer(first, external_id="cus-other", name="Acme")),
        make_invoice(second, customer=make_customer(second, external_id="cus-third", name="Bo")),
    ]
    return target, others


@pytest.mark.parametrize(
    "form",
    ["number", "lower-number", "dashed", "hex", "lotus", "external_id", "name", "name-part"],
)
def test_search_by_each_identity_finds_the_invoice_and_only_it(staff_client, three_invoices, form):
    target, _ = three_invoices
    term = {
        "number": target.number,
        "lower-number": target.number.lower(),
        "dashed": str(target.pk),
        "hex": target.pk.hex.upper(),
        "lotus": target.lotus_id,
        "external_id": "cus-target",
        "name": "Zebulon Widgets",
        "name-part": "zebulon",
    }[form]
    if form == "lower-number":
        assert term != target.number
    assert _found(staff_client, f"  {term} ") == [target.pk]


def test_a_number_used_by_two_organizations_finds_both(staff_client):
    first = make_invoice(make_organization()[0])
    second = make_invoice(make_organization()[0])
    assert first.number == second.number
    assert sorted(_found(staff_client, first.number)) == sorted([first.pk, second.pk])


def test_search_for_nothing_known_finds_nothing(staff_client, three_invoices):
    assert _found(staff_client, "no-such-thing") == []
    assert _found(staff_client, "invoice_" + "0" * 32) == []


def test_changelist_shows_the_pdf_state_without_a_query_per_row(
    staff_client, django_assert_max_num_queries
):
    organization, _ = make_organization()
    for _ in range(3):
        invoice_with_ready_pdf(organization)
    invoice_with_failed_pdf(organization)
    invoice_without_job(organization)
    with django_assert_max_num_queries(12):
        response = staff_client.get(CHANGELIST)
    rows = {i.pk: i.current_pdf_state for i in response.context["cl"].result_list}
    assert sorted(map(str, rows.values())) == ["None", "failed", "ready", "ready", "ready"]
    # Twice as many invoices, the same number of queries.
    for _ in range(5):
        invoice_with_ready_pdf(organization)
    with django_assert_max_num_queries(12):
        staff_client.get(CHANGELIST)


@pytest.mark.parametrize("state", ["ready", "failed", "missing"])
def test_pdf_state_filter(staff_client, state):
    organization, _ = make_organization()
    ready, _ = invoice_with_ready_pdf(organization)
    failed, _ = invoice_with_failed_pdf(organization)
    missing = invoice_without_job(organization)
    invoice_without_job(organization, status=Invoice.Status.DRAFT)  # drafts miss nothing
    expected = {"ready": ready, "failed": failed, "missing": missing}[state]
    response = staff_client.get(CHANGELIST, {"pdf_state": state})
    assert [i.pk for i in response.context["cl"].result_list] == [expected.pk]


def test_other_filters_answer(staff_client):
    organization, _ = make_organization()
    eur = make_invoice(organization, currency="EUR")
    usd = make_invoice(organization, currency="USD")
    response = staff_client.get(CHANGELIST, {"currency": "USD"})
    assert [i.pk for i in response.context["cl"].result_list] == [usd.pk]
    for params in ({"status__exact": "finalized"}, {"payment_status__exact": "pending"},
                   {"issuing_date__gte": str(eur.issuing_date)}):  # fmt: skip
        response = staff_client.get(CHANGELIST, params)
        assert response.status_code == 200
        assert {i.pk for i in response.context["cl"].result_list} == {eur.pk, usd.pk}


def test_change_page_shows_the_whole_picture(staff_client):
    organization, _ = make_organization()
    invoice, job = invoice_with_ready_pdf(organization)
    delivery = failed_delivery(invoice)
    response = staff_client.get(_change(invoice))
    assert response.status_code == 200
    page = response.content.decode()
    for text in (invoice.number, str(invoice.pk), invoice.lotus_id, job.checksum, job.storage_key,
                 "ready", "invoice.created", "server_error", "HTTP 503 from receiver",
                 "203.0.113.7", "Service Unavailable", str(delivery.pk),
                 reverse("admin:invoicing_webhookdelivery_change", args=[delivery.pk]),
                 "Setup fee", "Regenerate PDF", "Request missing PDF",
                 "Retry failed deliveries"):  # fmt: skip
        assert text in page, text
    preview = reverse("admin:invoicing_invoice_preview", args=[invoice.pk, job.pk])
    assert preview in page

    png = staff_client.get(preview)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    pdf = staff_client.get(reverse("admin:invoicing_invoice_pdf", args=[invoice.pk, job.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert "inline" in pdf["Content-Disposition"]


def test_change_page_of_a_failed_pdf_shows_the_error(staff_client):
    organization, _ = make_organization()
    invoice, _ = invoice_with_failed_pdf(organization)
    page = staff_client.get(_change(invoice)).content.decode()
    assert "RenderError: boom" in page and "failed" in page


def _action(client, name: str, invoices) -> None:
    response = client.post(
        CHANGELIST, {"action": name, "_selected_action": [str(i.pk) for i in invoices]}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("how", ["bulk", "button"])
def test_regenerate_makes_a_new_current_version_and_kills_the_old_link(staff_client, how):
    organization, _ = make_organization()
    invoice, old = invoice_with_ready_pdf(organization)
    old_url = pdf_download_url(old).split("/files/", 1)[1]
    anonymous = Client()
    assert anonymous.get(f"/files/{old_url}").status_code == 200

    if how == "bulk":
        _action(staff_client, "regenerate_pdfs_action", [invoice])
    else:
        url = reverse("admin:invoicing_invoice_operate", args=[invoice.pk, "regenerate"])
        assert staff_client.get(url).status_code == 405  # a change needs a POST
        response = staff_client.post(url)
        assert response.status_code == 302 and response["Location"] == _change(invoice)

    current = PdfJob.objects.get(invoice=invoice, is_current=True)
    assert current.version == old.version + 1 and current.state == PdfJob.State.PENDING
    old.refresh_from_db()
    assert old.is_current is False
    assert anonymous.get(f"/files/{old_url}").status_code == 404


def test_request_missing_creates_only_missing_jobs_and_rearms_failed_ones(staff_client):
    organization, _ = make_organization()
    missing = invoice_without_job(organization)
    failed, failed_job = invoice_with_failed_pdf(organization)
    ready, ready_job = invoice_with_ready_pdf(organization)
    draft = invoice_without_job(organization, status=Invoice.Status.DRAFT)

    _action(staff_client, "request_missing_pdfs_action", [missing, failed, ready, draft])

    assert PdfJob.objects.get(invoice=missing).state == PdfJob.State.PENDING
    failed_job.refresh_from_db()
    assert (failed_job.state, failed_job.attempts) == (PdfJob.State.PENDING, 0)
    assert PdfJob.objects.filter(invoice=failed).count() == 1
    assert list(PdfJob.objects.filter(invoice=ready)) == [ready_job]
    assert PdfJob.objects.get(invoice=ready).state == PdfJob.State.READY
    assert not PdfJob.objects.filter(invoice=draft).exists()


def test_retry_failed_deliveries_moves_them_to_pending(staff_client):
    organization, _ = make_organization()
    invoice, _ = invoice_with_ready_pdf(organization)
    delivery = failed_delivery(invoice)
    other = make_invoice(organization)
    untouched = failed_delivery(other)
    url = reverse("admin:invoicing_invoice_operate", args=[invoice.pk, "retry-deliveries"])

    staff_client.post(url)

    delivery.refresh_from_db()
    untouched.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert untouched.status == WebhookDelivery.Status.FAILED

    _action(staff_client, "retry_failed_deliveries_action", [other])
    untouched.refresh_from_db()
    assert untouched.status == WebhookDelivery.Status.PENDING


def test_bulk_actions_refuse_huge_selections(staff_client, monkeypatch):
    from invoicing.admin import invoices as module

    monkeypatch.setattr(module, "MAX_BULK_INVOICES", 1)
    organization, _ = make_organization()
    a, b = invoice_with_ready_pdf(organization)[0], invoice_with_ready_pdf(organization)[0]
    response = staff_client.post(
        CHANGELIST,
        {"action": "regenerate_pdfs_action", "_selected_action": [str(a.pk), str(b.pk)]},
        follow=True,
    )
    assert "At most 1 invoices" in response.content.decode()
    assert PdfJob.objects.filter(invoice__in=[a, b]).count() == 2


def _admin_urls(invoice, job) -> list[str]:
    return [
        CHANGELIST,
        _change(invoice),
        reverse("admin:invoicing_invoice_preview", args=[invoice.pk, job.pk]),
        reverse("admin:invoicing_invoice_pdf", args=[invoice.pk, job.pk]),
        reverse("admin-ops"),
    ]


@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_non_staff_are_refused_everywhere(plain_client, who):
    client = Client() if who == "anonymous" else plain_client
    organization, _ = make_organization()
    invoice, job = invoice_with_ready_pdf(organization)
    for url in _admin_urls(invoice, job):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    operate = reverse("admin:invoicing_invoice_operate", args=[invoice.pk, "regenerate"])
    assert client.post(operate).status_code == 302
    assert PdfJob.objects.filter(invoice=invoice).count() == 1


def test_amounts_read_in_their_currency(staff_client):
    """Minor units as stored, shown in major units with the currency's
    decimals: 30000 EUR is 300.00 EUR, 285600 BHD (three decimals) is 285.600 BHD."""
    from invoicing.services.invoices import FeeInput
    from tests.factories import make_add_on

    organization, _ = make_organization()
    eur = make_invoice(organization, fees=[FeeInput(add_on_code=make_add_on(
        organization, amount_cents=30_000).code)])  # fmt: skip
    bhd_add_on = make_add_on(organization, amount_cents=285_600, currency="BHD")
    bhd = make_invoice(organization, currency="BHD", fees=[FeeInput(add_on_code=bhd_add_on.code)])
    listing = staff_client.get(CHANGELIST).content.decode()
    assert "300.00 EUR" in listing and "285.600 BHD" in listing
    assert "30000 EUR" not in listing
    page = staff_client.get(_change(eur)).content.decode()
    assert page.count("300.00 EUR") >= 3  # fees, sub-total, total, and the fee line
    assert "285.600 BHD" in staff_client.get(_change(bhd)).content.decode()
    add_ons = staff_client.get(reverse("admin:invoicing_addon_changelist")).content.decode()
    assert "285.600 BHD" in add_ons
