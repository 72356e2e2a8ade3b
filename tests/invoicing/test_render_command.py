import json

import pytest
from django.core.management import CommandError, call_command

from invoicing.pdf.snapshot import snapshot_from_dict
from tests.factories import make_invoice, make_organization
from tests.pdftext import pdf_text

pytestmark = pytest.mark.django_db


def test_render_by_number_and_by_id_and_from_its_snapshot(tmp_path):
    organization, _ = make_organization()
    invoice = make_invoice(organization, purchase_order_number="PO-77")
    by_number, by_id, from_json = (tmp_path / n for n in ("a.pdf", "b.pdf", "c.pdf"))
    snapshot_file = tmp_path / "snapshot.json"
    call_command("render_invoice", "--invoice", invoice.number, "-o", str(by_number),
                 "--dump-snapshot", str(snapshot_file))  # fmt: skip
    call_command("render_invoice", "--invoice", invoice.lotus_id, "-o", str(by_id))
    call_command("render_invoice", "--json", str(snapshot_file), "-o", str(from_json))
    text = pdf_text(by_number.read_bytes())
    assert invoice.number in text and "PO-77" in text
    # Same snapshot, same renderer: the same bytes whichever way it was found.
    assert by_number.read_bytes() == by_id.read_bytes() == from_json.read_bytes()
    snapshot = snapshot_from_dict(json.loads(snapshot_file.read_text()))
    assert snapshot.total_due_amount_cents == invoice.total_due_amount_cents


def test_an_ambiguous_number_needs_the_organization(tmp_path):
    first, _ = make_organization()
    second, _ = make_organization()
    a, b = make_invoice(first), make_invoice(second)
    assert a.number == b.number
    with pytest.raises(CommandError, match="--organization"):
        call_command("render_invoice", "--invoice", a.number, "-o", str(tmp_path / "x.pdf"))
    call_command("render_invoice", "--invoice", a.number, "--organization", str(second.id),
                 "-o", str(tmp_path / "x.pdf"))  # fmt: skip
    assert (tmp_path / "x.pdf").exists()


def test_a_bad_snapshot_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x"}')
    with pytest.raises(CommandError, match="cannot read snapshot"):
        call_command("render_invoice", "--json", str(bad), "-o", str(tmp_path / "y.pdf"))
