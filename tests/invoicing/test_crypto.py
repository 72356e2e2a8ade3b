"""Secrets at rest (issue 15): webhook signing keys, HMAC keys and whsec_
secrets are Fernet tokens in the database, rotate with the keys, and the
HMAC key is shown to the organization that needs it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import io
import json

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from invoicing.models import Organization, WebhookEndpoint, WebhookSigningKey
from invoicing.services import webhook_endpoints, webhooks
from tests.factories import make_organization

pytestmark = pytest.mark.django_db

K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _stored(table: str, column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_every_secret_is_a_token_in_the_database_and_text_in_python(settings):
    settings.SECRET_ENCRYPTION_KEYS = [K1]
    organization, _ = make_organization()
    endpoint = webhook_endpoints.webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": "http://127.0.0.1:9/h", "signature_algo": "standard"},
    )
    webhooks.webhook_signing_key_pem()  # creates the JWT signing key
    key_row = WebhookSigningKey.objects.get()
    rows = [
        ("invoicing_organization", "hmac_key", organization.pk, organization.hmac_key),
        ("invoicing_webhookendpoint", "standard_secret", endpoint.pk, endpoint.standard_secret),
        ("invoicing_webhooksigningkey", "private_key_pem", key_row.pk, key_row.private_key_pem),
    ]
    for table, column, pk, plain in rows:
        stored = _stored(table, column, pk)
        assert plain and stored.startswith("fernet:") and plain not in stored
        assert Fernet(K1.encode()).decrypt(stored[len("fernet:") :].encode()).decode() == plain
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).standard_secret.startswith("whsec_")
    assert "BEGIN" in WebhookSigningKey.objects.get().private_key_pem


def test_keys_rotate_without_losing_a_secret(settings):
    settings.SECRET_ENCRYPTION_KEYS = [K1]
    organization, _ = make_organization()
    plain = organization.hmac_key
    # A new key first, the old one still listed: everything still reads.
    settings.SECRET_ENCRYPTION_KEYS = [K2, K1]
    assert Organization.objects.get(pk=organization.pk).hmac_key == plain
    call_command("rotate_secret_encryption", stdout=io.StringIO())
    # Re-encrypted under the new key: the old one can go.
    settings.SECRET_ENCRYPTION_KEYS = [K2]
    assert Organization.objects.get(pk=organization.pk).hmac_key == plain
    settings.SECRET_ENCRYPTION_KEYS = [K1]
    with pytest.raises(ValueError, match="SECRET_ENCRYPTION_KEYS"):
        Organization.objects.get(pk=organization.pk)


def test_a_secret_read_before_its_key_was_removed_no_longer_reads(settings):
    # Decrypted texts are remembered (crypto._decrypted) by token and keys:
    # dropping the key a token was written with must still refuse it.
    settings.SECRET_ENCRYPTION_KEYS = [K1]
    organization, _ = make_organization()
    plain = organization.hmac_key
    assert Organization.objects.get(pk=organization.pk).hmac_key == plain
    assert Organization.objects.get(pk=organization.pk).hmac_key == plain
    settings.SECRET_ENCRYPTION_KEYS = [K2]
    with pytest.raises(ValueError, match="SECRET_ENCRYPTION_KEYS"):
        Organization.objects.get(pk=organization.pk)


def test_the_migration_encrypts_what_was_stored_in_clear(settings):
    settings.SECRET_ENCRYPTION_KEYS = [K1]
    organization, _ = make_organization()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_organization SET hmac_key = %s WHERE id = %s",
            ["clear-key-written-before-0011", organization.pk],
        )
    # Read as stored, before the migration ran over it.
    assert Organization.objects.get(pk=organization.pk).hmac_key == "clear-key-written-before-0011"
    migration = importlib.import_module("invoicing.migrations.0011_secrets_encrypted_at_rest")
    migration.encrypt_existing(apps, None)
    assert _stored("invoicing_organization", "hmac_key", organization.pk).startswith("fernet:")
    assert Organization.objects.get(pk=organization.pk).hmac_key == "clear-key-written-before-0011"


def test_the_hmac_key_is_shown_once_at_creation_then_read_and_rotated_through_the_api(api):
    out = io.StringIO()
    call_command("create_organization", "--name", "Shown", "--json", stdout=out)
    created = json.loads(out.getvalue())
    assert created["hmac_key"] == Organization.objects.get(pk=created["organization_id"]).hmac_key

    shown = api.get("/api/v1/webhooks/hmac_key").json()["webhook"]["hmac_key"]
    rotated = api.post("/api/v1/webhooks/hmac_key").json()["webhook"]["hmac_key"]
    assert rotated != shown
    assert api.get("/api/v1/webhooks/hmac_key").json()["webhook"]["hmac_key"] == rotated
    # A signature made now verifies with the rotated key (base64 HMAC-SHA256).
    body = b'{"webhook_type":"invoice.created"}'
    expected = base64.b64encode(hmac.new(rotated.encode(), body, hashlib.sha256).digest())
    from invoicing.webhooks.signing import sign_hmac

    assert sign_hmac(body, rotated) == expected.decode()
