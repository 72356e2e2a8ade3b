"""One structured line per request, PDF job and delivery attempt; never a
key, an Authorization header or a signed link."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from invoicing.models import PdfJob
from invoicing.ops import logs
from invoicing.ops.logs import JsonFormatter, PlainFormatter
from invoicing.services.files import pdf_download_token
from invoicing.services.pdf import pdf_job_run
from invoicing.signals import webhook_attempted
from tests.factories import make_invoice, make_organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """Everything logged during the test, formatted as production does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    lines.raw = stream.getvalue
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_an_api_request_is_one_line_with_route_status_duration_and_organization(json_lines):
    organization, key = make_organization()
    invoice = make_invoice(organization)
    response = Client().get(
        f"/api/v1/invoices/{invoice.pk}?api_key={key}", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200
    requests = [line for line in json_lines() if line["logger"] == "invoicing.request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["method"] == "GET"
    assert line["route"] == "api/v1/invoices/<str:invoice_id>"
    assert line["path"] == f"/api/v1/invoices/{invoice.pk}"
    assert line["status"] == 200 and line["duration_ms"] > 0
    assert line["organization_id"] == str(organization.pk)
    assert line["invoice_id"] == str(invoice.pk)
    assert line["request_id"] == response["X-Request-ID"]
    assert key not in json_lines.raw() and key[:12] not in json_lines.raw()


def test_signed_links_never_reach_the_log(json_lines):
    organization, _ = make_organization()
    invoice = make_invoice(organization)
    job = PdfJob.objects.get(invoice=invoice)
    pdf_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    token = pdf_download_token(job)
    client = Client()
    assert client.get(f"/files/invoices/{token}").status_code == 200
    assert client.get(f"/files/invoices/{token}x").status_code == 404  # Django warns on 404s
    text = json_lines.raw()
    assert token not in text and token[:20] not in text
    requests = [line for line in json_lines() if line["logger"] == "invoicing.request"]
    assert [line["path"] for line in requests] == ["/files/invoices/[redacted]"] * 2
    assert [line["route"] for line in requests] == ["files/invoices/<str:token>"] * 2
    # One line per request: Django's "Not Found: <path>" warning would repeat it.
    assert [line["logger"] for line in json_lines()].count("django.request") == 0


def test_a_pdf_job_is_one_line_with_its_ids(json_lines):
    organization, _ = make_organization()
    invoice = make_invoice(organization)
    job = PdfJob.objects.get(invoice=invoice)
    pdf_job_run(job_id=str(job.pk))
    jobs = [line for line in json_lines() if line["logger"] == "invoicing.jobs"]
    assert len(jobs) == 1
    assert jobs[0]["job_id"] == str(job.pk)
    assert jobs[0]["invoice_id"] == str(invoice.pk)
    assert jobs[0]["organization_id"] == str(organization.pk)
    assert jobs[0]["outcome"] == "ready" and jobs[0]["size_bytes"] > 0


def test_a_delivery_attempt_is_one_line_with_its_ids(json_lines):
    from tests.invoicing.admin.helpers import failed_delivery

    organization, _ = make_organization()
    invoice = make_invoice(organization)
    delivery = failed_delivery(invoice)
    webhook_attempted.send(
        sender=None, delivery_id=delivery.pk, event_type="invoice.created",
        endpoint_id=delivery.endpoint_id, organization_id=organization.pk,
        outcome="timeout", status_code=None, duration_ms=10_000,
    )  # fmt: skip
    attempts = [line for line in json_lines() if line["logger"] == "invoicing.webhooks.attempts"]
    assert len(attempts) == 1
    line = attempts[0]
    assert line["delivery_id"] == str(delivery.pk)
    assert line["invoice_id"] == str(invoice.pk)
    assert line["organization_id"] == str(organization.pk)
    assert line["outcome"] == "timeout" and line["duration_ms"] == 10_000
    assert "hooks.example.com" not in json_lines.raw()


def test_an_observer_failure_never_breaks_the_sender(json_lines, monkeypatch):
    from invoicing.ops import metrics

    monkeypatch.setattr(metrics, "WEBHOOK_ATTEMPTS", None)
    webhook_attempted.send(
        sender=None, delivery_id="d", event_type="invoice.created", endpoint_id="e",
        organization_id="o", outcome="success", status_code=200, duration_ms=5,
    )  # fmt: skip
    assert any(line["logger"] == "invoicing.ops" for line in json_lines())


@pytest.mark.parametrize("formatter", [JsonFormatter(), PlainFormatter()])
def test_formatters_scrub_keys_and_authorization_wherever_they_appear(formatter):
    key = "ik_" + "A1b2C3d4" * 5
    record = logging.makeLogRecord({
        "name": "x", "levelno": logging.INFO, "levelname": "INFO",
        "msg": "got %s with Authorization: Bearer %s for /files/invoices/abc.def:ghi?x=1",
        "args": (key, "sometoken123456"), "path": f"/api/{key}", "request": object(),
    })  # fmt: skip
    text = formatter.format(record)
    assert key not in text and "sometoken123456" not in text and "abc.def:ghi" not in text
    assert "/files/invoices/[redacted]" in text


# The three patterns themselves: ``scrub`` skips them on text that cannot
# match any of them, and must give what they give on everything.
def _scrubbed_by_the_patterns(text: str) -> str:
    for pattern, replacement in logs._SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "/api/v1/invoices/33f9f9cc-ba8c-4fbc-996d-976105b5cfae/download",
        "GET /files/invoices/abc.def:ghi 200",
        "ik_" + "A1b2C3d4" * 5,
        "key=ik_short",
        "Authorization: BeArEr abcdefgh12345678",
        "TOKEN   abcdefgh.12345678",
        "Basic dXNlcjpwYXNzd29yZA==",
        "bearer short",
        # Case-insensitive matching outside ASCII: the Kelvin sign is a "k",
        # the long s an "s", the dotless i an "i".
        "to\u212aen abcdefgh12345678",
        "ba\u017fic abcdefgh12345678",
        "bas\u0131c abcdefgh12345678",
        "caf\u00e9 ik_abcdefgh123",
        "",
    ],
)
def test_scrub_gives_what_the_patterns_give(text):
    assert logs.scrub(text) == _scrubbed_by_the_patterns(text)


def test_the_request_line_names_the_organization_without_reading_it(json_lines):
    organization, key = make_organization()
    invoice = make_invoice(organization)
    pdf_job_run(job_id=str(PdfJob.objects.get(invoice=invoice).pk))
    with CaptureQueriesContext(connection) as queries:
        response = Client().post(f"/api/v1/invoices/{invoice.pk}/download",
                                 HTTP_AUTHORIZATION=f"Bearer {key}")  # fmt: skip
    assert response.status_code == 200
    assert len(queries) == 1  # the key with the stored PDF: not the organization's row
    [line] = [line for line in json_lines() if line["logger"] == "invoicing.request"]
    assert line["organization_id"] == str(organization.pk)
    assert line["invoice_id"] == str(invoice.pk)
