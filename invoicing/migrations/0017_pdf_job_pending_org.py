# The render claim's scheduling rule (services/pdf.py, _claim): a worker skips
# through the organizations that have PDF jobs waiting and takes each one's
# oldest. This partial index serves both on PostgreSQL: one probe per
# organization however long its backlog, and an organization's waiting jobs in
# order. SQLite serves the one-machine demo and ranks its few jobs in one scan.
#
# Built CONCURRENTLY (hence atomic = False): jobs keep being written while a
# large table is indexed. Kept out of the models' state, as 0013's: the claim's
# raw SQL is what relies on it, and it exists on PostgreSQL only.

from django.db import migrations

INDEX = "pdf_job_pending_org"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON invoicing_pdfjob"
        " (organization_id, created_at) WHERE state = 'pending' AND is_current"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("invoicing", "0016_einvoicing"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
