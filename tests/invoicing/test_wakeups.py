"""Wake-up messages (invoicing/dispatch.py): sent only while none is pending,
against the test run's real Redis; and the render task leaving nothing that
waited when it took its wake-up (services/pdf.py, ``pdf_jobs_drain``)."""

from __future__ import annotations

from unittest import mock

import pytest
import redis
from django.conf import settings
from django.test import TestCase

from invoicing import dispatch
from invoicing.dispatch import DELIVER_WEBHOOK_TASK, RENDER_PDF_TASK, wake_all, wakeup_taken
from invoicing.models import Invoice, PdfJob
from invoicing.services import pdf
from invoicing.services.invoices import invoice_finalize
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_mark_pending():
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [dispatch._wakeup_key(t) for t in dispatch.WAKEUP_TASKS]
    client.delete(*keys)
    yield client
    client.delete(*keys)


def test_a_wake_up_is_sent_only_while_none_is_pending(no_mark_pending):
    with mock.patch.object(dispatch, "send", return_value=True) as send:
        wake_all({RENDER_PDF_TASK: (["a"], 20)})
        wake_all({RENDER_PDF_TASK: (["b"], 20)})  # the first is not taken yet
        wake_all({DELIVER_WEBHOOK_TASK: (["d"], 100)})  # another task's mark
        wakeup_taken(RENDER_PDF_TASK)  # a worker took it
        wake_all({RENDER_PDF_TASK: (["c"], 20)})
    assert [c.args for c in send.call_args_list] == [
        (RENDER_PDF_TASK, ["a"]), (DELIVER_WEBHOOK_TASK, ["d"]), (RENDER_PDF_TASK, ["c"]),
    ]  # fmt: skip
    # The mark expires by itself: a message lost with its mark set delays the next
    # one by at most WAKEUP_PENDING_S.
    ttl = no_mark_pending.ttl(dispatch._wakeup_key(RENDER_PDF_TASK))
    assert 0 < ttl <= dispatch.WAKEUP_PENDING_S


def test_a_wake_up_that_could_not_be_sent_leaves_no_mark():
    with mock.patch.object(dispatch, "send", return_value=False) as send:
        wake_all({RENDER_PDF_TASK: (["a"], 20)})
        wake_all({RENDER_PDF_TASK: (["b"], 20)})
    assert send.call_count == 2


def test_a_batch_of_ids_is_sent_whole_once_marked():
    with mock.patch.object(dispatch, "send", return_value=True) as send:
        wake_all({RENDER_PDF_TASK: ([str(n) for n in range(45)], 20)})
    assert [len(c.args[1]) for c in send.call_args_list] == [20, 20, 5]


def test_without_redis_every_wake_up_is_sent(settings):
    settings.REDIS_URL = ""
    with mock.patch.object(dispatch, "send", return_value=True) as send:
        wake_all({RENDER_PDF_TASK: (["a"], 20)})
        wake_all({RENDER_PDF_TASK: (["b"], 20)})
    assert send.call_count == 2


def test_a_job_committed_while_a_wake_up_is_pending_is_rendered_by_it(organization):
    # Finalizing sets the mark and sends; the second finalization finds the first
    # wake-up still pending and sends none. The task of the first message takes its
    # wake-up (clearing the mark) and renders both.
    from workers.tasks import render_pdf

    drafts = [make_invoice(organization, status=Invoice.Status.DRAFT) for _ in range(2)]
    with mock.patch.object(dispatch, "send", return_value=True) as send:
        for draft in drafts:
            with TestCase.captureOnCommitCallbacks(execute=True):
                invoice_finalize(invoice=draft)
    renders = [c.args[1] for c in send.call_args_list if c.args[0] == RENDER_PDF_TASK]
    assert len(renders) == 1
    assert render_pdf(renders[0]) == {"ready": 2}
    assert set(PdfJob.objects.filter(invoice__in=drafts).values_list("state", flat=True)) == {
        "ready"
    }


def test_the_render_task_claims_until_a_claim_is_not_full(organization):
    from invoicing.dispatch import RENDER_BATCH_SIZE

    invoices = [make_invoice(organization) for _ in range(2 * RENDER_BATCH_SIZE + 5)]
    results = pdf.pdf_jobs_drain(job_ids=[])
    assert sorted(r.outcome for r in results) == ["ready"] * len(invoices)
    assert not PdfJob.objects.filter(state="pending").exists()


def test_a_render_task_out_of_budget_hands_the_rest_to_a_new_message(organization):
    from invoicing.dispatch import RENDER_BATCH_SIZE

    for _ in range(RENDER_BATCH_SIZE + 3):
        make_invoice(organization)
    with mock.patch.object(pdf, "send") as send:
        results = pdf.pdf_jobs_drain(job_ids=[], budget_s=0)
    assert len(results) == RENDER_BATCH_SIZE
    send.assert_called_once_with(RENDER_PDF_TASK, [])
    assert PdfJob.objects.filter(state="pending").count() == 3


def test_an_invoice_sets_both_marks_in_one_round_trip(organization, no_mark_pending):
    # Finalizing makes a render job and an invoice.created delivery (an endpoint
    # listens): both wake-ups leave with their marks set by one pipeline.
    from invoicing.models import WebhookEndpoint

    WebhookEndpoint.objects.create(organization=organization, webhook_url="https://example.com/h")
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    pipelines = []
    real = dispatch.quick_redis

    class Counting:
        # The shared client, its pipelines counted (the client itself is left alone).
        def __init__(self, client):
            self.client = client

        def pipeline(self, *args, **kwargs):
            pipelines.append(1)
            return self.client.pipeline(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.client, name)

    with (
        mock.patch.object(dispatch, "send", return_value=True) as send,
        mock.patch.object(dispatch, "quick_redis", lambda url: Counting(real(url))),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        invoice_finalize(invoice=draft)
    assert sorted(c.args[0] for c in send.call_args_list) == sorted(
        [RENDER_PDF_TASK, DELIVER_WEBHOOK_TASK]
    )
    assert pipelines == [1]
    assert no_mark_pending.exists(*[dispatch._wakeup_key(t) for t in dispatch.WAKEUP_TASKS]) == 2


def test_a_render_in_a_burst_waits_out_the_gather_window_before_taking_its_wake_up(
    monkeypatch, settings
):
    # The wait comes before the mark is cleared: invoices committed during it
    # find the mark set, send nothing, and are taken by the claim after it.
    from types import SimpleNamespace

    from workers import tasks

    settings.PDF_RENDER_GATHER_MS = 200
    clock, events, batches = [1000.0], [], []

    def sleep(seconds):
        events.append(("wait", round(seconds, 3)))
        clock[0] += seconds

    def drain(job_ids):
        # This claim took the next scripted number of jobs (one skipped too:
        # a named job another process took, which is not this claim's).
        events.append(("claim",))
        taken = [pdf.RunResult(str(n), "ready") for n in range(batches.pop(0))]
        return [*taken, pdf.RunResult("other", "skipped")]

    monkeypatch.setattr(tasks, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    monkeypatch.setattr(tasks, "_last_claim", float("-inf"))
    monkeypatch.setattr(tasks, "_recent_batch", 0.0)
    monkeypatch.setattr(tasks, "wakeup_taken", lambda name: events.append(("taken", name)))
    monkeypatch.setattr(pdf, "pdf_jobs_drain", drain)

    def woken(after_s: float, jobs: int) -> None:
        clock[0] += after_s
        batches.append(jobs)
        tasks.render_pdf([])

    taken, claim = ("taken", RENDER_PDF_TASK), ("claim",)
    # Invoices one after another, each claim taking one: no wait however close.
    for _ in range(3):
        woken(0.02, 1)
    assert events == [taken, claim] * 3
    # A burst: claims take more than one (the average, 0.875 jobs, goes to
    # 1.44, then 2.22), and once it is above 1.5 a claim 50 ms after the last
    # one waits the 150 ms left of the window first.
    events.clear()
    woken(0.05, 2)
    woken(0.05, 3)
    woken(0.05, 10)
    assert events == [taken, claim, taken, claim, ("wait", 0.15), taken, claim]
    # Idle for longer than the window: at once, even in a burst.
    events.clear()
    woken(0.5, 10)
    assert events == [taken, claim]
    # No window: at once, however recent the last claim.
    settings.PDF_RENDER_GATHER_MS = 0
    events.clear()
    woken(0.01, 10)
    assert events == [taken, claim]
