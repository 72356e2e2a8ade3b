"""Nudging the worker fleet. Messages are sent by task *name*, so the domain
never imports the workers (dependencies point workers -> invoicing).

The database row is the truth and a message only a nudge: when the broker is
down, sending fails fast, is logged, and the periodic sweep sends it later.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

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
        _join_batch(_WebhookBatch, args[0])
        return
    transaction.on_commit(lambda: send(task_name, *args, countdown=countdown))


# Jobs one render task may take at once: its own plus other waiting ones, so
# that a bulk shares one claim, one load and one finishing transaction (most
# of a one-page invoice's cost) while still spreading over every process.
RENDER_BATCH_SIZE = 20
# Delivery ids one webhook wake-up names.
WEBHOOK_BATCH_SIZE = 100


class _Batch:
    """One on-commit callback carrying every id requested in the same
    transaction, sent as messages of ``size`` ids."""

    task_name = ""
    size = 1

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self) -> None:
        for start in range(0, len(self.ids), self.size):
            send(self.task_name, self.ids[start : start + self.size])


class _RenderBatch(_Batch):
    task_name = RENDER_PDF_TASK
    size = RENDER_BATCH_SIZE


class _WebhookBatch(_Batch):
    task_name = DELIVER_WEBHOOK_TASK
    size = WEBHOOK_BATCH_SIZE


def render_on_commit(job_id: str) -> None:
    """Ask for ``job_id`` to be rendered once the transaction commits. Ids
    requested in one transaction travel together: finalizing 5,000 invoices in
    one transaction sends 250 messages, not 5,000."""
    _join_batch(_RenderBatch, job_id)


def _join_batch(kind: type[_Batch], item: str) -> None:
    """Add ``item`` to the batch of ``kind`` already registered in this
    transaction, or register one.

    Joining a batch registered earlier in the transaction is always safe: a
    rollback that discards that batch (one of its savepoints still open) also
    discards this item, and an item rolled back while the batch survives is
    just an id with no row, which the worker's claim ignores.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Django keeps pending callbacks as (savepoint ids, callback, robust).
        for entry in getattr(connection, "run_on_commit", ()):
            if len(entry) >= 2 and isinstance(entry[1], kind):
                entry[1].ids.append(item)
                return
    batch = kind()
    batch.ids.append(item)
    transaction.on_commit(batch)
