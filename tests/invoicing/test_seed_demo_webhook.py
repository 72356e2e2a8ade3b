"""seed_demo's endpoint to make run's receiver: created once, hmac-signed, for
every event, moved when the receiver's port changes; the HMAC key written for
the receiver, readable by its owner only."""

from __future__ import annotations

import io
import stat

import pytest
from django.core.management import call_command

from invoicing.models import Organization, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_the_demo_endpoint_goes_to_the_receiver_and_follows_its_port(tmp_path):
    key_file = tmp_path / "demo-hmac-key"
    out = io.StringIO()
    call_command("seed_demo", "--invoices", "2", "--webhook-url", "http://127.0.0.1:8001/webhooks",
                 "--hmac-key-file", str(key_file), stdout=out)  # fmt: skip
    organization = Organization.objects.get(name="Demo Billing Co")
    endpoint = WebhookEndpoint.objects.get(organization=organization)
    assert endpoint.webhook_url == "http://127.0.0.1:8001/webhooks"
    assert endpoint.signature_algo == "hmac"
    assert endpoint.event_types is None  # every event
    assert "Webhooks of every event go to http://127.0.0.1:8001/webhooks" in out.getvalue()
    assert key_file.read_text() == organization.hmac_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    call_command("seed_demo", "--webhook-url", "http://127.0.0.1:9001/webhooks",
                 stdout=io.StringIO())  # fmt: skip
    urls = list(WebhookEndpoint.objects.filter(organization=organization)
                .values_list("webhook_url", flat=True))  # fmt: skip
    assert urls == ["http://127.0.0.1:9001/webhooks"]
