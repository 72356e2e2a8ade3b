"""Prometheus metrics at ``/metrics``.

Two kinds, collected differently on purpose:

- Events (requests, finished PDF jobs, webhook attempts) are counted where
  they happen, in prometheus-client histograms and counters. Gunicorn runs
  several web processes and Celery several worker processes, and a scrape
  reaches only one of them; with ``PROMETHEUS_MULTIPROC_DIR`` set, every
  process on the host writes its samples to files there and the scrape sums
  them (prometheus-client's multiprocess mode). Unset, the one process serves
  its own samples (``make run``, tests).
- State (jobs and deliveries by state, queue depths) is read at scrape time
  from the database and the broker, which hold the truth for the whole fleet:
  one GROUP BY per table and one broker round trip.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

# Event metrics live in a registry of their own (not prometheus-client's
# global one) so the view decides what is exposed, in either mode.
EVENTS = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it.",
    # method: one of the standard seven or OTHER; route: the URL pattern;
    # status: its class (2xx, 4xx...). Closed sets (see ops/middleware.py).
    ["method", "route", "status"],
    # Web tier measurements (PERF-NOTES.md): p99 of simple endpoints 12-33 ms;
    # PDF downloads and admin pages reach seconds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=EVENTS,
)
PDF_RENDER_SECONDS = Histogram(
    "invoice_pdf_render_duration_seconds",
    "Time to render one PDF (rendering only, not storing).",
    # ReportLab canvas: ~6 ms for one page, ~0.45 s for 144 pages, ~2 s for
    # 10,000 fees (PERF-NOTES.md and the lease comment in settings).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=EVENTS,
)
PDF_SIZE_BYTES = Histogram(
    "invoice_pdf_size_bytes",
    "Size of each stored PDF.",
    # One page with an embedded font is ~45 KB; long invoices reach MBs.
    buckets=(20e3, 50e3, 100e3, 250e3, 500e3, 1e6, 2.5e6, 5e6, 10e6, 25e6),
    registry=EVENTS,
)
PDF_JOBS_FINISHED = Counter(
    "invoice_pdf_jobs_finished",
    "PDF job attempts by outcome (ready, retry, failed).",
    ["outcome"],
    registry=EVENTS,
)
WEBHOOK_ATTEMPTS = Counter(
    "webhook_delivery_attempts",
    "Webhook delivery attempts by outcome (success, server_error, timeout, ...).",
    ["outcome", "event_type"],
    registry=EVENTS,
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "webhook_delivery_attempt_duration_seconds",
    "Duration of each webhook HTTP attempt.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=EVENTS,
)


class StateCollector:
    """Gauges read at scrape time: rows by state and the broker's queues."""

    def collect(self):
        from django.db.models import Count

        from invoicing.models import PdfJob, WebhookDelivery
        from invoicing.ops.broker import queue_depths

        jobs = GaugeMetricFamily(
            "invoice_pdf_jobs", "PDF jobs by state (all versions).", labels=["state"]
        )
        counts = dict(PdfJob.objects.order_by().values_list("state").annotate(n=Count("pk")))
        for state in PdfJob.State.values:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs

        deliveries = GaugeMetricFamily(
            "webhook_deliveries", "Webhook deliveries by status.", labels=["status"]
        )
        counts = dict(
            WebhookDelivery.objects.order_by().values_list("status").annotate(n=Count("pk"))
        )
        for status in WebhookDelivery.Status.values:
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries

        broker = queue_depths()
        yield GaugeMetricFamily(
            "celery_broker_up", "1 if the broker answered this scrape.", value=int(broker.reachable)
        )
        if broker.reachable:
            depth = GaugeMetricFamily(
                "celery_queue_length", "Messages waiting in each queue.", labels=["queue"]
            )
            for name, count in broker.depths.items():
                depth.add_metric([name], count)
            yield depth
            if broker.unacked is not None:
                yield GaugeMetricFamily(
                    "celery_messages_unacked",
                    "Messages delivered to workers and not yet acknowledged.",
                    value=broker.unacked,
                )


def exposition() -> bytes:
    scrape = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape, path=settings.PROMETHEUS_MULTIPROC_DIR)
        events = b""
    else:
        events = generate_latest(EVENTS)
    scrape.register(StateCollector())
    return events + generate_latest(scrape)


def _authorized(request) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_safe
def metrics_view(request):
    # Disabled unless a token is configured: the page names routes, queues
    # and volumes, which are nobody's business by default.
    if not settings.METRICS_TOKEN:
        return HttpResponse("metrics are disabled (METRICS_TOKEN is not set)\n", status=404,
                            content_type="text/plain")  # fmt: skip
    if not _authorized(request):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
