from __future__ import annotations

from typing import Any

from invoicing.models import Organization, WebhookEndpoint


def webhook_endpoint_create(*, organization: Organization, data: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(organization=organization, **data)
