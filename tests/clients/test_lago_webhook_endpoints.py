"""lago-python-client 1.55.0, unchanged, drives webhook endpoints against a live server, and
its ``webhooks.public_key()`` verifies a real ``jwt`` delivery."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.webhook_endpoint import WebhookEndpoint as WebhookEndpointInput

from invoicing.models import WebhookDelivery
from invoicing.services import webhooks
from tests.factories import make_invoice, make_organization
from tests.invoicing.webhooks.conftest import Receiver, Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lago(live_server):
    organization, key = make_organization(name="Hooks Co")
    return Client(api_key=key, api_url=live_server.url), organization


def test_create_find_find_all_update_destroy(lago):
    client, organization = lago
    created = client.webhook_endpoints.create(
        WebhookEndpointInput(
            webhook_url="https://hooks.example.com/lago",
            signature_algo="hmac",
            name="Accounting",
            event_types=["invoice.generated", "invoice.voided"],
        )
    )
    assert created.lago_organization_id == str(organization.id)
    assert (created.webhook_url, created.signature_algo, created.name) == (
        "https://hooks.example.com/lago",
        "hmac",
        "Accounting",
    )
    assert created.event_types == ["invoice.generated", "invoice.voided"]

    assert client.webhook_endpoints.find(created.lago_id).name == "Accounting"
    listed = client.webhook_endpoints.find_all()
    assert [e.lago_id for e in listed["webhook_endpoints"]] == [created.lago_id]
    assert listed["meta"]["total_count"] == 1

    updated = client.webhook_endpoints.update(
        WebhookEndpointInput(webhook_url="https://hooks.example.com/v2", signature_algo="jwt"),
        created.lago_id,
    )
    assert (updated.webhook_url, updated.signature_algo) == ("https://hooks.example.com/v2", "jwt")
    assert updated.event_types == ["invoice.generated", "invoice.voided"]

    destroyed = client.webhook_endpoints.destroy(created.lago_id)
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as caught:
        client.webhook_endpoints.find(created.lago_id)
    assert caught.value.status_code == 404


def test_invalid_url_is_a_lago_validation_error(lago):
    client, _ = lago
    with pytest.raises(LagoApiError) as caught:
        client.webhook_endpoints.create(WebhookEndpointInput(webhook_url="ftp://nope"))
    assert caught.value.status_code == 422


def test_public_key_from_the_client_verifies_a_jwt_delivery(lago):
    client, organization = lago
    receiver = Receiver(Reply(200))
    try:
        created = client.webhook_endpoints.create(
            WebhookEndpointInput(webhook_url=receiver.url, signature_algo="jwt")
        )
        invoice = make_invoice(organization)
        delivery = WebhookDelivery.objects.get(
            endpoint_id=created.lago_id, event__object_id=invoice.id
        )
        webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
        got = next(
            r for r in receiver.requests if r.headers["X-Lago-Unique-Key"] == str(delivery.pk)
        )
    finally:
        receiver.close()
    public_pem = client.webhooks.public_key()
    claims = jwt.decode(
        got.headers["X-Lago-Signature"],
        public_pem,
        algorithms=["RS256"],
        issuer=settings.PUBLIC_BASE_URL,
    )
    assert claims["data"].encode() == got.body
