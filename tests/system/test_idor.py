"""IDOR matrix: every route of ``billing_project.urls`` that takes an id, for
every method it serves, called with org B's identifiers and org A's key. A new
route is covered (or fails the matrix, if it names a new kind of id) without
editing this file."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from invoicing.models import (
    AddOn,
    CreditNote,
    Customer,
    Fee,
    Invoice,
    PdfJob,
    Tax,
    WebhookEndpoint,
)
from tests.system.conftest import Tenant

pytestmark = [pytest.mark.system, pytest.mark.django_db]

METHODS = ("get", "post", "put", "patch", "delete")
# Routes whose id is not an API object: the signed file link is a bearer
# token (tests/system/test_signed_urls.py), the admin has its own login.
NOT_API = ("files/", "admin/")

LOTUS_NOT_FOUND = {
    "type": "https://docs.uselotus.io/errors/error-responses#client-error",
    "detail": "Not found.",
    "title": "not_found",
}


def _routes(patterns=None, prefix=""):
    """(route template, view class, path parameter names), depth first."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            converters = getattr(entry.pattern, "converters", {})
            view_class = getattr(entry.callback, "view_class", None)
            if converters:
                yield prefix + str(entry.pattern), view_class, tuple(converters)


ID_ROUTES = [r for r in _routes() if not r[0].startswith(NOT_API)]


def _spellings(victim: Tenant) -> dict[str, list[str]]:
    """Every way a client can name each of the victim's objects."""
    final, draft = victim.final, victim.draft
    invoice_ids = [str(final.id), final.id.hex, final.lotus_id, final.number]
    invoice_ids += [str(draft.id), draft.lotus_id]
    return {
        "external_id": [victim.customer.external_id],
        "customer_id": [victim.customer.external_id],
        "code": [victim.tax.code, victim.add_on.code],
        "invoice_id": invoice_ids,
        "endpoint_id": [str(victim.endpoint.id), victim.endpoint.id.hex],
        "credit_note_id": [str(victim.credit_note.id), victim.credit_note.id.hex],
    }


# A body every write route accepts: each Lago view reads its own root key.
ANY_BODY = {
    "customer": {"external_id": "x", "name": "pwned"},
    "tax": {"name": "pwned", "rate": "99"},
    "add_on": {"name": "pwned", "amount_cents": 1},
    "invoice": {"payment_status": "succeeded"},
    "webhook_endpoint": {"name": "pwned"},
    "credit_note": {"refund_status": "succeeded"},
    "customer_id": "pwned",
    "email": "pwned@example.com",
}


def _victim_rows(victim: Tenant) -> dict:
    org = victim.organization
    return {
        model.__name__: sorted(map(repr, model.objects.filter(**{lookup: org}).values()))
        for model, lookup in (
            (Customer, "organization"),
            (Tax, "organization"),
            (AddOn, "organization"),
            (Invoice, "organization"),
            (Fee, "invoice__organization"),
            (WebhookEndpoint, "organization"),
            (PdfJob, "invoice__organization"),
            (CreditNote, "organization"),
        )
    }


def test_the_matrix_covers_both_faces():
    templates = {route for route, _, _ in ID_ROUTES}
    assert any(t.startswith("api/v1/") for t in templates), templates
    assert any(t.startswith("api/") and not t.startswith("api/v1/") for t in templates)
    assert len(templates) >= 12, templates


def test_another_organizations_ids_are_404_on_every_route_and_method(tenant_a, tenant_b):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_a.key}")
    spellings = _spellings(tenant_b)
    before = _victim_rows(tenant_b)
    calls = 0
    for route, view_class, params in ID_ROUTES:
        unknown = set(params) - set(spellings)
        assert not unknown, f"{route}: add a spelling of {unknown} to the IDOR matrix"
        methods = [m for m in METHODS if view_class is None or hasattr(view_class, m)]
        for param in params:
            for value in spellings[param]:
                path = "/" + route.replace(f"<str:{param}>", value)
                for method in methods:
                    response = getattr(client, method)(path, ANY_BODY, format="json")
                    calls += 1
                    where = (method, path, response.status_code, response.content[:200])
                    assert response.status_code == 404, where
                    body = response.json()
                    if route.startswith("api/v1/"):
                        assert body["status"] == 404 and body["error"] == "Not Found", where
                        assert body["code"].endswith("_not_found"), where
                    else:
                        assert body == LOTUS_NOT_FOUND, where
    assert calls >= 40, calls
    assert _victim_rows(tenant_b) == before


def test_the_owner_reaches_the_same_routes(tenant_b):
    """The matrix is not vacuous: with B's own key the GETs find the objects."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.key}")
    spellings = _spellings(tenant_b)
    found = 0
    for route, view_class, params in ID_ROUTES:
        if view_class is None or not hasattr(view_class, "get") or len(params) != 1:
            continue
        (param,) = params
        value = spellings[param][0]
        if route.startswith("api/v1/add_ons"):
            value = tenant_b.add_on.code
        if "pdf_url" in route:
            continue  # waits for a PDF worker; tests/invoicing/api/lotus covers it
        response = client.get("/" + route.replace(f"<str:{param}>", value))
        assert response.status_code == 200, (route, response.content[:200])
        found += 1
    assert found >= 6
