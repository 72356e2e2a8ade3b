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
    for a row that is not visible yet (or was rolled back)."""
    transaction.on_commit(lambda: send(task_name, *args, countdown=countdown))
