"""What the PDF is made from: dates on the customer's calendar, the paper
of the customer's country, and a refused snapshot recorded on its job."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from invoicing import pdf as pdf_package
from invoicing.models import Invoice, PdfJob
from invoicing.services import pdf
from invoicing.services.invoices import FeeInput
from tests.factories import make_add_on, make_customer, make_invoice

pytestmark = pytest.mark.django_db


def _zoned(text: str, zone: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(zone))


@pytest.mark.parametrize(
    ("zone", "start", "end", "printed"),
    [
        # A January in Los Angeles ends at 08:00 UTC on February 1.
        ("America/Los_Angeles", "2025-01-01T00:00:00", "2025-01-31T23:59:59",
         (dt.date(2025, 1, 1), dt.date(2025, 1, 31))),
        # A January in Tokyo starts at 15:00 UTC on December 31.
        ("Asia/Tokyo", "2025-01-01T00:00:00", "2025-01-31T23:59:59",
         (dt.date(2025, 1, 1), dt.date(2025, 1, 31))),
        # Kiritimati is 14 hours ahead: its February 1 00:30 is January 31 in UTC.
        ("Pacific/Kiritimati", "2025-02-01T00:30:00", "2025-02-28T23:30:00",
         (dt.date(2025, 2, 1), dt.date(2025, 2, 28))),
    ],
)  # fmt: skip
def test_fee_periods_are_the_customers_days(organization, zone, start, end, printed):
    customer = make_customer(organization, timezone=zone, currency="EUR")
    add_on = make_add_on(organization)
    invoice = make_invoice(
        organization,
        customer=customer,
        fees=[
            FeeInput(
                add_on_code=add_on.code,
                from_datetime=_zoned(start, zone),
                to_datetime=_zoned(end, zone),
            )
        ],
    )
    (line,) = pdf.invoice_snapshot(Invoice.objects.get(pk=invoice.pk)).fees
    assert (line.from_date, line.to_date) == printed
    # The UTC dates differ: the test would pass with UTC dates only by luck.
    stored = invoice.fees.get()
    utc = tuple(d.astimezone(dt.UTC).date() for d in (stored.from_datetime, stored.to_datetime))
    assert utc != printed


@pytest.mark.parametrize(
    ("zone", "utc_now", "overdue"),
    [
        # 2025-03-04 01:00 in Auckland is still March 3 in UTC: the March 3
        # due date has passed for the customer.
        ("Pacific/Auckland", "2025-03-03T12:30:00", True),
        # 2025-03-03 23:30 in Los Angeles is March 4 in UTC: not yet overdue.
        ("America/Los_Angeles", "2025-03-04T07:30:00", False),
        ("UTC", "2025-03-04T00:00:01", True),
    ],
)
def test_payment_overdue_compares_dates_on_the_customers_calendar(
    organization, api, monkeypatch, zone, utc_now, overdue
):
    customer = make_customer(organization, timezone=zone, currency="EUR")
    invoice = make_invoice(organization, customer=customer)
    Invoice.objects.filter(pk=invoice.pk).update(payment_due_date=dt.date(2025, 3, 3))
    now = dt.datetime.fromisoformat(utc_now).replace(tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    shown = api.get(f"/api/v1/invoices/{invoice.id}").json()["invoice"]
    assert shown["payment_overdue"] is overdue


@pytest.mark.parametrize(
    ("country", "paper"),
    [("US", "LETTER"), ("CA", "LETTER"), ("MX", "LETTER"), ("FR", "A4"), ("", "A4")],
)
def test_paper_follows_the_customers_country(organization, country, paper):
    customer = make_customer(organization, country=country, currency="EUR")
    invoice = make_invoice(organization, customer=customer)
    assert pdf.invoice_snapshot(invoice).paper_size == paper


def test_the_organization_can_choose_the_paper(organization):
    organization.pdf_paper_size = "A4"
    organization.save(update_fields=["pdf_paper_size"])
    customer = make_customer(organization, country="US", currency="EUR")
    invoice = make_invoice(organization, customer=customer)
    assert pdf.invoice_snapshot(Invoice.objects.get(pk=invoice.pk)).paper_size == "A4"


def test_a_snapshot_that_does_not_add_up_fails_its_job_at_once(organization):
    invoice = make_invoice(organization)
    # Amounts that contradict each other (only a direct write can do this).
    Invoice.objects.filter(pk=invoice.pk).update(total_amount_cents=1)
    job = invoice.pdf_jobs.get()
    result = pdf.pdf_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    assert result.outcome == "failed"
    assert (job.state, job.attempts) == (PdfJob.State.FAILED, 1)
    assert job.last_error.startswith("SnapshotInconsistent: total_amount_cents is 1")


# ------------------------------------------------- stuck states (issue 15)


def test_a_draft_has_no_pdf_job(organization):
    from invoicing.errors import NotAllowed

    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    with pytest.raises(NotAllowed):
        pdf.invoice_pdf_request(invoice=draft)
    with pytest.raises(NotAllowed):
        pdf.invoice_pdf_regenerate(invoice=draft)
    assert not PdfJob.objects.filter(invoice=draft).exists()


def test_a_version_replaced_before_rendering_says_so(organization):
    invoice = make_invoice(organization)
    first = invoice.pdf_jobs.get()
    assert first.state == PdfJob.State.PENDING
    second = pdf.invoice_pdf_regenerate(invoice=invoice)
    first.refresh_from_db()
    assert (first.state, first.is_current) == (PdfJob.State.SUPERSEDED, False)
    assert "superseded by version 2" in first.last_error
    # Its message, if it still arrives, renders nothing; the new one renders.
    assert pdf.pdf_job_run(job_id=str(first.pk)).outcome == "skipped"
    assert pdf.pdf_job_run(job_id=str(second.pk)).outcome == "ready"


def test_a_ready_version_stays_ready_when_replaced(organization):
    invoice = make_invoice(organization)
    first = invoice.pdf_jobs.get()
    pdf.pdf_job_run(job_id=str(first.pk))
    pdf.invoice_pdf_regenerate(invoice=invoice)
    first.refresh_from_db()
    assert (first.state, first.is_current) == (PdfJob.State.READY, False)


def test_a_long_batch_renews_the_lease_of_its_tail(organization, monkeypatch, settings):
    """One task renders up to 20 jobs under the lease taken at claim; before
    each job, a batch older than a third of the lease renews it for the jobs
    still to render, so the sweep never hands them to another worker."""
    settings.PDF_RENDER_LEASE_SECONDS = 30
    invoices = [make_invoice(organization) for _ in range(3)]
    jobs = [i.pdf_jobs.get() for i in invoices]
    clock = {"now": 1000.0}
    monkeypatch.setattr(pdf.time, "monotonic", lambda: clock["now"])
    leases = []
    original = pdf_package.render_invoice_pdf

    def slow_render(snapshot):
        # Each render "takes" 11 s of the clock the service reads: more than
        # a third of the 30 s lease.
        clock["now"] += 11
        rows = PdfJob.objects.filter(pk__in=[j.pk for j in jobs])
        leases.append({str(j.pk): j.lease_expires_at for j in rows})
        return original(snapshot)

    monkeypatch.setattr(pdf_package, "render_invoice_pdf", slow_render)
    results = pdf.pdf_jobs_run(job_ids=[str(j.pk) for j in jobs])
    assert [r.outcome for r in results] == ["ready"] * 3
    # The third job's lease was moved forward while the batch ran.
    third = str(jobs[2].pk)
    assert leases[2][third] > leases[0][third]
