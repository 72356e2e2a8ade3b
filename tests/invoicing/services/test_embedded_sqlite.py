"""The invoice writes' hand-built SQL and the render claim's scheduling rule
on the embedded database (SQLite), which ``make run`` uses and the rest of the
suite (PostgreSQL) never reaches.

Found by the credit note work: on SQLite an add-on with two taxes gave its fee
only the last one, because the rows of the add-on read were grouped by the
driver's raw id (hex text on SQLite) but looked up by the converted UUID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, os, django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    django.setup()
    from decimal import Decimal
    from django.core.management import call_command
    from django.db import connection
    call_command("migrate", verbosity=0)
    from invoicing.models import Invoice
    from invoicing.services import catalog, invoices
    from invoicing.services.invoices import FeeInput
    from invoicing.services.organizations import organization_create

    organization, _ = organization_create(name="Embedded")
    for code, rate in (("vat20", "20"), ("reduced", "5.5")):
        catalog.tax_create(organization=organization,
                           data={"code": code, "name": code, "rate": Decimal(rate)})
    catalog.add_on_create(organization=organization, data={
        "code": "support", "name": "Support", "amount_cents": 10000,
        "amount_currency": "EUR", "tax_codes": ["vat20", "reduced"]})
    catalog.customer_upsert(organization=organization, external_id="c1",
                            data={"name": "C", "currency": "EUR"})
    created = invoices.invoice_create(organization=organization, external_customer_id="c1",
                                      fees=[FeeInput(add_on_code="support", units=Decimal(1))])
    invoice = Invoice.objects.get(pk=created.pk)
    [fee] = invoice.fees.all()
    print(json.dumps({
        "vendor": connection.vendor,
        "fee_taxes": sorted((t.tax_code, t.amount_cents) for t in fee.applied_taxes.all()),
        "taxes_amount_cents": invoice.taxes_amount_cents,
        "total_amount_cents": invoice.total_amount_cents,
    }))
    """
)


def _run_embedded(script: str, tmp_path) -> dict:
    # The embedded defaults as make run has them: no DATABASE_URL or REDIS_URL, the
    # project's settings (not the test settings, which default to PostgreSQL).
    dropped = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DEBUG="1", VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="billing_project.settings")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_add_on_with_two_taxes_gives_its_fee_both_on_sqlite(tmp_path):
    result = _run_embedded(SCRIPT, tmp_path)
    assert result["vendor"] == "sqlite"
    # 100.00 EUR at 20 % and at 5.5 %: 20.00 and 5.50 of tax, 125.50 in all.
    assert result["fee_taxes"] == [["reduced", 550], ["vat20", 2000]]
    assert result["taxes_amount_cents"] == 2550
    assert result["total_amount_cents"] == 12550


FAIR_SCRIPT = textwrap.dedent(
    """
    import json, os, django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    django.setup()
    from decimal import Decimal
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    call_command("migrate", verbosity=0)
    from invoicing.models import PdfJob
    from invoicing.services import catalog, invoices, pdf
    from invoicing.services.invoices import FeeInput
    from invoicing.services.organizations import organization_create

    def waiting_jobs(name, count):
        organization, _ = organization_create(name=name)
        catalog.add_on_create(organization=organization, data={
            "code": "a", "name": "A", "amount_cents": 100, "amount_currency": "EUR"})
        catalog.customer_upsert(organization=organization, external_id="c",
                                data={"name": "C", "currency": "EUR"})
        ids = []
        for _ in range(count):
            created = invoices.invoice_create(organization=organization, external_customer_id="c",
                                              fees=[FeeInput(add_on_code="a", units=Decimal(1))])
            ids.append(str(PdfJob.objects.get(invoice_id=created.pk).pk))
        return ids

    big, small = waiting_jobs("Big", 25), waiting_jobs("Small", 2)
    taken = [str(j.pk) for j in pdf._claim(big[-5:], timezone.now(), take_waiting=True)]
    print(json.dumps({"vendor": connection.vendor, "big": big, "small": small, "taken": taken}))
    """
)


def test_the_render_claim_deals_round_the_organizations_on_sqlite(tmp_path):
    result = _run_embedded(FAIR_SCRIPT, tmp_path)
    assert result["vendor"] == "sqlite"
    # As on PostgreSQL (test_pdf_fairness.py): dealt big, small, big, small,
    # then big alone: the small organization's 2 and the big one's 18 oldest.
    assert sorted(result["taken"]) == sorted([*result["small"], *result["big"][:18]])
