"""create_organization --einvoicing, seed_demo --einvoicing, validate_einvoice."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from invoicing.einvoice import validate
from invoicing.einvoice.cii import build_cii
from invoicing.einvoice.ubl import build_ubl
from invoicing.models import Invoice, Organization, PdfJob
from invoicing.services import pdf
from tests.einvoice.test_rules_catch import snapshot

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_organization_with_einvoicing_and_the_sellers_data():
    result = json.loads(
        _run("create_organization", "--name", "Acme", "--json", "--einvoicing",
             "--legal-name", "Acme Cloud SAS", "--tax-id", "FR 12 912345678", "--country", "FR",
             "--electronic-address", "FR12912345678", "--electronic-address-scheme", "9957",
             "--iban", "FR76 3000 6000 0112 3456 7890 189", "--bic", "AGRIFRPP")
    )  # fmt: skip
    organization = Organization.objects.get(pk=result["organization_id"])
    assert organization.einvoicing_enabled
    assert organization.tax_identification_number == "FR12912345678"
    assert organization.iban == "FR7630006000011234567890189"
    plain = json.loads(_run("create_organization", "--name", "Plain", "--json"))
    assert not Organization.objects.get(pk=plain["organization_id"]).einvoicing_enabled


def test_create_organization_refuses_a_bad_country():
    with pytest.raises(CommandError, match="refused.*country"):
        _run("create_organization", "--name", "Acme", "--einvoicing", "--country", "France")
    assert not Organization.objects.exists()


def test_seed_demo_einvoicing_issues_valid_einvoices(rules_compiled):
    result = json.loads(_run("seed_demo", "--invoices", "2", "--einvoicing", "--json"))
    assert result["einvoicing"] is True and result["einvoices_issued"] == 6
    organization = Organization.objects.get(pk=result["organization_id"])
    assert organization.einvoicing_enabled
    issued = Invoice.objects.filter(organization=organization).order_by("-sequential_id")[:6]
    for invoice in issued:
        job = invoice.pdf_jobs.get()
        assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
        job = PdfJob.objects.get(pk=job.pk)
        with default_storage.open(job.xml_storage_key) as handle:
            ubl = handle.read()
        with default_storage.open(job.storage_key) as handle:
            cii = validate.embedded_xml(handle.read())
        assert [str(f) for f in validate.validate_xml(ubl) if f.fatal] == []
        assert [str(f) for f in validate.validate_xml(cii) if f.fatal] == []
    # Once on, a second run changes nothing.
    again = json.loads(_run("seed_demo", "--einvoicing", "--json"))
    assert again["einvoices_issued"] == 0


def _validate(path) -> subprocess.CompletedProcess:
    # The command exits with its status: run it as operators do.
    return subprocess.run(
        [sys.executable, "manage.py", "validate_einvoice", str(path)],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "DEBUG": "1"},
        cwd=Path(__file__).resolve().parents[2], check=False,
    )  # fmt: skip


def test_validate_einvoice_prints_each_failing_rule(tmp_path, rules_compiled):
    good = tmp_path / "good.xml"
    good.write_bytes(build_ubl(snapshot()))
    bad = tmp_path / "bad.xml"
    bad.write_bytes(build_cii(snapshot(taxes_amount_cents=6_100)))
    ran = _validate(good)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "valid, 0 warning(s)"
    ran = _validate(bad)
    assert ran.returncode == 1
    # 61.00 of tax on 290.00 at 20 %, and 290.00 + 61.00 is not the total.
    assert "[BR-CO-17]" in ran.stdout and "[BR-CO-15]" in ran.stdout
    assert "INVALID" in ran.stdout.splitlines()[-1]
    missing = _validate(tmp_path / "missing.pdf")
    assert missing.returncode == 2 and "no such file" in missing.stderr
