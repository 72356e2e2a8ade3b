"""Render one invoice to a PDF file, from the database or from a JSON
snapshot (docs/snapshot.md), so the layout can be iterated on without one."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from invoicing.models import Invoice
from invoicing.pdf import render_invoice_pdf
from invoicing.pdf.snapshot import snapshot_from_dict, snapshot_to_dict
from invoicing.selectors import parse_invoice_uuid
from invoicing.services.pdf import invoice_snapshot


class Command(BaseCommand):
    help = "Render an invoice (by id or number, or from a JSON snapshot) to a PDF file."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--invoice", help="Invoice id (UUID, hex, invoice_<hex>) or number")
        source.add_argument("--json", type=Path, help="A snapshot JSON file (docs/snapshot.md)")
        parser.add_argument("--organization", help="Organization id, to disambiguate a number")
        parser.add_argument("-o", "--output", type=Path, required=True, help="PDF file to write")
        parser.add_argument(
            "--dump-snapshot", type=Path, help="Also write the snapshot as JSON (from --invoice)"
        )

    def handle(self, *args, **options):
        if options["json"]:
            try:
                data = json.loads(options["json"].read_text(encoding="utf-8"))
                snapshot = snapshot_from_dict(data)
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read snapshot {options['json']}: {exc}") from exc
        else:
            snapshot = invoice_snapshot(self._find(options["invoice"], options["organization"]))
            if options["dump_snapshot"]:
                options["dump_snapshot"].write_text(
                    json.dumps(snapshot_to_dict(snapshot), indent=2, ensure_ascii=False)
                )
        pdf = render_invoice_pdf(snapshot)
        options["output"].write_bytes(pdf)
        self.stdout.write(f"{options['output']}: {len(pdf)} bytes, invoice {snapshot.number}")

    def _find(self, identifier: str, organization_id: str | None) -> Invoice:
        pk = parse_invoice_uuid(identifier)
        qs = Invoice.objects.all()
        if organization_id:
            qs = qs.filter(organization_id=organization_id)
        matches = list(qs.filter(pk=pk)[:2] if pk else qs.filter(number=identifier)[:2])
        if not matches:
            raise CommandError(f"no invoice {identifier!r}")
        if len(matches) > 1:
            raise CommandError(
                f"number {identifier!r} exists in several organizations: pass --organization"
            )
        return matches[0]
