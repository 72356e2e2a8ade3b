"""Domain signals for observers (metrics, logs) that must not be wired into
the services themselves, and the one observer the domain needs itself:
telling requests that wait for a PDF (Lotus's pdf_url, ``services/pdf_wait``)
that its job has ended.

Why that observer lives here: ``services/pdf`` sends ``pdf_job_finished``
wherever jobs run (Celery workers, management commands, tests) and imports
this module to do so, so a receiver connected here is connected in every
process that finishes jobs. A receiver in ``pdf_wait`` would be connected
only where the web face happened to import it, and ``pdf`` importing
``pdf_wait`` to publish directly made an import cycle (``pdf_wait`` imports
``pdf`` to ask for jobs). This module imports neither: both import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging

import redis
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal, receiver

logger = logging.getLogger("invoicing.pdf")

# Sent after a PDF job is finished and committed.
# kwargs: job_id, invoice_id, organization_id, outcome ("ready" | "retry" |
# "failed"), render_ms (None unless rendered), size_bytes (None unless stored)
pdf_job_finished = Signal()

# Sent after each webhook delivery attempt is recorded.
# kwargs: delivery_id, event_type, endpoint_id, organization_id, outcome,
# status_code, duration_ms
webhook_attempted = Signal()

_PDF_JOB_CHANNEL_PREFIX = "invoicing:pdf-job:"


def pdf_job_channel(job_id) -> str:
    """The Redis pub/sub channel on which the end of a job's attempt is told."""
    return f"{_PDF_JOB_CHANNEL_PREFIX}{job_id}"


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One pool per process and URL; redis-py resets it after a fork. Short
    # timeouts: a slow or absent Redis must never hold a worker.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def pdf_job_publish(*, job_id, state: str) -> None:
    """Tell waiters that the job's attempt ended in ``state``. Never raises: a
    message that is not delivered only costs a waiter its next slow re-check."""
    pdf_jobs_publish([(job_id, state)])


def pdf_jobs_publish(ends: list[tuple[object, str]]) -> None:
    """``pdf_job_publish`` for each (job id, state), in one round trip."""
    url = settings.REDIS_URL
    if not url or not ends:
        return
    try:
        pipe = _redis(url).pipeline(transaction=False)
        for job_id, state in ends:
            pipe.publish(pdf_job_channel(job_id), state)
        pipe.execute()
    except Exception:  # any Redis or connection error; the waiters re-check the rows
        logger.warning(
            "could not publish the end of PDF jobs %s", [j for j, _ in ends], exc_info=True
        )


# The ends collected by ``publishing_together`` in this context, if any.
_together: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "pdf_job_ends", default=None
)


@contextlib.contextmanager
def publishing_together():
    """Publish the ends of the jobs finished (and committed) inside this block
    in one round trip as it ends: a render batch finishes its jobs together,
    and a round trip each was a tenth of a month-end's render worker."""
    ends: list[tuple[object, str]] = []
    token = _together.set(ends)
    try:
        yield
    finally:
        _together.reset(token)
        pdf_jobs_publish(ends)


@receiver(pdf_job_finished, dispatch_uid="invoicing.pdf_job_publish")
def _publish_job_end(sender, *, job_id, outcome, **_) -> None:
    # Every outcome, "retry" too: a waiter re-reads the row on the message and
    # stops waiting for a job that now backs off past its deadline. Published
    # once the state commits (at once when it already has), so a waiter woken
    # by it reads the new state and never one that is rolled back.
    together = _together.get()
    if together is not None and not transaction.get_connection().in_atomic_block:
        together.append((job_id, outcome))
        return
    transaction.on_commit(lambda: pdf_job_publish(job_id=job_id, state=outcome), robust=True)
