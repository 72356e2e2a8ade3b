import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from invoicing.models import ApiKey, Invoice, Organization, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_organization_prints_a_working_key_once():
    result = json.loads(
        _run("create_organization", "--name", "Acme", "--json",
             "--webhook-url", "https://hooks.example.com/lago")
    )  # fmt: skip
    organization = Organization.objects.get(pk=result["organization_id"])
    assert organization.name == "Acme"
    assert WebhookEndpoint.objects.get(organization=organization).webhook_url.endswith("/lago")
    key = ApiKey.objects.get(organization=organization)
    assert result["api_key"].startswith(key.prefix) and result["api_key"] != key.key_hash
    response = APIClient().get("/api/v1/invoices", HTTP_X_API_KEY=result["api_key"])
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["ftp://x", "http://169.254.169.254/latest", "not a url"])
def test_create_organization_refuses_a_bad_webhook_url(url):
    with pytest.raises(CommandError, match="refused"):
        _run("create_organization", "--name", "Acme", "--webhook-url", url)
    assert not Organization.objects.exists()


def test_seed_demo_builds_varied_invoices_once():
    first = json.loads(_run("seed_demo", "--json"))
    second = json.loads(_run("seed_demo", "--json"))
    assert first["created"] and not second["created"]
    assert first["organization_id"] == second["organization_id"]
    assert first["api_key"] != second["api_key"]
    invoices = Invoice.objects.filter(organization_id=first["organization_id"])
    assert invoices.count() == 36
    assert {"EUR", "JPY", "BHD", "USD"} <= set(invoices.values_list("currency", flat=True))
    assert {"draft", "finalized", "voided"} == set(invoices.values_list("status", flat=True))
    sizes = [i.fees.count() for i in invoices]
    assert min(sizes) == 1 and max(sizes) >= 100
    locales = set(invoices.values_list("customer__document_locale", flat=True))
    assert {"ja", "zh-TW", "fr", "de"} <= locales
    response = APIClient().get("/api/v1/invoices", HTTP_X_API_KEY=second["api_key"])
    assert response.json()["meta"]["total_count"] == 36
    # Each run's key replaces the one printed before: the first no longer works.
    assert first["revoked_keys"] == [] and second["revoked_keys"] == [first["api_key"][:12]]
    assert APIClient().get("/api/v1/invoices", HTTP_X_API_KEY=first["api_key"]).status_code == 401


def test_openapi_schema_is_served_and_lists_both_write_paths(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/invoices" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/invoices"]
    assert "/api/v1/invoices/{invoice_id}/finalize" in schema["paths"]
    assert APIClient().get("/api/docs/").status_code == 200


def test_the_docs_page_loads_nothing_from_elsewhere():
    """Redoc comes from drf-spectacular-sidecar, no fonts from Google: the
    page works with no internet and tells no third party who reads it."""
    import re

    from django.contrib.staticfiles import finders

    page = APIClient().get("/api/docs/").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls, page
    assert [u for u in urls if u.startswith(("http:", "https:", "//"))] == []
    scripts = re.findall(r'<script src="/static/([^"]+)"', page)
    assert scripts and all(finders.find(path) for path in scripts)
    assert "googleapis" not in page


def test_organization_rules_are_enforced_by_the_service():
    from invoicing.errors import ValidationFailed
    from invoicing.services.organizations import organization_create

    with pytest.raises(ValidationFailed) as error:
        organization_create(name="Acme", numbering_scheme="sequence", number_prefix="AC ME")
    assert "number_prefix" in error.value.details
    organization, _ = organization_create(
        name="Acme", numbering_scheme="sequence", number_prefix="ACME-EU"
    )
    assert organization.number_prefix == "ACME-EU"


def test_the_landing_page_says_what_runs_where(client):
    page = client.get("/")
    assert page.status_code == 200
    text = page.content.decode()
    for path in ("/api/docs/", "/api/schema/", "/api/v1/", "/api/", "/admin/", "/admin/ops/",
                 "/healthz", "/readyz"):  # fmt: skip
        assert f"http://testserver{path}" in text, path
    assert client.post("/").status_code == 405
