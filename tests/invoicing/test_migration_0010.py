"""Migration 0010: rows made before it get what lago-api would have given
them (customers' numbers and slugs, metadata timestamps, the billing entity
code), and PostgreSQL gets the list's search indexes."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from invoicing.models import Customer, Organization
from tests.factories import make_customer, make_organization

pytestmark = pytest.mark.django_db

migration = importlib.import_module(
    "invoicing.migrations.0010_lago_face_deletes_search_and_customer_numbers"
)


def test_backfill_numbers_customers_in_creation_order(db):
    organization, _ = make_organization(name="Acme Billing")
    first = make_customer(organization, "first", metadata=[{"key": "crm", "value": "1"}])
    second = make_customer(organization, "second")
    # As rows were before the migration.
    Organization.objects.filter(pk=organization.pk).update(billing_entity_code="")
    Customer.objects.filter(organization=organization).update(sequential_id=None, slug="")
    Customer.objects.filter(pk=first.pk).update(
        metadata=[{"id": "m1", "key": "crm", "value": "1", "display_in_invoice": False}]
    )

    migration.backfill(apps, None)

    organization.refresh_from_db()
    assert organization.billing_entity_code == "acme_billing"
    prefix = f"ACM-{organization.id.hex[-4:].upper()}"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.sequential_id, first.slug) == (1, f"{prefix}-001")
    assert (second.sequential_id, second.slug) == (2, f"{prefix}-002")
    assert first.metadata[0]["created_at"] == first.created_at.isoformat()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL indexes")
def test_search_indexes_exist():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'invoicing_%'")
        names = {row[0] for row in cursor.fetchall()}
    assert {name for name, _, _ in migration._SEARCH_INDEXES} <= names
