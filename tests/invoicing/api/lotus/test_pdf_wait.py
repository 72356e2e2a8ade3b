"""The bounded wait for a PDF job (``invoicing/services/pdf_wait.py``): woken
by the worker's message published after its commit (``invoicing/signals.py``),
a slow re-check when a message is lost, polling with backoff without Redis.
The bounds on waiting are in tests/invoicing/services/test_pdf_wait_bounds.py."""

import threading
import time
from unittest import mock

import pytest
import redis
from django.db import connection, transaction

from invoicing import signals
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
            signals.pdf_job_publish(job_id=job_id, state="ready")

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


class FakeClock:
    """The clock ``pdf_wait`` reads: ``sleep`` advances it at once, so the
    polling path runs its whole schedule in no real time and the test sees
    exactly when each read would happen (no wall-clock windows, which flake
    on a busy machine)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(pdf_wait, "time", fake)
    return fake


def _loads_then(states: list[str], job):
    """A ``_load`` that reads the row but reports ``states`` in turn (then the last)."""
    calls = []

    def load(job_id):
        row = PdfJob.objects.get(pk=job_id)
        row.state = states[min(len(calls), len(states) - 1)]
        calls.append(row.state)
        return row

    return load, calls


def test_the_published_message_wakes_the_waiter(job, monkeypatch):
    # The slow re-check comes after the timeout: only the message can wake it.
    monkeypatch.setattr(pdf_wait, "FALLBACK_RECHECK_S", 60)
    thread = _later(0.3, _mark_ready(job.pk, publish=True))
    with mock.patch.object(pdf_wait, "_load", wraps=pdf_wait._load) as load:
        result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=30)
    thread.join()
    assert result.state == PdfJob.State.READY
    assert load.call_count == 2  # on subscribing, then on the message


def test_a_lost_message_is_caught_by_the_slow_recheck(job, monkeypatch):
    monkeypatch.setattr(pdf_wait, "FALLBACK_RECHECK_S", 0.5)
    thread = _later(0.2, _mark_ready(job.pk, publish=False))
    with mock.patch.object(pdf_wait, "_load", wraps=pdf_wait._load) as load:
        result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=30)
    thread.join()
    assert result.state == PdfJob.State.READY
    assert load.call_count >= 2  # no message came: a re-check read it


def test_without_redis_it_polls_with_backoff(job, settings, clock):
    settings.REDIS_URL = ""
    load, calls = _loads_then(["pending", "pending", "pending", "ready"], job)
    with mock.patch.object(pdf_wait, "_load", load):
        result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=5)
    assert result.state == "ready"
    # Reads at 0, 0.1, 0.3 and 0.7 s: the delay doubles from 100 ms.
    assert clock.sleeps == [0.1, 0.2, 0.4]
    assert len(calls) == 4


def test_a_job_that_never_finishes_is_read_a_handful_of_times_without_redis(job, settings, clock):
    settings.REDIS_URL = ""
    load, calls = _loads_then(["pending"], job)
    with mock.patch.object(pdf_wait, "_load", load):
        result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=1.6)
    assert result.state == "pending"
    # 0.1, 0.2, 0.4, 0.8 s, then what is left of the 1.6 s: one read each.
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 0.1]
    assert len(calls) == 6
    assert clock.now == pytest.approx(1001.6)


def test_a_job_that_never_finishes_is_read_a_handful_of_times_with_redis(job):
    with mock.patch.object(pdf_wait, "_load", wraps=pdf_wait._load) as load:
        result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=1.6)
    assert result.state == PdfJob.State.PENDING
    # On subscribing, at the 1 s re-check, at the deadline: never a busy loop.
    assert 2 <= load.call_count <= 3, load.call_count


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


def test_a_failed_attempt_that_will_be_retried_publishes_retry(job, settings):
    """So that a waiter re-reads the row at once and stops waiting for a job
    that now backs off past its deadline (test_pdf_wait_bounds.py)."""
    listener = _listen(job, settings)
    try:
        with mock.patch("invoicing.pdf.render_invoice_pdf", side_effect=OSError("bad disk")):
            assert pdf_job_run(job_id=str(job.pk)).outcome == "retry"
        message = _next(listener, 2)
        assert message is not None and message["data"] == b"retry"
    finally:
        listener.close()


def test_an_unreachable_redis_is_harmless(job, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    signals.pdf_job_publish(job_id=job.pk, state="ready")
    assert "could not publish" in caplog.text
    thread = _later(0.15, _mark_ready(job.pk, publish=False))
    result = pdf_wait.pdf_job_wait(job_id=job.pk, timeout=30)  # falls back to polling
    thread.join()
    assert result.state == PdfJob.State.READY


def test_await_follows_a_version_made_while_waiting(job):
    invoice = job.invoice

    def regenerate_and_render():
        new = invoice_pdf_regenerate(invoice=invoice)
        assert pdf_job_run(job_id=str(new.pk)).outcome == "ready"

    thread = _later(0.2, regenerate_and_render)
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=5)
    thread.join()
    result = awaited.job
    assert awaited.reason == "settled"
    assert result.pk != job.pk and result.version == 2
    assert result.is_current and result.state == PdfJob.State.READY


def test_a_render_batch_publishes_the_end_of_each_job_in_one_round_trip(settings):
    from invoicing.services.pdf import pdf_jobs_drain

    organization, _ = make_organization()
    jobs = [
        PdfJob.objects.get(invoice=make_invoice(organization), is_current=True) for _ in range(3)
    ]
    listener = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    listener.subscribe(*(f"invoicing:pdf-job:{j.pk}" for j in jobs))
    for _ in jobs:
        assert _next(listener, 2, kind="subscribe") is not None
    real = signals._redis(settings.REDIS_URL)
    round_trips = []

    class Counting:
        # The shared client; each pipeline run and each bare publish counted.
        def pipeline(self, *args, **kwargs):
            pipe = real.pipeline(*args, **kwargs)
            execute = pipe.execute
            pipe.execute = lambda: round_trips.append("pipeline") or execute()
            return pipe

        def publish(self, *args):
            round_trips.append("publish")
            return real.publish(*args)

    try:
        with mock.patch.object(signals, "_redis", lambda url: Counting()):
            assert sorted(r.outcome for r in pdf_jobs_drain(job_ids=[])) == ["ready"] * 3
        messages = {}
        for _ in jobs:
            message = _next(listener, 2)
            assert message is not None
            messages[message["channel"].decode()] = message["data"]
    finally:
        listener.close()
    assert messages == {f"invoicing:pdf-job:{j.pk}": b"ready" for j in jobs}
    assert round_trips == ["pipeline"]
