"""API key authentication shared by both faces.

One organization key works in the three header forms real clients send
(README, "API keys"): ``Authorization: Bearer <key>`` (Lago clients; like Lago, the
scheme word is ignored), ``Authorization: Token <key>`` (the Lotus docs) and
``X-API-KEY: <key>`` (lotus-python).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cached_property

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from invoicing import selectors
from invoicing.models import Organization
from invoicing.models.organizations import API_KEY_PREFIX_LENGTH, hash_api_key


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` of an API request: the organization behind the key.

    The organization's row is read the first time ``organization`` is used,
    not with the key: the download endpoints and the request log need only
    its id, and for them that read would be a third of the request's
    queries."""

    organization_id: object
    api_key_id: object

    is_authenticated = True
    is_staff = False

    @cached_property
    def organization(self) -> Organization:
        return selectors.organization_get(organization_id=self.organization_id)


def raw_key_from_headers(meta: dict) -> str | None:
    header = meta.get("HTTP_AUTHORIZATION", "").strip()
    if header:
        parts = header.split()
        return parts[1] if len(parts) == 2 else None
    key = meta.get("HTTP_X_API_KEY", "").strip()
    return key or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        meta = request.META
        if not meta.get("HTTP_AUTHORIZATION") and not meta.get("HTTP_X_API_KEY"):
            return None  # "credentials were not provided"
        raw = raw_key_from_headers(meta)
        if not raw or len(raw) < API_KEY_PREFIX_LENGTH or len(raw) > 256:
            raise exceptions.AuthenticationFailed("Invalid token.")
        prefix = raw[:API_KEY_PREFIX_LENGTH]
        # A view may read what it needs with the key, in the same round trip
        # (``read_with_key``: the download endpoints); what it read is kept on
        # the request only once the key has passed every check below.
        view = (request.parser_context or {}).get("view")
        read_with_key = getattr(view, "read_with_key", None)
        read = None
        if read_with_key is not None:
            api_key, read = read_with_key(request, prefix)
        else:
            api_key = selectors.api_key_get_by_prefix(prefix=prefix)
        # Compare even when no row matched so that timing does not tell a
        # known prefix from an unknown one.
        expected = api_key.key_hash if api_key else "0" * 64
        if not hmac.compare_digest(expected, hash_api_key(raw)) or api_key is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not api_key.is_usable(timezone.now()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        client = ApiClient(organization_id=api_key.organization_id, api_key_id=api_key.id)
        if read_with_key is not None:
            request.read_with_key = read
        return client, api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return 'Bearer realm="api"'


class HasOrganization(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the three accepted header forms in the OpenAPI schema."""

    target_class = "invoicing.api.auth.ApiKeyAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer",
             "description": "`Authorization: Bearer <key>` (or `Token <key>`)"},
            {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
        ]  # fmt: skip
