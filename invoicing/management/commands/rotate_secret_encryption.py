"""Re-encrypt every stored secret under the first of SECRET_ENCRYPTION_KEYS.

    python manage.py rotate_secret_encryption

To rotate: put a new key first in SECRET_ENCRYPTION_KEYS (keep the old ones
after it), deploy, run this, then drop the old keys. Idempotent; each row
is rewritten in its own short transaction.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from invoicing.crypto import rotate
from invoicing.models import Organization, WebhookEndpoint, WebhookSigningKey

SECRETS = (
    (Organization, ("hmac_key",)),
    (WebhookEndpoint, ("standard_secret", "previous_standard_secret")),
    (WebhookSigningKey, ("private_key_pem",)),
)


class Command(BaseCommand):
    help = "Re-encrypt stored secrets under the first SECRET_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        for model, fields in SECRETS:
            table = model._meta.db_table
            columns = [model._meta.get_field(f).column for f in fields]
            done = 0
            for pk in model.objects.values_list("pk", flat=True).iterator():
                with transaction.atomic(), connection.cursor() as cursor:
                    # Raw SQL: the stored tokens themselves, not the field's
                    # decrypted values, go through MultiFernet.rotate.
                    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
                    key = model._meta.pk.get_db_prep_value(pk, connection)
                    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
                    cursor.execute(f"SELECT {quoted} FROM {table} WHERE id = %s{lock}", [key])
                    row = cursor.fetchone()
                    if row is None:
                        continue
                    assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
                    cursor.execute(
                        f"UPDATE {table} SET {assignments} WHERE id = %s",
                        [*(rotate(value) for value in row), key],
                    )
                done += 1
            self.stdout.write(f"{model._meta.verbose_name_plural}: {done} re-encrypted")
