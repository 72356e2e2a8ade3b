import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import ApiKey
from invoicing.services.organizations import api_key_issue, api_key_revoke
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"status": 401, "error": "Unauthorized"}


@pytest.mark.parametrize(
    "headers",
    [
        lambda key: {"HTTP_AUTHORIZATION": f"Bearer {key}"},
        lambda key: {"HTTP_AUTHORIZATION": f"Token {key}"},
        lambda key: {"HTTP_X_API_KEY": key},
    ],
    ids=["bearer", "token", "x-api-key"],
)
def test_each_header_form_authenticates(org_and_key, headers):
    organization, key = org_and_key
    make_customer(organization, external_id="c1")
    response = APIClient().get("/api/v1/customers/c1", **headers(key))
    assert response.status_code == 200
    assert response.json()["customer"]["external_id"] == "c1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_AUTHORIZATION": "Bearer ik_wrong_key_of_some_length"},
        {"HTTP_AUTHORIZATION": "Bearer a b c"},
        {"HTTP_X_API_KEY": "short"},
    ],
    ids=["missing", "no-key", "wrong", "garbled", "short"],
)
def test_missing_or_wrong_keys_get_lagos_401(org_and_key, headers):
    response = APIClient().get("/api/v1/invoices", **headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(org_and_key):
    _, key = org_and_key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = APIClient().get("/api/v1/invoices", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401


def test_expired_and_revoked_keys_are_refused(organization):
    expired = api_key_issue(
        organization=organization, expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    revoked = api_key_issue(organization=organization)
    api_key_revoke(api_key=revoked.api_key)
    future = api_key_issue(
        organization=organization, expires_at=timezone.now() + dt.timedelta(days=1)
    )
    client = APIClient()
    for issued, status in ((expired, 401), (revoked, 401), (future, 200)):
        response = client.get("/api/v1/invoices", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        assert response.status_code == status, issued.api_key
        if status == 401:
            assert response.json() == UNAUTHORIZED


def test_no_plaintext_key_is_stored_anywhere(org_and_key):
    _, key = org_and_key
    stored = ApiKey.objects.get()
    assert key not in (stored.prefix, stored.key_hash, stored.name)
    assert stored.key_hash != key and len(stored.key_hash) == 64
    # Search every text column of every table for the secret part of the key.
    secret = key[len(stored.prefix) :]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s',
                [f"%{secret}%"],
            )
            assert cursor.fetchone()[0] == 0, f"{table}.{column} holds the key"


def _downloads(invoice) -> list[tuple[str, str]]:
    """The routes that read their stored PDF with the API key (read_with_key)."""
    return [
        ("post", f"/api/v1/invoices/{invoice.pk}/download"),
        ("post", f"/api/v1/invoices/{invoice.pk}/download_xml"),
        ("get", f"/api/invoices/{invoice.lotus_id}/pdf_url/"),
    ]


def test_the_downloads_read_with_the_key_only_what_a_valid_key_may_see(organization):
    # The stored PDF is read in the key's round trip, before the key is checked: what
    # was read must never reach a caller whose key fails, nor another organization.
    from tests.factories import make_invoice, make_organization
    from tests.invoicing.api.lotus.conftest import render_now

    invoice = make_invoice(organization)
    render_now(invoice)
    expired = api_key_issue(
        organization=organization, expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    revoked = api_key_issue(organization=organization)
    api_key_revoke(api_key=revoked.api_key)
    valid = api_key_issue(organization=organization)
    forged = valid.raw_key[:-4] + ("AAAA" if not valid.raw_key.endswith("AAAA") else "BBBB")
    _, other_key = make_organization()
    client = APIClient()
    for method, path in _downloads(invoice):
        for key in (expired.raw_key, revoked.raw_key, forged):
            response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {key}")
            assert response.status_code == 401, (path, key)
            assert str(invoice.pk) not in response.content.decode()
            assert "/files/" not in response.content.decode()
        response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {other_key}")
        assert response.status_code == 404, path
        assert str(invoice.pk) not in response.content.decode()
    # And the valid key gets its own PDF through the same path.
    response = client.post(_downloads(invoice)[0][1], HTTP_AUTHORIZATION=f"Bearer {valid.raw_key}")
    assert response.status_code == 200 and response.json()["invoice"]["file_url"]
    response = client.get(_downloads(invoice)[2][1], HTTP_AUTHORIZATION=f"Bearer {valid.raw_key}")
    assert response.status_code == 200 and response.json()["url"]
