"""Waiting a bounded time for a PDF job to finish, without holding a database
transaction and without polling the database in a tight loop.

With Redis configured, the worker publishes on a channel of the job once the
job's ``ready`` or ``failed`` state has committed (``pdf_job_publish_on_commit``),
and a waiter subscribes to it. The message is only a nudge: the row is the
truth, so every wake-up re-reads it, and a slow re-check covers a message that
was missed (Redis restarted, publisher failed). Without Redis (the embedded
filesystem broker) the waiter polls the row with a backoff.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invoicing.models import Invoice, PdfJob

# A module import: ``pdf`` imports this module back to publish job ends.
from invoicing.services import pdf as pdf_jobs

logger = logging.getLogger("invoicing.pdf")

# With pub/sub, how often the row is re-read anyway, in case a message was
# lost: rare enough to cost nothing, frequent enough that a lost message
# delays the answer by at most this much.
FALLBACK_RECHECK_S = 1.0
# Without Redis: the first re-read after 100 ms (a small invoice renders in
# tens of milliseconds), doubling up to one read per second.
POLL_FIRST_S = 0.1
POLL_MAX_S = 1.0
# Retry-After when a job is still queued or rendering after the wait: renders
# take well under a second (about 2 s for 10,000 lines), so a job not done
# within the wait is queued behind others, and a few seconds is a polite pace.
RETRY_AFTER_S = 5

_CHANNEL_PREFIX = "invoicing:pdf-job:"


def _channel(job_id) -> str:
    return f"{_CHANNEL_PREFIX}{job_id}"


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One pool per process and URL; redis-py resets it after a fork. Short
    # timeouts: a slow or absent Redis must never hold a worker or a request.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def pdf_job_publish(*, job_id, state: str) -> None:
    """Tell waiters that the job reached ``state``. Never raises: a message
    that is not delivered only costs a waiter its next slow re-check."""
    url = settings.REDIS_URL
    if not url:
        return
    try:
        _redis(url).publish(_channel(job_id), state)
    except Exception:  # any Redis or connection error; the waiter re-checks the row
        logger.warning("could not publish the end of PDF job %s", job_id, exc_info=True)


def pdf_job_publish_on_commit(*, job_id, state: str) -> None:
    """Publish once the state change commits, so that a waiter woken by the
    message reads the new state (and never one that is rolled back)."""
    transaction.on_commit(lambda: pdf_job_publish(job_id=job_id, state=state), robust=True)


def _settled(job: PdfJob) -> bool:
    # A retired job (the invoice was regenerated meanwhile) never finishes:
    # stop waiting for it, the caller follows the current one.
    return job.state in (PdfJob.State.READY, PdfJob.State.FAILED) or not job.is_current


def _load(job_id) -> PdfJob:
    return PdfJob.objects.get(pk=job_id)


def _wait_polling(job_id, deadline: float) -> PdfJob:
    job = _load(job_id)
    delay = POLL_FIRST_S
    while not _settled(job):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, POLL_MAX_S)
        job = _load(job_id)
    return job


def _wait_subscribed(job_id, deadline: float) -> PdfJob:
    pubsub = _redis(settings.REDIS_URL).pubsub()
    try:
        pubsub.subscribe(_channel(job_id))
        # Read the subscription's confirmation before reading the row: from
        # then on a finish that the row does not show yet will be published to
        # us, since the worker publishes only after its commit.
        while True:
            remaining = deadline - time.monotonic()
            message = pubsub.get_message(timeout=max(min(remaining, FALLBACK_RECHECK_S), 0))
            if (message and message["type"] == "subscribe") or remaining <= 0:
                break
        job = _load(job_id)
        next_check = time.monotonic() + FALLBACK_RECHECK_S
        while not _settled(job):
            now = time.monotonic()
            if now >= deadline:
                break
            message = pubsub.get_message(timeout=min(deadline, next_check) - now)
            if message is not None or time.monotonic() >= min(deadline, next_check):
                job = _load(job_id)
                next_check = time.monotonic() + FALLBACK_RECHECK_S
        return job
    finally:
        pubsub.close()


def pdf_job_wait(*, job_id: uuid.UUID | str, timeout: float) -> PdfJob:
    """The job, re-read once it is ready or failed (or retired), or when
    ``timeout`` seconds have passed, whichever comes first.

    Call it outside any transaction: each read is its own autocommit query, so
    it sees the worker's commit and holds no snapshot or lock while waiting.
    """
    deadline = time.monotonic() + max(timeout, 0)
    if settings.REDIS_URL:
        try:
            return _wait_subscribed(job_id, deadline)
        except redis.RedisError:
            logger.warning("Redis unavailable while waiting for PDF job %s; polling", job_id,
                           exc_info=True)  # fmt: skip
    return _wait_polling(job_id, deadline)


def invoice_pdf_await(*, invoice: Invoice, timeout: float) -> PdfJob:
    """The invoice's current PDF job, asked for (the one shared job, see
    ``invoice_pdf_request``) and waited for at most ``timeout`` seconds."""
    deadline = time.monotonic() + max(timeout, 0)
    job = pdf_jobs.invoice_pdf_request(invoice=invoice)
    while not _settled(job) or not job.is_current:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if job.is_current:
            job = pdf_job_wait(job_id=job.pk, timeout=remaining)
        else:
            # Regenerated while we waited (the invoice was voided): follow the
            # new version for the rest of the time.
            job = pdf_jobs.invoice_pdf_request(invoice=invoice)
    return job


def retry_after_seconds(job: PdfJob) -> int:
    """When to ask again for a job that is not ready yet: at its next attempt
    if it is backing off after a failure, else after ``RETRY_AFTER_S``."""
    if job.available_at is not None:
        wait = (job.available_at - timezone.now()).total_seconds()
        if wait > RETRY_AFTER_S:
            return math.ceil(wait)
    return RETRY_AFTER_S
