"""The bounded wait for a PDF job (``invoicing/services/pdf_wait.py``): woken
by the worker's message published after its commit, a slow re-check when a
message is lost, polling with backoff without Redis."""

import threading
import time
from unittest import mock

import pytest
import redis
from django.db import connection, transaction

from invoicing.models import PdfJob
from invoicing.services import pdf_wait
from invoicing.services.pdf import invoice_pdf_regenerate, pdf_job_run
from tests.factories import make_invoice, make_organization

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job():
    organization, _ = make_organization()
    invoice = make_invoice(organization)
    return PdfJob.objects.get(invoice=invoice, is_current=True)


def _later(delay: float, action) -> threading.Thread:
    def run():
        time.sleep(delay)
        try:
            action()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _mark_ready(job_id, publish: bool):
    def action():
        PdfJob.objects.filter(pk=job_id).update(state=PdfJob.State.READY)
        if publish:
            pdf_wait.pdf_job_publish(job_id=job_id, state="ready")

    return action


def _listen(job, settings):
    listener = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    listener.subscribe(f"invoicing:pdf-job:{job.pk}")
    assert _next(listener, 2, kind="subscribe") is not None
    return listener


def _next(listener, timeout: float, kind: str = "message"):
    """The next message of ``kind`` within ``timeout`` seconds, or None."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        message = listener.get_message(timeout=remaining)
        if message and message["type"] == kind:
            return message
    return None


def _timed_wait(job, timeout: float) -> tuple[PdfJob, float]:
    started = time.monotonic()
    result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=timeout)
    return result, time.monotonic() - started


def test_the_published_message_wakes_the_waiter_at_once(job):
    thread = _later(0.3, _mark_ready(job.pk, publish=True))
    result, elapsed = _timed_wait(job, timeout=5)
    thread.join()
    assert result.state == PdfJob.State.READY
    # Well before the first slow re-check (1 s): the message woke it.
    assert 0.3 <= elapsed < 0.8, elapsed


def test_a_lost_message_costs_at_most_the_slow_recheck(job):
    thread = _later(0.2, _mark_ready(job.pk, publish=False))
    result, elapsed = _timed_wait(job, timeout=5)
    thread.join()
    assert result.state == PdfJob.State.READY
    assert 0.9 <= elapsed < 1.6, elapsed


def test_without_redis_it_polls_with_backoff(job, settings):
    settings.REDIS_URL = ""
    thread = _later(0.25, _mark_ready(job.pk, publish=False))
    result, elapsed = _timed_wait(job, timeout=5)
    thread.join()
    assert result.state == PdfJob.State.READY
    assert elapsed < 0.6, elapsed  # reads at 0, 0.1, 0.3 s


@pytest.mark.parametrize("redis_url, max_reads", [("", 6), (None, 3)])
def test_a_job_that_never_finishes_is_read_a_handful_of_times(job, settings, redis_url,
                                                              max_reads):  # fmt: skip
    if redis_url is not None:
        settings.REDIS_URL = redis_url
    with mock.patch.object(pdf_wait, "_load", wraps=pdf_wait._load) as load:
        result, elapsed = _timed_wait(job, timeout=1.6)
    assert result.state == PdfJob.State.PENDING
    assert 1.6 <= elapsed < 2, elapsed
    assert 2 <= load.call_count <= max_reads, load.call_count


def test_the_worker_publishes_only_after_its_commit(job, settings):
    listener = _listen(job, settings)
    try:
        with transaction.atomic():
            assert pdf_job_run(job_id=str(job.pk)).outcome == "ready"
            assert _next(listener, 0.3) is None  # not committed yet
        message = _next(listener, 2)
        assert message is not None and message["data"] == b"ready"
        assert PdfJob.objects.get(pk=job.pk).state == PdfJob.State.READY
    finally:
        listener.close()


def test_a_job_out_of_attempts_publishes_failed(job, settings):
    settings.PDF_MAX_ATTEMPTS = 1
    listener = _listen(job, settings)
    try:
        with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=RuntimeError("boom")):
            assert pdf_job_run(job_id=str(job.pk)).outcome == "failed"
        message = _next(listener, 2)
        assert message is not None and message["data"] == b"failed"
    finally:
        listener.close()


def test_an_unreachable_redis_is_harmless(job, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    pdf_wait.pdf_job_publish(job_id=job.pk, state="ready")
    assert "could not publish" in caplog.text
    thread = _later(0.15, _mark_ready(job.pk, publish=False))
    result, elapsed = _timed_wait(job, timeout=5)  # falls back to polling
    thread.join()
    assert result.state == PdfJob.State.READY and elapsed < 1, elapsed


def test_await_follows_a_version_made_while_waiting(job):
    invoice = job.invoice

    def regenerate_and_render():
        new = invoice_pdf_regenerate(invoice=invoice)
        assert pdf_job_run(job_id=str(new.pk)).outcome == "ready"

    thread = _later(0.2, regenerate_and_render)
    result = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=5)
    thread.join()
    assert result.pk != job.pk and result.version == 2
    assert result.is_current and result.state == PdfJob.State.READY
