"""Waiting a bounded time for a PDF job to finish, without holding a database
transaction and without polling the database in a tight loop.

With Redis configured, the worker publishes on a channel of the job once the
end of an attempt has committed (the ``pdf_job_finished`` receiver in
``invoicing/signals.py``), and a waiter subscribes to it. The message is only
a nudge: the row is the truth, so every wake-up re-reads it, and a slow
re-check covers a message that was missed (Redis restarted, publisher
failed). Without Redis (the embedded filesystem broker) the waiter polls the
row with a backoff.

A wait holds a web worker (gunicorn sync workers serve one request each), so
``invoice_pdf_await`` waits only when waiting can help and is affordable:

- not at all for a job that cannot finish before the deadline: one backing
  off after a failed attempt until after it, or one queued behind more
  renders than the time left allows (an estimate, one count query);
- only while holding one of a bounded number of waiting slots, at most
  ``LOTUS_PDF_WAIT_PER_ORGANIZATION`` per organization and
  ``LOTUS_PDF_WAIT_TOTAL`` in all, so that one tenant looping on unfinished
  PDFs cannot occupy every worker and starve the other tenants' requests.
  The slots are counted in Redis across every web process when it is
  configured (entries that expire, so a killed process cannot leak one),
  else, or while Redis fails, in each process's memory.

A request that does not wait answers at once as one whose wait ran out
(``retry_after_seconds`` says when to ask again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis
from django.conf import settings
from django.utils import timezone

from invoicing.models import Invoice, PdfJob

# A module import, one way only: ``pdf`` never imports this module (job ends
# reach waiters through ``invoicing.signals``).
from invoicing.services import pdf as pdf_jobs
from invoicing.signals import pdf_job_channel

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
# Retry-After for a job queued behind a long backlog follows the estimate of
# that backlog, up to this: the estimate is pessimistic on purpose (see
# LOTUS_PDF_WAIT_RENDER_SECONDS), so a client is not sent away for longer.
QUEUED_RETRY_AFTER_MAX_S = 60
# A waiting slot outlives the wait it guards by this much before Redis drops
# it: the wait itself ends at its deadline, and past it only the last read of
# the row and the release remain. A process killed while waiting holds its
# slot for at most the wait plus this margin.
SLOT_LEASE_MARGIN_S = 10


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One pool per process and URL; redis-py resets it after a fork. Short
    # timeouts: a slow or absent Redis must never hold a worker or a request.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _settled(job: PdfJob) -> bool:
    # A retired job (the invoice was regenerated meanwhile) never finishes:
    # stop waiting for it, the caller follows the current one.
    return job.state in (PdfJob.State.READY, PdfJob.State.FAILED) or not job.is_current


def _backing_off_past(job: PdfJob, deadline: float) -> bool:
    """Whether the job's next attempt is after ``deadline`` (this module's
    clock): it cannot finish before the wait ends, so waiting is useless."""
    if job.state != PdfJob.State.PENDING or job.available_at is None:
        return False
    remaining = deadline - time.monotonic()
    return job.available_at > timezone.now() + dt.timedelta(seconds=remaining)


def _over(job: PdfJob, deadline: float) -> bool:
    return _settled(job) or _backing_off_past(job, deadline)


def _load(job_id) -> PdfJob:
    return PdfJob.objects.get(pk=job_id)


def _wait_polling(job_id, deadline: float) -> PdfJob:
    job = _load(job_id)
    delay = POLL_FIRST_S
    while not _over(job, deadline):
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
        pubsub.subscribe(pdf_job_channel(job_id))
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
        while not _over(job, deadline):
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
    """The job, re-read once it is ready or failed (or retired, or backing off
    past the deadline), or when ``timeout`` seconds have passed, whichever
    comes first.

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


# ------------------------------------------------------------ waiting slots

# Both keys carry the same hash tag, so that the script below, which touches
# both, also runs on a Redis Cluster.
_SLOTS_ALL_KEY = "{invoicing:pdf-wait}:all"


def _slots_organization_key(organization_id) -> str:
    return f"{{invoicing:pdf-wait}}:org:{organization_id}"


# A sorted set per bound, of the slots held, each scored with when it expires
# on Redis's clock (the web hosts' clocks may disagree; Redis's is one).
# Expired slots (their process was killed) are dropped before counting.
# Returns 0 when the slot is taken, 1 when the organization's bound is full,
# 2 when the total is.
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
return 0
"""
_REFUSALS = {1: "busy_organization", 2: "busy_total"}


@functools.cache
def _slots_redis(url: str) -> tuple[redis.Redis, Callable]:
    # Tighter timeouts than the waiter's: the slot is asked for in every
    # waiting request, and a Redis that does not answer quickly is treated
    # as absent (the process-local bound applies).
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client, client.register_script(_ACQUIRE)


class _LocalSlots:
    """The bounds counted in this process: without Redis, or while it fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    def acquire(self, organization_id: str, per_organization: int, total: int) -> str:
        with self._lock:
            if self._held.get(organization_id, 0) >= per_organization:
                return "busy_organization"
            if sum(self._held.values()) >= total:
                return "busy_total"
            self._held[organization_id] = self._held.get(organization_id, 0) + 1
            return ""

    def release(self, organization_id: str) -> None:
        with self._lock:
            left = self._held.get(organization_id, 0) - 1
            if left > 0:
                self._held[organization_id] = left
            else:
                self._held.pop(organization_id, None)


_local_slots = _LocalSlots()


def _release_redis(url: str, organization_id: str, token: str) -> None:
    try:
        client, _ = _slots_redis(url)
        pipe = client.pipeline(transaction=False)
        pipe.zrem(_slots_organization_key(organization_id), token)
        pipe.zrem(_SLOTS_ALL_KEY, token)
        pipe.execute()
    except redis.RedisError:
        # Harmless: the slot expires with its lease.
        logger.warning("could not release a PDF waiting slot; it expires", exc_info=True)


def _acquire(organization_id: str, hold_s: float) -> tuple[str, Callable[[], None] | None]:
    """("", release) with a slot held, or (the full bound, None)."""
    per_organization = settings.LOTUS_PDF_WAIT_PER_ORGANIZATION
    total = settings.LOTUS_PDF_WAIT_TOTAL
    url = settings.REDIS_URL
    if url:
        token = uuid.uuid4().hex
        lease_ms = math.ceil((max(hold_s, 0) + SLOT_LEASE_MARGIN_S) * 1000)
        keys = [_slots_organization_key(organization_id), _SLOTS_ALL_KEY]
        try:
            _, acquire = _slots_redis(url)
            refused = int(acquire(keys=keys, args=[token, per_organization, total, lease_ms]))
        except redis.RedisError:
            # Never a 500 for a bound: count in this process until Redis is back.
            logger.warning("Redis unavailable for PDF waiting slots; bounding this process only",
                           exc_info=True)  # fmt: skip
        else:
            if refused:
                return _REFUSALS[refused], None
            return "", functools.partial(_release_redis, url, organization_id, token)
    refusal = _local_slots.acquire(organization_id, per_organization, total)
    if refusal:
        return refusal, None
    return "", functools.partial(_local_slots.release, organization_id)


@contextlib.contextmanager
def pdf_wait_slot(*, organization_id, hold_s: float) -> Iterator[str]:
    """Hold one of the waiting slots for the block: yields "" when one is
    held, else which bound is full ("busy_organization", "busy_total").
    The slot is given back however the block ends; ``hold_s`` is how long
    the block means to wait (the slot expires a margin after it)."""
    refusal, release = _acquire(str(organization_id), hold_s)
    try:
        yield refusal
    finally:
        if release is not None:
            release()


# ------------------------------------------------------------------- await


@dataclass(frozen=True)
class PdfAwaited:
    """What ``invoice_pdf_await`` ended with: the job, and why."""

    job: PdfJob
    # "settled" (ready, failed), "timeout" (waited the whole bound), or why
    # it did not wait: "backing_off", "queued", "busy_organization",
    # "busy_total".
    reason: str
    # Estimated seconds of renders queued ahead of the job ("queued" only).
    queued_s: float = 0.0


def _done(job: PdfJob) -> bool:
    return job.is_current and _settled(job)


def _queued_ahead_s(job: PdfJob, horizon_s: float) -> float:
    """Seconds of renders the job is queued behind, as the renderers would
    take them (oldest first, ``_claim``), counted up to what ``horizon_s``
    needs: one count query over at most that many rows."""
    per_job = settings.LOTUS_PDF_WAIT_RENDER_SECONDS
    renderers = max(settings.LOTUS_PDF_WAIT_RENDERERS, 1)
    if per_job <= 0:
        return 0.0
    enough = math.floor(horizon_s * renderers / per_job) + 1
    # The claim's own conditions (``pdf._claim``): what the workers would take.
    ahead = PdfJob.objects.filter(
        pdf_jobs._claimable(timezone.now()),
        is_current=True,
        attempts__lt=settings.PDF_MAX_ATTEMPTS,
        created_at__lt=job.created_at,
    ).order_by()
    return ahead.values("pk")[:enough].count() * per_job / renderers


def _follow(invoice: Invoice, job: PdfJob, deadline: float) -> PdfJob:
    while not _done(job) and not _backing_off_past(job, deadline):
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


def invoice_pdf_await(*, invoice: Invoice, timeout: float) -> PdfAwaited:
    """The invoice's current PDF job, asked for (the one shared job, see
    ``invoice_pdf_request``) and waited for at most ``timeout`` seconds, when
    waiting can help and a waiting slot is free (module docstring)."""
    deadline = time.monotonic() + max(timeout, 0)
    job = pdf_jobs.invoice_pdf_request(invoice=invoice)
    remaining = deadline - time.monotonic()
    if _done(job):
        return PdfAwaited(job, "settled")
    if remaining <= 0:
        return PdfAwaited(job, "timeout")
    if _backing_off_past(job, deadline):
        return PdfAwaited(job, "backing_off")
    if job.state == PdfJob.State.PENDING:
        # A job being rendered is past the queue; a pending one may not be.
        queued_s = _queued_ahead_s(job, max(remaining, QUEUED_RETRY_AFTER_MAX_S))
        if queued_s > remaining:
            return PdfAwaited(job, "queued", queued_s)
    with pdf_wait_slot(organization_id=invoice.organization_id, hold_s=remaining) as refusal:
        if refusal:
            return PdfAwaited(job, refusal)
        job = _follow(invoice, job, deadline)
    if _done(job):
        return PdfAwaited(job, "settled")
    # Time left means the wait stopped early: the job backs off past the deadline.
    return PdfAwaited(job, "backing_off" if deadline > time.monotonic() else "timeout")


def retry_after_seconds(awaited: PdfAwaited) -> int:
    """When to ask again for a job that is not ready yet: at its next attempt
    if it is backing off after a failure, after the estimated backlog if it
    is queued behind one, else after ``RETRY_AFTER_S``."""
    job = awaited.job
    if job.available_at is not None:
        wait = (job.available_at - timezone.now()).total_seconds()
        if wait > RETRY_AFTER_S:
            return math.ceil(wait)
    if awaited.queued_s > RETRY_AFTER_S:
        return min(math.ceil(awaited.queued_s), QUEUED_RETRY_AFTER_MAX_S)
    return RETRY_AFTER_S
