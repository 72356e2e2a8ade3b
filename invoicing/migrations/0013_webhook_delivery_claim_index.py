# Webhook delivery claims (README "Webhooks"): a worker looks for the endpoints
# that have due deliveries and takes the oldest due ones of each. This partial
# index serves both on PostgreSQL: one probe per endpoint with pending
# deliveries however long its backlog, and an endpoint's due deliveries in
# order. SQLite serves the one-machine demo and does without.
#
# Built CONCURRENTLY (hence atomic = False): deliveries keep being written
# while a large table is indexed. It is kept out of the models' state on
# purpose (a RunPython, not a Meta index): the claim's raw SQL is what relies on
# it, and it exists on PostgreSQL only.

from django.db import migrations

INDEX = "delivery_pending_endpoint"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON invoicing_webhookdelivery"
        " (endpoint_id, next_attempt_at) WHERE status = 'pending'"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("invoicing", "0012_lago_customer_fields_and_default_currency"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
