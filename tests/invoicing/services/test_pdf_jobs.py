"""The PDF job state machine, driven directly (the worker tests drive it
through Celery)."""

import datetime as dt
import time
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import connection, connections
from django.db.models import F
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import Invoice, PdfJob, WebhookEvent
from invoicing.services import pdf
from invoicing.services.files import pdf_download_url
from invoicing.services.invoices import invoice_finalize, invoice_void
from tests.factories import make_invoice
from tests.pdftext import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(organization):
    return make_invoice(organization)


def test_finalized_invoices_have_one_pending_job(invoice):
    job = PdfJob.objects.get(invoice=invoice)
    assert (job.state, job.version, job.is_current, job.attempts) == ("pending", 1, True, 0)
    assert pdf.invoice_pdf_request(invoice=invoice).pk == job.pk
    assert PdfJob.objects.filter(invoice=invoice).count() == 1


def test_a_run_stores_the_pdf_and_records_invoice_generated(invoice):
    result = pdf.pdf_job_run(job_id=str(invoice.pdf_jobs.get().pk))
    assert result.outcome == "ready"
    job = PdfJob.objects.get(invoice=invoice)
    assert job.state == "ready" and job.attempts == 1 and job.renderer_version
    assert job.storage_key == f"invoices/{invoice.organization_id}/{invoice.id}/{job.checksum}.pdf"
    stored = default_storage.open(job.storage_key).read()
    assert len(stored) == job.size_bytes and invoice.number in pdf_text(stored)
    assert (
        WebhookEvent.objects.filter(event_type="invoice.generated", object_id=invoice.id).count()
        == 1
    )
    # A second run of the same job is a no-op: no second render, no second event.
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "skipped"
    assert WebhookEvent.objects.filter(event_type="invoice.generated").count() == 1


def test_a_job_that_keeps_failing_ends_failed_after_bounded_attempts(invoice, settings):
    settings.PDF_MAX_ATTEMPTS = 3
    job = invoice.pdf_jobs.get()
    with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=OSError("bad disk")):
        outcomes = []
        for _ in range(6):
            outcomes.append(pdf.pdf_job_run(job_id=str(job.pk)).outcome)
            PdfJob.objects.filter(pk=job.pk).update(available_at=None)  # skip the backoff
    assert outcomes == ["retry", "retry", "failed", "skipped", "skipped", "skipped"]
    job.refresh_from_db()
    assert job.state == "failed" and job.attempts == 3
    assert "OSError: bad disk" in job.last_error
    assert not WebhookEvent.objects.filter(event_type="invoice.generated").exists()
    # Operators can re-arm it.
    assert pdf.pdf_job_retry(job=job).state == "pending"


def test_a_rendering_bug_fails_at_once(invoice):
    """The same code meets the same bug again: no five retries first."""
    job = invoice.pdf_jobs.get()
    with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=ValueError("bad font")):
        assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "failed"
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("failed", 1)
    assert "ValueError: bad font" in job.last_error


def test_backoff_keeps_a_retried_job_from_running_early(invoice):
    job = invoice.pdf_jobs.get()
    with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=OSError("disk")):
        assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "retry"
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "skipped"
    job.refresh_from_db()
    assert job.available_at > timezone.now()


def test_the_sweep_resends_stale_pending_and_abandoned_jobs(organization, settings):
    settings.PDF_MAX_ATTEMPTS = 2
    fresh, stale, abandoned, dead = (make_invoice(organization) for _ in range(4))
    long_ago = timezone.now() - dt.timedelta(hours=1)
    PdfJob.objects.filter(invoice=stale).update(enqueued_at=long_ago)
    PdfJob.objects.filter(invoice=abandoned).update(
        state="rendering", attempts=1, lease_expires_at=long_ago
    )
    PdfJob.objects.filter(invoice=dead).update(
        state="rendering", attempts=2, lease_expires_at=long_ago
    )
    with mock.patch("invoicing.services.pdf.send") as send:
        result = pdf.pdf_jobs_sweep()
    sent = {job_id for call in send.call_args_list for job_id in call.args[1]}
    assert sent == {str(PdfJob.objects.get(invoice=i).pk) for i in (stale, abandoned)}
    assert (result.requeued, result.failed) == (2, 1)
    dead_job = PdfJob.objects.get(invoice=dead)
    assert dead_job.state == "failed" and "worker was lost" in dead_job.last_error
    assert PdfJob.objects.get(invoice=fresh).state == "pending"


def test_voiding_makes_a_new_version_and_old_urls_stop_working(invoice):
    pdf.pdf_job_run(job_id=str(invoice.pdf_jobs.get().pk))
    old = PdfJob.objects.get(invoice=invoice)
    old_url = pdf_download_url(old)
    client = APIClient()
    path = old_url.split("127.0.0.1:8000", 1)[1]
    assert client.get(path).status_code == 200

    invoice_void(invoice=invoice)
    new = PdfJob.objects.get(invoice=invoice, is_current=True)
    assert new.version == 2 and new.state == "pending"
    assert client.get(path).status_code == 404
    pdf.pdf_job_run(job_id=str(new.pk))
    new.refresh_from_db()
    assert "VOID" in pdf_text(default_storage.open(new.storage_key).read()).upper()
    assert new.checksum != old.checksum


def test_finalizing_while_the_broker_is_down_still_succeeds_fast(organization):
    # An app configured like ours but whose broker port has nothing behind it:
    # the real connection failure, without touching the shared app's pool.
    from celery import Celery

    from billing_project.celery import app

    dead = Celery("dead-broker", set_as_current=False)
    dead.conf.update(app.conf.changes)
    dead.conf.broker_url = "redis://127.0.0.1:1/0"
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    started = time.monotonic()
    with (
        mock.patch("invoicing.dispatch.current_app", dead),
        mock.patch("invoicing.dispatch.logger") as log,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        invoice_finalize(invoice=draft)
    elapsed = time.monotonic() - started
    dead.close()
    draft.refresh_from_db()
    assert draft.status == "finalized"
    assert log.warning.called  # the failed nudge is logged...
    assert PdfJob.objects.get(invoice=draft).state == "pending"  # ...the row waits for the sweep
    # Publishing gives up fast instead of holding the request.
    assert elapsed < 10, elapsed


def test_snapshot_reads_every_fee_in_a_fixed_number_of_queries(organization):
    from decimal import Decimal

    from invoicing.services.invoices import FeeInput
    from tests.factories import make_add_on

    add_on = make_add_on(organization)
    big = make_invoice(
        organization,
        fees=[FeeInput(add_on_code=add_on.code, units=Decimal(i + 1)) for i in range(200)],
    )
    with CaptureQueriesContext(connection) as queries:
        snapshot = pdf.invoice_snapshot(big)
    assert len(snapshot.fees) == 200
    assert len(queries) <= 6


def test_a_task_takes_a_batch_of_the_oldest_waiting_jobs(organization):
    from invoicing.dispatch import RENDER_BATCH_SIZE

    invoices = [make_invoice(organization) for _ in range(RENDER_BATCH_SIZE + 5)]
    jobs = [str(PdfJob.objects.get(invoice=i).pk) for i in invoices]
    assert pdf.pdf_job_run(job_id=jobs[-2]).outcome == "ready"  # alone, when asked so
    assert PdfJob.objects.filter(pk__in=jobs, state="ready").count() == 1
    # A render task's message is a wake-up: it takes the 20 oldest waiting
    # jobs (one organization here), not the newest job it names.
    results = pdf.pdf_jobs_run(job_ids=[jobs[-1]], take_waiting=True)
    ready = [r.job_id for r in results if r.outcome == "ready"]
    assert set(ready) == set(jobs[:RENDER_BATCH_SIZE])
    assert [r.outcome for r in results if r.job_id == jobs[-1]] == ["skipped"]
    # Taken jobs are not run twice; the rest still wait, the named one among them.
    assert pdf.pdf_job_run(job_id=jobs[0]).outcome == "skipped"
    waiting = set(PdfJob.objects.filter(pk__in=jobs, state="pending").values_list("pk", flat=True))
    assert {str(pk) for pk in waiting} == {*jobs[RENDER_BATCH_SIZE:-2], jobs[-1]}


@pytest.mark.django_db(transaction=True)
def test_a_job_locked_by_another_worker_is_not_taken(organization):
    import threading

    from django.db import transaction

    first, second = make_invoice(organization), make_invoice(organization)
    ids = [str(PdfJob.objects.get(invoice=i).pk) for i in (first, second)]
    # Simulate another worker's claim in flight: its row lock is held.
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            PdfJob.objects.select_for_update().get(pk=ids[0])
            locked.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10), "the other worker never took its lock"
    try:
        results = {
            r.job_id: r.outcome for r in pdf.pdf_jobs_run(job_ids=[ids[1]], take_waiting=True)
        }
    finally:
        release.set()
        holder.join()
    assert results == {ids[1]: "ready"}
    assert PdfJob.objects.get(pk=ids[0]).state == "pending"


def test_jobs_requested_in_one_transaction_travel_in_batches(organization):
    from django.db import transaction

    from invoicing.dispatch import RENDER_BATCH_SIZE

    drafts = [make_invoice(organization, status=Invoice.Status.DRAFT) for _ in range(45)]
    with (
        mock.patch("invoicing.dispatch.send") as send,
        TestCase.captureOnCommitCallbacks(execute=True),
        transaction.atomic(),
    ):
        for draft in drafts:
            invoice_finalize(invoice=draft)  # each in a savepoint of its own
    batches = [c.args[1] for c in send.call_args_list if c.args[0] == "invoicing.pdf.render"]
    assert [len(b) for b in batches] == [RENDER_BATCH_SIZE, RENDER_BATCH_SIZE, 5]
    expected = {str(PdfJob.objects.get(invoice=d).pk) for d in drafts}
    assert {job_id for batch in batches for job_id in batch} == expected


def test_rollbacks_never_lose_a_committed_job_from_its_batch(organization):
    from django.db import transaction

    first, dropped, last = (make_invoice(organization, status="draft") for _ in range(3))
    with (
        mock.patch("invoicing.dispatch.send") as send,
        TestCase.captureOnCommitCallbacks(execute=True),
        transaction.atomic(),
    ):
        # The batch is born inside a savepoint that is then rolled back...
        try:
            with transaction.atomic():
                invoice_finalize(invoice=dropped)
                raise RuntimeError("abandon")
        except RuntimeError:
            pass
        # ...and jobs requested afterwards still leave with their commit.
        invoice_finalize(invoice=first)
        invoice_finalize(invoice=last)
    sent = [
        j for c in send.call_args_list if c.args[0] == "invoicing.pdf.render" for j in c.args[1]
    ]
    assert sent == [str(PdfJob.objects.get(invoice=i).pk) for i in (first, last)]
    assert not PdfJob.objects.filter(invoice=dropped).exists()


def test_ids_of_rolled_back_jobs_are_ignored_by_the_worker(organization):
    invoice = make_invoice(organization)
    ghost = "00000000-0000-4000-8000-000000000000"
    job_id = str(PdfJob.objects.get(invoice=invoice).pk)
    outcomes = {r.job_id: r.outcome for r in pdf.pdf_jobs_run(job_ids=[ghost, job_id])}
    assert outcomes == {ghost: "skipped", job_id: "ready"}


def test_a_batch_renders_every_job_and_shares_its_queries(organization):
    from decimal import Decimal

    invoices = [make_invoice(organization) for _ in range(10)]
    job_ids = [str(PdfJob.objects.get(invoice=i).pk) for i in invoices]
    with CaptureQueriesContext(connection) as queries:
        results = pdf.pdf_jobs_run(job_ids=job_ids)
    assert [r.outcome for r in results] == ["ready"] * 10
    assert PdfJob.objects.filter(pk__in=job_ids, state="ready").count() == 10
    assert WebhookEvent.objects.filter(event_type="invoice.generated").count() == 10
    # Claim (5) + jobs (1) + invoices with fees/taxes/credits (4) + one finishing
    # transaction (4) with a fenced UPDATE per job: not 11 queries per job.
    assert len(queries) <= 14 + 10, len(queries)
    assert Decimal(len(queries)) / 10 < 3
    # A second run finds nothing to claim.
    assert {r.outcome for r in pdf.pdf_jobs_run(job_ids=job_ids)} == {"skipped"}


def test_one_failing_job_does_not_fail_its_batch(organization):
    good, bad = make_invoice(organization), make_invoice(organization)
    real = pdf.invoice_snapshot

    def snapshot(invoice):
        if invoice.pk == bad.pk:
            raise ValueError("broken logo")
        return real(invoice)

    ids = [str(PdfJob.objects.get(invoice=i).pk) for i in (good, bad)]
    with mock.patch("invoicing.services.pdf.invoice_snapshot", side_effect=snapshot):
        outcomes = {r.job_id: r.outcome for r in pdf.pdf_jobs_run(job_ids=ids)}
    assert outcomes == {ids[0]: "ready", ids[1]: "failed"}


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_the_hand_written_snapshot_load_gives_what_the_orm_gives(organization):
    # The PDF batches' load (selectors.invoices_for_snapshot) against the ORM's
    # select_related and prefetch_related of the same invoices: every column of every
    # row, each relation in its order, and nothing more read once loaded.
    from decimal import Decimal

    from invoicing.selectors import invoices_for_snapshot
    from invoicing.services.invoices import CreditInput, FeeInput
    from tests.factories import make_add_on, make_customer, make_tax

    customer = make_customer(organization, currency="EUR")
    vat, reduced = make_tax(organization, rate="20"), make_tax(organization, rate="5.5")
    both = make_add_on(organization, amount_cents=10_000, taxes=[vat, reduced])
    plain = make_add_on(organization, amount_cents=2_550)
    rich = make_invoice(
        organization, customer,
        [FeeInput(add_on_code=both.code, units=Decimal("2")),
         FeeInput(add_on_code=plain.code, tax_codes=[]),
         FeeInput(add_on_code=both.code)],
        credits=[CreditInput(kind="coupon", amount_cents=500, code="c5", name="Five")],
    )  # fmt: skip
    bare = make_invoice(organization, customer, [FeeInput(add_on_code=plain.code)])
    ids = [rich.pk, bare.pk]
    expected = {
        i.pk: i
        for i in Invoice.objects.select_related("customer", "organization")
        .prefetch_related("fees", "applied_taxes", "credits")
        .filter(pk__in=ids)
    }
    with CaptureQueriesContext(connection) as queries:
        loaded = invoices_for_snapshot(ids)
        assert set(loaded) == set(ids)
        for pk, invoice in loaded.items():
            want = expected[pk]
            assert _values(invoice) == _values(want)
            assert _values(invoice.customer) == _values(want.customer)
            assert _values(invoice.organization) == _values(want.organization)
            for name in ("fees", "applied_taxes", "credits"):
                got = list(getattr(invoice, name).all())
                assert [_values(r) for r in got] == [
                    _values(r) for r in getattr(want, name).all()
                ], name
                assert all(r.invoice is invoice for r in got)
    assert len(queries) == 1  # one round trip, and no lazy read after it
    assert [f.units for f in loaded[rich.pk].fees.all()] == [Decimal("2"), 1, 1]
    assert len(loaded[rich.pk].applied_taxes.all()) == 2
    assert len(loaded[rich.pk].credits.all()) == 1
    assert not loaded[bare.pk].credits.all()


def test_a_job_taken_over_while_rendering_is_not_finished_by_the_first_worker(organization):
    # Our lease ran out mid-render and another worker claimed the job (its attempt
    # number moved on): our finish must leave the job and its event to that run,
    # while the other job of the batch finishes.
    from invoicing.pdf import render_invoice_pdf

    taken, kept = make_invoice(organization), make_invoice(organization)
    taken_job = PdfJob.objects.get(invoice=taken)

    def render_then_lose(snapshot):
        if snapshot.id == str(taken.pk):
            PdfJob.objects.filter(pk=taken_job.pk).update(attempts=F("attempts") + 1)
        return render_invoice_pdf(snapshot)

    with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=render_then_lose):
        results = {r.job_id: r for r in pdf.pdf_jobs_run(job_ids=[], take_waiting=True)}
    assert results[str(taken_job.pk)].outcome == "skipped"
    assert results[str(taken_job.pk)].detail == "lost the job before finishing"
    assert results[str(PdfJob.objects.get(invoice=kept).pk)].outcome == "ready"
    taken_job.refresh_from_db()
    assert (taken_job.state, taken_job.attempts, taken_job.storage_key) == ("rendering", 2, "")
    generated = WebhookEvent.objects.filter(event_type="invoice.generated")
    assert set(generated.values_list("object_id", flat=True)) == {kept.pk}
