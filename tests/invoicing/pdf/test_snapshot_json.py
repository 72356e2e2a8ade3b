"""The JSON form of a snapshot round-trips, and the documented example is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf.samples import SAMPLES, sample_eur_invoice
from invoicing.pdf.snapshot import SNAPSHOT_VERSION, snapshot_from_dict, snapshot_to_dict
from tests.invoicing.pdf.pdftools import pages_text

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "snapshot-example.json"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_json_round_trip(name: str) -> None:
    snapshot = SAMPLES[name]()
    data = json.loads(json.dumps(snapshot_to_dict(snapshot), ensure_ascii=False))
    assert data["snapshot_version"] == SNAPSHOT_VERSION
    again = snapshot_from_dict(data)
    assert again == snapshot
    assert render_invoice_pdf(again) == render_invoice_pdf(snapshot)


def test_documented_example_is_the_eur_sample_and_renders() -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    snapshot = snapshot_from_dict(data)
    assert snapshot == sample_eur_invoice()
    assert snapshot.number in pages_text(render_invoice_pdf(snapshot))[0]


def test_bad_input_is_a_value_error() -> None:
    data = snapshot_to_dict(sample_eur_invoice())
    with pytest.raises(ValueError):
        snapshot_from_dict({**data, "snapshot_version": 99})
    broken = dict(data)
    del broken["created_at"]
    with pytest.raises(ValueError):
        snapshot_from_dict(broken)
