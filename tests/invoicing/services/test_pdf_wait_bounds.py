"""What keeps Lotus's pdf_url waits from holding the web tier
(``invoicing/services/pdf_wait.py``): waiting slots bounded per organization
and in all (in Redis across processes, in memory without it or while it
fails), and answers at once for jobs that cannot finish within the wait.

Nothing here measures time: the wait reads ``pdf_wait.time`` (a fake clock
here, which moves only when the code under test sleeps or waits) and
``pdf_wait.timezone.now`` (frozen here)."""

import ast
import datetime as dt
import threading
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoicing.models import PdfJob
from invoicing.services import pdf, pdf_wait
from invoicing.signals import pdf_job_finished
from tests.factories import make_invoice, make_organization
from tests.invoicing.api.lotus.test_pdf_wait import FakeClock

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
SLOT_KEYS = "{invoicing:pdf-wait}*"


@pytest.fixture(autouse=True)
def bounds(settings, monkeypatch):
    """Bounds of the tests' own choosing, no slot held by an earlier test (in
    Redis or in this process), and the queue estimate out of the way unless a
    test asks for it."""
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 2
    settings.LOTUS_PDF_WAIT_TOTAL = 3
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 0
    monkeypatch.setattr(pdf_wait, "_local_slots", pdf_wait._LocalSlots())
    client = redis.Redis.from_url(settings.REDIS_URL)
    _clear(client)
    yield settings
    _clear(client)
    client.close()


def _clear(client) -> None:
    keys = list(client.scan_iter(SLOT_KEYS))
    if keys:
        client.delete(*keys)


@pytest.fixture
def slots_redis(settings):
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(pdf_wait, "time", fake)
    monkeypatch.setattr(pdf_wait, "timezone", SimpleNamespace(now=lambda: NOW))
    return fake


@pytest.fixture
def waits(clock):
    """``pdf_job_wait`` replaced by one that waits its whole timeout on the
    fake clock (the real one would block on a Redis subscription, which the
    fake clock cannot move) and reports the job unchanged."""

    def wait(*, job_id, timeout):
        clock.sleep(timeout)
        return PdfJob.objects.get(pk=job_id)

    with mock.patch.object(pdf_wait, "pdf_job_wait", side_effect=wait) as fake:
        yield fake


def _org() -> str:
    return str(uuid.uuid4())


def _held(stack: ExitStack, organization_id) -> str:
    """Take a slot for the rest of ``stack``: "" or the full bound."""
    slot = pdf_wait.pdf_wait_slot(organization_id=organization_id, hold_s=10)
    return stack.enter_context(slot)


# ------------------------------------------------------------------ slots


@pytest.mark.parametrize("redis_url", ["configured", ""])
def test_an_organization_holds_at_most_its_bound(settings, redis_url):
    if not redis_url:
        settings.REDIS_URL = ""
    a, b = _org(), _org()
    with ExitStack() as stack:
        assert [_held(stack, a), _held(stack, a)] == ["", ""]
        assert _held(stack, a) == "busy_organization"
        # Another organization is not held back by the first one's bound.
        assert _held(stack, b) == ""


@pytest.mark.parametrize("redis_url", ["configured", ""])
def test_all_organizations_together_hold_at_most_the_total(settings, redis_url):
    if not redis_url:
        settings.REDIS_URL = ""
    with ExitStack() as stack:
        assert [_held(stack, o) for o in (_org(), _org(), _org())] == ["", "", ""]
        assert _held(stack, _org()) == "busy_total"


def test_slots_are_counted_in_redis_for_every_process(slots_redis):
    a = _org()
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as refusal:
        assert refusal == ""
        # What another web process would count before taking a slot.
        assert slots_redis.zcard(pdf_wait._slots_organization_key(a)) == 1
        assert slots_redis.zcard(pdf_wait._SLOTS_ALL_KEY) == 1
    assert slots_redis.zcard(pdf_wait._slots_organization_key(a)) == 0
    assert slots_redis.zcard(pdf_wait._SLOTS_ALL_KEY) == 0


@pytest.mark.parametrize("redis_url", ["configured", ""])
def test_a_slot_is_given_back_when_the_block_raises(settings, redis_url):
    if not redis_url:
        settings.REDIS_URL = ""
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 1
    a = _org()
    with pytest.raises(RuntimeError), pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10):
        raise RuntimeError("the wait broke")
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as refusal:
        assert refusal == ""


def test_a_slot_expires_with_its_lease(slots_redis):
    """A process killed while waiting never gives its slot back: the slot's
    score is when it expires on Redis's clock, and expired ones are dropped
    before counting."""
    a = _org()
    org_key = pdf_wait._slots_organization_key(a)
    seconds, micros = slots_redis.time()
    before_ms = seconds * 1000 + micros // 1000
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=7) as refusal:
        seconds, micros = slots_redis.time()
        after_ms = seconds * 1000 + micros // 1000
        assert refusal == ""
        [(_, expires)] = slots_redis.zrange(org_key, 0, -1, withscores=True)
        lease_ms = (7 + pdf_wait.SLOT_LEASE_MARGIN_S) * 1000
        assert before_ms + lease_ms <= expires <= after_ms + lease_ms
        # The keys go away by themselves once no slot can be left in them.
        assert 0 < slots_redis.pttl(org_key) <= lease_ms


def test_expired_slots_are_reclaimed(settings, slots_redis):
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 2
    settings.LOTUS_PDF_WAIT_TOTAL = 2
    a = _org()
    seconds, _ = slots_redis.time()
    past_ms = (seconds - 1) * 1000
    # Two slots of killed processes fill both bounds, but their leases ran out.
    for key in (pdf_wait._slots_organization_key(a), pdf_wait._SLOTS_ALL_KEY):
        slots_redis.zadd(key, {"killed-1": past_ms, "killed-2": past_ms})
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as refusal:
        assert refusal == ""
        members = slots_redis.zrange(pdf_wait._SLOTS_ALL_KEY, 0, -1)
        assert len(members) == 1 and b"killed-1" not in members


def test_live_slots_of_other_processes_are_not_reclaimed(settings, slots_redis):
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 1
    a = _org()
    seconds, _ = slots_redis.time()
    slots_redis.zadd(pdf_wait._slots_organization_key(a), {"alive": (seconds + 60) * 1000})
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as refusal:
        assert refusal == "busy_organization"


def test_with_redis_down_the_bound_is_counted_in_the_process(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 1
    a = _org()
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as first:
        with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as second:
            assert (first, second) == ("", "busy_organization")
    assert "bounding this process only" in caplog.text
    # Given back to the process's count as well.
    with pdf_wait.pdf_wait_slot(organization_id=a, hold_s=10) as again:
        assert again == ""


def test_a_bound_of_zero_turns_waiting_off(settings):
    settings.LOTUS_PDF_WAIT_TOTAL = 0
    with pdf_wait.pdf_wait_slot(organization_id=_org(), hold_s=10) as refusal:
        assert refusal == "busy_total"


# ------------------------------------------------------ invoice_pdf_await


@pytest.fixture
def invoice():
    organization, _ = make_organization()
    return make_invoice(organization)


def test_a_pending_job_with_a_free_slot_is_waited_for(invoice, clock, waits):
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.reason == "timeout" and clock.now == pytest.approx(1010.0)
    assert waits.call_count == 1


def test_no_free_slot_answers_at_once(invoice, clock, waits):
    with ExitStack() as stack:
        _held(stack, invoice.organization_id)
        _held(stack, invoice.organization_id)
        awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.reason == "busy_organization"
    assert clock.now == 1000.0 and not waits.called
    assert awaited.job.state == PdfJob.State.PENDING  # asked for all the same
    assert pdf_wait.retry_after_seconds(awaited) == pdf_wait.RETRY_AFTER_S


def test_the_slot_is_held_during_the_wait_and_given_back_after(invoice, clock, slots_redis):
    org_key = pdf_wait._slots_organization_key(invoice.organization_id)
    seen = []

    def wait(*, job_id, timeout):
        seen.append(slots_redis.zcard(org_key))
        clock.sleep(timeout)
        return PdfJob.objects.get(pk=job_id)

    with mock.patch.object(pdf_wait, "pdf_job_wait", side_effect=wait):
        pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert seen == [1] and slots_redis.zcard(org_key) == 0


def test_the_slot_is_given_back_when_the_wait_raises(invoice, settings, clock, slots_redis):
    settings.LOTUS_PDF_WAIT_PER_ORGANIZATION = 1
    with (
        mock.patch.object(pdf_wait, "pdf_job_wait", side_effect=redis.ConnectionError("gone")),
        pytest.raises(redis.ConnectionError),
    ):
        pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert slots_redis.zcard(pdf_wait._slots_organization_key(invoice.organization_id)) == 0
    with pdf_wait.pdf_wait_slot(organization_id=invoice.organization_id, hold_s=1) as refusal:
        assert refusal == ""


def test_a_ready_job_needs_no_slot(invoice, settings, clock, waits):
    settings.LOTUS_PDF_WAIT_TOTAL = 0
    pdf.pdf_job_run(job_id=str(PdfJob.objects.get(invoice=invoice).pk))
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.reason == "settled" and awaited.job.state == PdfJob.State.READY
    assert not waits.called


def test_a_job_backing_off_past_the_deadline_answers_at_once(invoice, clock, waits):
    PdfJob.objects.filter(invoice=invoice).update(
        attempts=1, available_at=NOW + dt.timedelta(seconds=60)
    )
    with mock.patch.object(pdf_wait, "pdf_wait_slot", wraps=pdf_wait.pdf_wait_slot) as slot:
        awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.reason == "backing_off"
    assert clock.now == 1000.0 and not waits.called
    # Not even a slot taken and given back: nothing to wait for.
    assert not slot.called
    # Ask again at its next attempt.
    assert pdf_wait.retry_after_seconds(awaited) == 60


def test_a_job_backing_off_until_within_the_deadline_is_waited_for(invoice, clock, waits):
    PdfJob.objects.filter(invoice=invoice).update(
        attempts=1, available_at=NOW + dt.timedelta(seconds=3)
    )
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.reason == "timeout" and waits.call_count == 1


def test_a_job_that_starts_backing_off_while_waited_for_ends_the_wait(
    invoice, settings, clock, monkeypatch
):
    settings.REDIS_URL = ""  # the polling path, on the fake clock
    job = PdfJob.objects.get(invoice=invoice)
    reads = []

    def load(job_id):
        row = PdfJob.objects.get(pk=job_id)
        if len(reads) >= 2:  # its attempt failed between the 2nd and 3rd read
            row.attempts, row.available_at = 1, NOW + dt.timedelta(seconds=30)
        reads.append(clock.now)
        return row

    monkeypatch.setattr(pdf_wait, "_load", load)
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert awaited.job.pk == job.pk
    assert awaited.reason == "backing_off"
    # Reads at 0, 0.1 and 0.3 s, then no more: not the whole 10 s.
    assert reads == pytest.approx([1000.0, 1000.1, 1000.3])
    assert pdf_wait.retry_after_seconds(awaited) == 30


@pytest.mark.django_db(transaction=True)
def test_the_retry_of_a_failed_attempt_wakes_the_waiter(invoice, monkeypatch):
    """With Redis, a failed attempt that backs off past the deadline is
    published like a finish (``pdf_job_finished`` with outcome "retry"): the
    waiter re-reads the row at once instead of at its slow re-check, which is
    later than the whole wait here."""
    monkeypatch.setattr(pdf_wait, "FALLBACK_RECHECK_S", 60)
    job = PdfJob.objects.get(invoice=invoice)
    subscribed = threading.Event()
    real_load = pdf_wait._load

    def load(job_id):
        row = real_load(job_id)
        # The first read follows the subscription: from now on the attempt's
        # end can only reach the waiter as a message.
        subscribed.set()
        return row

    def fail_attempt():
        assert subscribed.wait(10)
        future = PdfJob.objects.filter(pk=job.pk)
        future.update(attempts=1, available_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        pdf_job_finished.send(
            sender=PdfJob, job_id=str(job.pk), invoice_id=job.invoice_id,
            organization_id=job.organization_id, outcome="retry",
        )  # fmt: skip
        connection.close()

    monkeypatch.setattr(pdf_wait, "_load", load)
    thread = threading.Thread(target=fail_attempt)
    thread.start()
    try:
        awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=30)
    finally:
        thread.join()
    # Had the message not woken it, the wait would have run out ("timeout").
    assert awaited.reason == "backing_off"


def _queue(organization, n: int, *, created_before: dt.datetime) -> list[PdfJob]:
    jobs = []
    for i in range(n):
        job = PdfJob.objects.get(invoice=make_invoice(organization))
        PdfJob.objects.filter(pk=job.pk).update(
            created_at=created_before - dt.timedelta(seconds=n - i)
        )
        jobs.append(job)
    return jobs


def test_a_job_queued_behind_more_than_the_wait_answers_at_once(invoice, settings, clock, waits):
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 1.0
    settings.LOTUS_PDF_WAIT_RENDERERS = 2
    mine = PdfJob.objects.get(invoice=invoice)
    organization = invoice.organization
    queued = _queue(organization, 6, created_before=mine.created_at)
    # Not ahead of it: done, backing off, out of attempts, retired, newer.
    done, backing_off, exhausted, retired = _queue(organization, 4,
                                                   created_before=mine.created_at)  # fmt: skip
    PdfJob.objects.filter(pk=done.pk).update(state=PdfJob.State.READY)
    PdfJob.objects.filter(pk=backing_off.pk).update(available_at=NOW + dt.timedelta(hours=1))
    PdfJob.objects.filter(pk=exhausted.pk).update(attempts=settings.PDF_MAX_ATTEMPTS)
    PdfJob.objects.filter(pk=retired.pk).update(is_current=False)
    make_invoice(organization)

    # 6 jobs x 1 s over 2 renderers: 3 s, which a 3-second wait still allows.
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=3)
    assert awaited.reason == "timeout" and waits.call_count == 1

    # One more ahead of it; an abandoned render still counts (it is claimable:
    # were it not, the count would stay 6 and the request would wait).
    PdfJob.objects.filter(pk=queued[0].pk).update(
        state=PdfJob.State.RENDERING, lease_expires_at=NOW - dt.timedelta(seconds=1)
    )
    PdfJob.objects.filter(pk=done.pk).update(state=PdfJob.State.PENDING)
    started = clock.now
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=3)
    assert awaited.reason == "queued" and awaited.queued_s == 3.5
    assert clock.now == started and waits.call_count == 1
    assert pdf_wait.retry_after_seconds(awaited) == pdf_wait.RETRY_AFTER_S


def test_retry_after_a_long_queue_follows_it_up_to_a_cap(invoice, settings, clock, waits):
    settings.LOTUS_PDF_WAIT_RENDERERS = 1
    mine = PdfJob.objects.get(invoice=invoice)
    _queue(invoice.organization, 3, created_before=mine.created_at)
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 7.0
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert (awaited.reason, pdf_wait.retry_after_seconds(awaited)) == ("queued", 21)
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 100.0
    awaited = pdf_wait.invoice_pdf_await(invoice=invoice, timeout=10)
    assert pdf_wait.retry_after_seconds(awaited) == pdf_wait.QUEUED_RETRY_AFTER_MAX_S
    assert not waits.called


def test_the_queue_estimate_is_one_query_over_a_bounded_number_of_rows(invoice, settings):
    settings.LOTUS_PDF_WAIT_RENDER_SECONDS = 1.0
    settings.LOTUS_PDF_WAIT_RENDERERS = 1
    mine = PdfJob.objects.get(invoice=invoice)
    _queue(invoice.organization, 5, created_before=mine.created_at)
    with CaptureQueriesContext(connection) as queries:
        # Counting stops at the first row past the horizon (2 s: 3 rows).
        assert pdf_wait._queued_ahead_s(mine, 2.0) == 3.0
    assert len(queries) == 1
    assert "LIMIT 3" in queries[0]["sql"]


# ------------------------------------------------------------- import cycle


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_pdf_and_the_signals_never_import_the_waiter():
    """``pdf_wait`` imports ``pdf`` (to ask for jobs) and ``signals``; neither
    imports it back, at module level or inside a function."""
    root = Path(pdf.__file__).resolve().parents[1]
    for module in (root / "services" / "pdf.py", root / "signals.py"):
        assert "invoicing.services.pdf_wait" not in _imported_modules(module), module
