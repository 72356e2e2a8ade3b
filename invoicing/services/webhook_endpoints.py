"""Webhook endpoints: create, update, delete, and Standard Webhooks secret rotation.

A URL is checked twice: here for its syntax and for a literal address the SSRF guard would
refuse (so an API client hears about ``http://169.254.169.254/`` at once), and again, with
DNS, at every attempt (``invoicing.webhooks.sender``), because a name's answer may change.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invoicing.errors import NotAllowed, NotFound, ValidationFailed
from invoicing.models import Organization, WebhookEndpoint
from invoicing.webhooks import signing
from invoicing.webhooks.guard import (
    ForbiddenAddress,
    InvalidWebhookUrl,
    ResolutionError,
    parse_allowed_networks,
    resolve_and_check,
)

# Lago's limit per organization: each event is one delivery per endpoint, so endpoints
# multiply the webhook load.
MAX_ENDPOINTS_PER_ORGANIZATION = 10

_FIELDS = ("webhook_url", "name", "signature_algo", "event_types")


def webhook_endpoint_get(*, organization: Organization, endpoint_id: str) -> WebhookEndpoint:
    """One of the organization's endpoints (a read, kept beside its writes until
    selectors.py grows a webhooks section); another organization's is not found."""
    try:
        pk = uuid.UUID(endpoint_id)
    except ValueError:
        raise NotFound("webhook_endpoint") from None
    endpoint = WebhookEndpoint.objects.filter(organization=organization, pk=pk).first()
    if endpoint is None:
        raise NotFound("webhook_endpoint")
    return endpoint


def _numeric_only(host, port, family=0, type=0, proto=0, flags=0):
    # Parses address literals in every spelling getaddrinfo accepts (2130706433, 0177.0.0.1,
    # 0x7f.1) without a DNS query; names fail here and are checked at send time.
    return socket.getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


def webhook_url_check(url: str) -> None:
    """Raise ``ValidationFailed`` for a URL no attempt could ever be made to."""
    try:
        resolve_and_check(
            url,
            allowed_networks=parse_allowed_networks(settings.WEBHOOK_ALLOWED_NETWORKS),
            resolver=_numeric_only,
        )
    except (InvalidWebhookUrl, ForbiddenAddress):
        raise ValidationFailed({"webhook_url": ["url_is_invalid"]}) from None
    except ResolutionError:
        pass  # a name: resolved and checked at each attempt


def _check_unique(organization: Organization, url: str, exclude_pk=None) -> None:
    others = WebhookEndpoint.objects.filter(organization=organization, webhook_url=url)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise ValidationFailed({"webhook_url": ["value_already_exist"]})


def _apply_algo(endpoint: WebhookEndpoint, algo: str) -> None:
    """Switching to ``standard`` issues a secret; leaving it drops the secrets, which no
    longer sign anything."""
    if algo == WebhookEndpoint.SignatureAlgo.STANDARD:
        if not endpoint.standard_secret:
            endpoint.standard_secret = signing.generate_standard_secret()
    else:
        endpoint.standard_secret = ""
        endpoint.previous_standard_secret = ""
        endpoint.previous_secret_expires_at = None
    endpoint.signature_algo = algo


@transaction.atomic
def webhook_endpoint_create(*, organization: Organization, data: dict[str, Any]) -> WebhookEndpoint:
    """``data``: ``webhook_url`` and optionally ``name``, ``signature_algo``, ``event_types``
    (empty: every event). A ``standard`` endpoint gets a ``whsec_`` secret, which the caller
    shows once."""
    # The organization row serializes creations, so the limit and uniqueness hold under
    # concurrent requests.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    url = data["webhook_url"]
    webhook_url_check(url)
    _check_unique(organization, url)
    if WebhookEndpoint.objects.filter(organization=organization).count() >= (
        MAX_ENDPOINTS_PER_ORGANIZATION
    ):
        raise ValidationFailed({"base": ["exceeded_limit"]})
    endpoint = WebhookEndpoint(
        organization=organization,
        webhook_url=url,
        name=data.get("name") or "",
        event_types=data.get("event_types"),
    )
    _apply_algo(endpoint, data.get("signature_algo") or endpoint.signature_algo)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    """Change any of ``webhook_url``, ``name``, ``signature_algo``, ``event_types``; fields
    not in ``data`` are kept."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "webhook_url" in data and data["webhook_url"] != endpoint.webhook_url:
        webhook_url_check(data["webhook_url"])
        _check_unique(endpoint.organization, data["webhook_url"], exclude_pk=endpoint.pk)
        endpoint.webhook_url = data["webhook_url"]
    if "name" in data:
        endpoint.name = data["name"] or ""
    if "event_types" in data:
        endpoint.event_types = data["event_types"]
    if "signature_algo" in data:
        _apply_algo(endpoint, data["signature_algo"])
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Delete the endpoint with its deliveries (as Lago does); returns it as it was."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Issue a new ``whsec_`` secret. The current one keeps signing beside it for
    ``WEBHOOK_SECRET_ROTATION_GRACE_SECONDS`` (both signatures are sent), so the receiver
    can switch at its own pace. A second rotation within that time retires the oldest
    secret at once: only the two latest sign."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.signature_algo != WebhookEndpoint.SignatureAlgo.STANDARD:
        raise NotAllowed("only a standard endpoint has a secret", code="not_standard_endpoint")
    grace = dt.timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS)
    endpoint.previous_standard_secret = endpoint.standard_secret
    endpoint.previous_secret_expires_at = timezone.now() + grace
    endpoint.standard_secret = signing.generate_standard_secret()
    endpoint.save()
    return endpoint
