"""The webhooks admin: deliveries with their attempts, the operator actions, and no secret
on any page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from invoicing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from invoicing.services import webhooks
from invoicing.services.webhook_endpoints import webhook_endpoint_create
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", None))
    return client


@pytest.fixture
def failed_delivery(organization, settings) -> WebhookDelivery:
    endpoint = webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": "https://hooks.example.com/x", "signature_algo": "standard"},
    )
    invoice = make_invoice(organization)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event__object_id=invoice.id)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempt_count=1, last_status_code=500, last_error="HTTP 500"
    )
    WebhookDeliveryAttempt.objects.create(
        delivery=delivery, attempt_number=1, started_at=delivery.created_at, duration_ms=42,
        outcome="server_error", status_code=500, response_body=b'{"error":"database down"}',
    )  # fmt: skip
    return delivery


def test_deliveries_list_filters_and_shows_attempts_without_secrets(staff, failed_delivery):
    listing = staff.get(
        "/admin/invoicing/webhookdelivery/",
        {"status__exact": "failed", "event__event_type": "invoice.created"},
    )
    assert listing.status_code == 200
    assert str(failed_delivery.pk) in listing.content.decode()
    assert (
        str(failed_delivery.pk)
        not in staff.get(
            "/admin/invoicing/webhookdelivery/", {"status__exact": "succeeded"}
        ).content.decode()
    )

    page = staff.get(f"/admin/invoicing/webhookdelivery/{failed_delivery.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "database down" in html and "server_error" in html
    endpoint = WebhookEndpoint.objects.get()
    endpoint_page = staff.get(f"/admin/invoicing/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint_page.status_code == 200
    for page in (html, endpoint_page.content.decode()):
        assert endpoint.standard_secret not in page
        assert "whsec_" not in page


def test_retry_action_rearms_the_delivery_with_the_same_id(staff, failed_delivery):
    response = staff.post(
        "/admin/invoicing/webhookdelivery/",
        {"action": "retry_now", "_selected_action": [str(failed_delivery.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "pending"
    assert WebhookDelivery.objects.count() == 1


def test_enable_action(staff, failed_delivery):
    endpoint = WebhookEndpoint.objects.get()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason="410 Gone")
    staff.post(
        "/admin/invoicing/webhookendpoint/",
        {"action": "enable_endpoints", "_selected_action": [str(endpoint.pk)]},
    )
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""
    assert webhooks.webhook_delivery_retry_now(delivery=failed_delivery).status == "pending"
