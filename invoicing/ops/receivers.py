"""Observers of the domain signals: a metric sample and one structured log
line per finished PDF job attempt and per webhook delivery attempt. They run
in whichever process sent the signal (usually a Celery worker)."""

from __future__ import annotations

import functools
import logging

from django.dispatch import receiver

from invoicing.ops import metrics
from invoicing.signals import pdf_job_finished, webhook_attempted

job_logger = logging.getLogger("invoicing.jobs")
attempt_logger = logging.getLogger("invoicing.webhooks.attempts")


def _id(value) -> str | None:
    return None if value is None else str(value)


def _never_raise(fn):
    # Signals are sent with send(), so an exception here would surface in the
    # service that sent it: an observer must not break what it observes.
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception:
            logging.getLogger("invoicing.ops").exception("observer %s failed", fn.__name__)

    return wrapper


def _invoice_of_delivery(delivery_id) -> str | None:
    from invoicing.models import WebhookEvent

    object_id = (
        WebhookEvent.objects.filter(deliveries__id=delivery_id, object_type="invoice")
        .values_list("object_id", flat=True)
        .first()
    )
    return _id(object_id)


@receiver(pdf_job_finished, dispatch_uid="ops.pdf_job_finished")
@_never_raise
def on_pdf_job_finished(sender, *, job_id, invoice_id, organization_id, outcome,
                        render_ms=None, size_bytes=None, **_):  # fmt: skip
    metrics.PDF_JOBS_FINISHED.labels(outcome).inc()
    if render_ms is not None:
        metrics.PDF_RENDER_SECONDS.observe(render_ms / 1000)
    if size_bytes is not None:
        metrics.PDF_SIZE_BYTES.observe(size_bytes)
    level = logging.WARNING if outcome == "failed" else logging.INFO
    job_logger.log(
        level,
        "PDF job %s: %s",
        job_id,
        outcome,
        extra={
            "job_id": _id(job_id),
            "invoice_id": _id(invoice_id),
            "organization_id": _id(organization_id),
            "outcome": outcome,
            "render_ms": render_ms,
            "size_bytes": size_bytes,
        },
    )


@receiver(webhook_attempted, dispatch_uid="ops.webhook_attempted")
@_never_raise
def on_webhook_attempted(sender, *, delivery_id, event_type, endpoint_id, organization_id,
                         outcome, status_code=None, duration_ms=None, invoice_id=None,
                         **_):  # fmt: skip
    metrics.WEBHOOK_ATTEMPTS.labels(outcome, event_type).inc()
    if duration_ms is not None:
        metrics.WEBHOOK_ATTEMPT_SECONDS.labels(outcome).observe(duration_ms / 1000)
    # The endpoint's URL is left out on purpose: receivers put secrets in
    # query strings; the endpoint id finds it in the admin.
    attempt_logger.info(
        "webhook delivery %s: %s",
        delivery_id,
        outcome,
        extra={
            "delivery_id": _id(delivery_id),
            "invoice_id": _id(invoice_id) or _invoice_of_delivery(delivery_id),
            "endpoint_id": _id(endpoint_id),
            "organization_id": _id(organization_id),
            "event_type": event_type,
            "outcome": outcome,
            "status_code": status_code,
            "duration_ms": duration_ms,
        },
    )
