"""Nudging the worker fleet. Messages are sent by task *name*, so the domain
never imports the workers (dependencies point workers -> invoicing).

The database row is the truth and a message only a nudge: when the broker is
down, sending fails fast, is logged, and the periodic sweep sends it later.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction

from invoicing.quick_redis import quick_redis

logger = logging.getLogger("invoicing.dispatch")

RENDER_PDF_TASK = "invoicing.pdf.render"
DELIVER_WEBHOOK_TASK = "invoicing.webhooks.deliver"


def send(task_name: str, *args, countdown: float | None = None) -> bool:
    try:
        current_app.send_task(task_name, args=list(args), countdown=countdown)
        return True
    except Exception:  # any broker or connection error: the sweep retries
        logger.warning("could not enqueue %s%s; the sweep will retry", task_name, args,
                       exc_info=True)  # fmt: skip
        return False


def send_on_commit(task_name: str, *args, countdown: float | None = None) -> None:
    """Send once the current transaction commits, so the worker never looks
    for a row that is not visible yet (or was rolled back).

    Webhook deliveries announced without a countdown travel together: every
    delivery made in one transaction is announced by one message per
    WEBHOOK_BATCH_SIZE ids. A message only wakes a webhook worker, which claims
    every due delivery it may, so one per delivery would be pure overhead.
    """
    if task_name == DELIVER_WEBHOOK_TASK and countdown is None and len(args) == 1:
        _join_batch(DELIVER_WEBHOOK_TASK, args[0])
        return
    transaction.on_commit(lambda: send(task_name, *args, countdown=countdown))


# Jobs one render task may take at once: its own plus other waiting ones, so
# that a bulk shares one claim, one load and one finishing transaction (most
# of a one-page invoice's cost) while still spreading over every process.
RENDER_BATCH_SIZE = 20
# Delivery ids one webhook wake-up names.
WEBHOOK_BATCH_SIZE = 100


# A render or delivery message is a wake-up: the worker that takes it claims
# whatever is waiting, not the ids it names. So while one sent is still
# waiting to be taken, another adds nothing: at month-end every invoice made
# two (its render, its invoice.created) and its PDF a third (invoice.generated),
# each a Celery publish in the web process and a task run in a worker that
# found its work already claimed. A change sends its wake-up only if it sets
# the task's pending mark (SET NX); the task clears the mark before it claims
# (``wakeup_taken``), so a change committed before that is claimed by it, and
# one committed after sends its own. The mark expires after WAKEUP_PENDING_S,
# which bounds how long a message lost or purged with its mark set delays the
# next one (the sweeps recover its work anyway). Without Redis (the embedded
# broker) every wake-up is sent.
WAKEUP_PENDING_S = 10
WAKEUP_TASKS = (RENDER_PDF_TASK, DELIVER_WEBHOOK_TASK)


def _wakeup_key(task_name: str) -> str:
    return f"wakeup-pending:{task_name}"


def wake_all(batches: dict[str, tuple[list[str], int]]) -> None:
    """Send each task's wake-ups (task name: ids, ids per message) unless one
    is pending, the marks of all of them set in one Redis round trip: a
    transaction that makes an invoice wakes the render task and the webhook
    task, which were two round trips of each create."""
    url = settings.REDIS_URL
    marked = list(batches)
    if url:
        try:
            pipe = quick_redis(url).pipeline(transaction=False)
            for task_name in batches:
                pipe.set(_wakeup_key(task_name), 1, nx=True, ex=WAKEUP_PENDING_S)
            marked = [
                name for name, was_set in zip(batches, pipe.execute(), strict=True) if was_set
            ]
        except Exception:  # any Redis error or a slow Redis: send, as without a mark
            logger.warning("wake-up mark unavailable; sending", exc_info=True)
    for task_name in marked:
        ids, size = batches[task_name]
        sent = True
        for start in range(0, len(ids), size):
            sent = send(task_name, ids[start : start + size]) and sent
        if url and not sent:
            # Not sent: the next change must try again, not wait for the mark to expire.
            wakeup_taken(task_name)


def wakeup_taken(task_name: str) -> None:
    """A worker took a wake-up of ``task_name`` and is about to claim: the next
    change must send its own. Called before the claim, never after."""
    url = settings.REDIS_URL
    if not url:
        return
    try:
        quick_redis(url).delete(_wakeup_key(task_name))
    except Exception:  # the mark then expires by itself
        logger.warning("could not clear the wake-up mark of %s", task_name, exc_info=True)


# Ids per message of each task.
_BATCH_SIZES = {RENDER_PDF_TASK: RENDER_BATCH_SIZE, DELIVER_WEBHOOK_TASK: WEBHOOK_BATCH_SIZE}


class _Batches:
    """One on-commit callback carrying every id requested in the same
    transaction, by task, sent as messages of each task's size (``wake_all``)."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}

    def __call__(self) -> None:
        wake_all({name: (ids, _BATCH_SIZES[name]) for name, ids in self.ids.items()})


def render_on_commit(job_id: str) -> None:
    """Ask for ``job_id`` to be rendered once the transaction commits. Ids
    requested in one transaction travel together: finalizing 5,000 invoices in
    one transaction sends 250 messages, not 5,000."""
    _join_batch(RENDER_PDF_TASK, job_id)


def _join_batch(task_name: str, item: str) -> None:
    """Add ``item`` to the ids of ``task_name`` in the batches already
    registered in this transaction, or register them.

    Joining batches registered earlier in the transaction is always safe: a
    rollback that discards them (one of its savepoints still open) also
    discards this item, and an item rolled back while the batches survive is
    just an id with no row, which the worker's claim ignores.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Django keeps pending callbacks as (savepoint ids, callback, robust).
        for entry in getattr(connection, "run_on_commit", ()):
            if len(entry) >= 2 and isinstance(entry[1], _Batches):
                entry[1].ids.setdefault(task_name, []).append(item)
                return
    batches = _Batches()
    batches.ids[task_name] = [item]
    transaction.on_commit(batches)
