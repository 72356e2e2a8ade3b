"""/metrics: refused without the token, and what it shows matches reality."""

from __future__ import annotations

import re

import pytest
from django.db.models import Count
from django.test import Client, override_settings

from invoicing.models import PdfJob
from invoicing.services.pdf import pdf_job_run
from invoicing.signals import webhook_attempted
from tests.factories import make_invoice, make_organization

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-0123456789"


def scrape(**headers) -> str:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the exposition text, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted(filter(None, (match.group(2) or "").split(","))))
        if got == want:
            return float(match.group(3))
    return None


def test_metrics_are_disabled_without_a_configured_token():
    with override_settings(METRICS_TOKEN=""):
        assert Client().get("/metrics").status_code == 404
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_refuse_a_missing_or_wrong_token():
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@override_settings(METRICS_TOKEN=TOKEN)
def test_jobs_by_state_match_the_database_and_render_histograms_grow():
    organization, _ = make_organization()
    invoices = [make_invoice(organization) for _ in range(3)]
    before = scrape()
    count_before = sample(before, "invoice_pdf_render_duration_seconds_count") or 0

    job = PdfJob.objects.get(invoice=invoices[0])
    assert pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    PdfJob.objects.filter(invoice=invoices[1]).update(state=PdfJob.State.FAILED)
    after = scrape()

    in_db = dict(PdfJob.objects.values_list("state").annotate(n=Count("pk")))
    for state in PdfJob.State.values:
        assert sample(after, "invoice_pdf_jobs", state=state) == in_db.get(state, 0), state
    assert in_db["ready"] >= 1 and in_db["failed"] >= 1
    assert sample(after, "invoice_pdf_render_duration_seconds_count") == count_before + 1
    assert sample(after, "invoice_pdf_size_bytes_count") >= 1
    assert (
        sample(after, "invoice_pdf_size_bytes_sum")
        >= job.__class__.objects.get(pk=job.pk).size_bytes
    )
    assert sample(after, "invoice_pdf_jobs_finished_total", outcome="ready") >= 1
    # The broker (the test Redis) is read for each queue.
    assert sample(after, "celery_broker_up") == 1
    assert sample(after, "celery_queue_length", queue="pdf") is not None
    assert sample(after, "celery_queue_length", queue="webhooks") is not None


@override_settings(METRICS_TOKEN=TOKEN)
def test_webhook_attempt_outcomes_are_counted():
    before = scrape()
    labels = {"outcome": "server_error", "event_type": "invoice.created"}
    count = sample(before, "webhook_delivery_attempts_total", **labels) or 0
    webhook_attempted.send(
        sender=None, delivery_id="d1", event_type="invoice.created", endpoint_id="e1",
        organization_id="o1", outcome="server_error", status_code=503, duration_ms=120,
    )  # fmt: skip
    after = scrape()
    assert sample(after, "webhook_delivery_attempts_total", **labels) == count + 1
    assert sample(after, "webhook_delivery_attempt_duration_seconds_count", outcome="server_error")


@override_settings(METRICS_TOKEN=TOKEN)
def test_request_latency_is_labelled_by_route_not_by_path():
    organization, key = make_organization()
    invoice = make_invoice(organization)
    Client().get(f"/api/v1/invoices/{invoice.pk}", HTTP_AUTHORIZATION=f"Bearer {key}")
    text = scrape()
    route = "api/v1/invoices/<str:invoice_id>"
    assert sample(
        text, "http_request_duration_seconds_count", method="GET", route=route, status="2xx"
    )
    assert str(invoice.pk) not in text


@override_settings(METRICS_TOKEN=TOKEN)
def test_clients_cannot_mint_label_values():
    """Made-up methods and odd statuses fold into closed sets: 200 requests
    with 200 distinct methods add no series beyond OTHER (issue 15: each
    series lives in every process for its lifetime)."""
    client = Client()
    for i in range(200):
        client.generic(f"X{i:03d}FOO", "/api/v1/taxes")
    text = scrape()
    methods = set(re.findall(r'http_request_duration_seconds_count\{[^}]*method="([^"]+)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    assert "OTHER" in methods
    statuses = set(re.findall(r'http_request_duration_seconds_count\{[^}]*status="([^"]+)"', text))
    assert statuses and statuses <= {"1xx", "2xx", "3xx", "4xx", "5xx"}


@override_settings(METRICS_TOKEN=TOKEN)
def test_broker_down_is_a_gauge_not_an_error():
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        text = scrape()
    assert sample(text, "celery_broker_up") == 0
    assert sample(text, "celery_queue_length", queue="pdf") is None
