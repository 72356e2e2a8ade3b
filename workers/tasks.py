"""Celery tasks: thin adapters that take ids, call one service, and return
quietly when the row is gone. Names are explicit and stable: they are the
contract between web processes and workers of different versions."""

from __future__ import annotations

import logging
import signal
import time

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from invoicing.dispatch import DELIVER_WEBHOOK_TASK, RENDER_PDF_TASK, wakeup_taken
from invoicing.services import pdf, webhooks

logger = logging.getLogger("workers")


@worker_process_init.connect
def _init_pool_process(**_):
    # Process managers stop a worker by sending SIGTERM to every process of its
    # group or cgroup (honcho, Heroku, systemd's default KillMode), not only to
    # the main process. A pool process killed by it mid-task leaves its job
    # claimed until the lease runs out and renders or delivers it twice. The
    # main process alone decides: its warm shutdown lets running tasks finish
    # and then stops the pool; a hard time limit and a manager's final SIGKILL
    # still end a pool process. (Celery ignores SIGINT here for the same reason.)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Font registration costs ~40 ms on first use, and the CJK fonts ~90 ms
    # more (and ~35 MB) for the first Chinese or Japanese invoice: pay it at
    # process start for the locales this fleet serves, not inside a job.
    from django.conf import settings

    from invoicing.pdf import warm_up

    warm_up(tuple(settings.PDF_WARM_LOCALES))


# When this process last started to claim renders (time.monotonic()), and the
# jobs its recent claims took: a moving average, each claim weighing half.
_last_claim = float("-inf")
_recent_batch = 0.0
# Above this many jobs a claim on average, wake-ups come faster than renders
# finish: the process is in a burst, and waiting gathers more into a claim.
GATHER_ABOVE = 1.5


def _gather() -> None:
    """In a burst, wait out the rest of PDF_RENDER_GATHER_MS since this
    process's last claim. The wake-up mark is still set meanwhile, so invoices
    committed now send no message of their own: the claim after the wait takes
    them all. Invoices requested one after another (each claim taking one)
    wait for nothing, nor does a process idle for longer than the window."""
    global _last_claim
    wait = _last_claim + settings.PDF_RENDER_GATHER_MS / 1000 - time.monotonic()
    if wait > 0 and _recent_batch > GATHER_ABOVE:
        time.sleep(wait)
    _last_claim = time.monotonic()


def _claimed(jobs: int) -> None:
    global _recent_batch
    _recent_batch = (_recent_batch + jobs) / 2


@shared_task(name=RENDER_PDF_TASK, acks_late=True, reject_on_worker_lost=True)
def render_pdf(job_ids: list[str] | str) -> dict:
    # A bare id is what messages carried before jobs were batched.
    ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
    _gather()
    # Before claiming: a change committed from here on sends a wake-up of its own.
    wakeup_taken(RENDER_PDF_TASK)
    outcomes: dict[str, int] = {}
    for result in pdf.pdf_jobs_drain(job_ids=ids):
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    # Named jobs another process took are skipped: not this claim's.
    _claimed(sum(n for outcome, n in outcomes.items() if outcome != "skipped"))
    return outcomes


@shared_task(name="invoicing.pdf.sweep", acks_late=False, expires=60)
def sweep_pdf_jobs() -> dict:
    result = pdf.pdf_jobs_sweep()
    if result.requeued or result.failed:
        logger.info("PDF sweep: %s re-enqueued, %s failed", result.requeued, result.failed)
    return {"requeued": result.requeued, "failed": result.failed}


def _pump_time_limit() -> float:
    # A pump claims for WEBHOOK_PUMP_SECONDS, then waits for what it claimed (one attempt
    # deadline), claiming meanwhile only for healthy endpoints whose attempts may take one
    # more deadline: with room to spare, it never meets the time limit, which would abandon
    # its attempts in flight to their leases.
    return settings.WEBHOOK_PUMP_SECONDS + 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60


@shared_task(
    name=DELIVER_WEBHOOK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=_pump_time_limit(),
    time_limit=_pump_time_limit() + 30,
)
def deliver_webhooks(delivery_ids: list[str] | str | None = None) -> dict:
    # A message is a wake-up: the pump claims whatever is due by the scheduling rule, the
    # deliveries it names included (a bare id is what messages carried before batching).
    # Before claiming: a change committed from here on sends a wake-up of its own.
    wakeup_taken(DELIVER_WEBHOOK_TASK)
    report = webhooks.webhook_deliveries_pump()
    return {"attempts": report.attempts, "batches": report.batches, "stopped": report.stopped}


@shared_task(name="invoicing.webhooks.sweep", acks_late=False, expires=10)
def sweep_webhook_deliveries() -> dict:
    result = webhooks.webhook_deliveries_sweep()
    if result.recovered or result.failed:
        logger.info("webhook sweep: %s recovered, %s failed", result.recovered, result.failed)
    return {"nudged": result.nudged, "recovered": result.recovered, "failed": result.failed}
