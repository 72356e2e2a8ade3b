"""Same snapshot, same bytes; a different snapshot, different bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pypdf

from invoicing.pdf import RENDERER_VERSION, render_invoice_pdf
from invoicing.pdf.samples import (
    sample_aed_invoice,
    sample_cjk_customer_invoice,
    sample_eur_invoice,
)

ROOT = Path(__file__).resolve().parents[3]


def test_two_renders_give_identical_bytes() -> None:
    for snapshot in (sample_eur_invoice(), sample_aed_invoice(), sample_cjk_customer_invoice()):
        assert render_invoice_pdf(snapshot) == render_invoice_pdf(snapshot)


def test_identical_across_processes_and_hash_seeds() -> None:
    script = (
        "import hashlib, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from invoicing.pdf import render_invoice_pdf\n"
        "from invoicing.pdf.samples import sample_eur_invoice\n"
        "print(hashlib.sha256(render_invoice_pdf(sample_eur_invoice())).hexdigest())\n"
    )
    here = hashlib.sha256(render_invoice_pdf(sample_eur_invoice())).hexdigest()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SOURCE_DATE_EPOCH": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, check=True, text=True
        )
        assert out.stdout.strip() == here


def test_any_change_changes_the_bytes() -> None:
    base = sample_eur_invoice()
    reference = render_invoice_pdf(base)
    for changed in (
        dataclasses.replace(base, number=base.number + "X"),
        dataclasses.replace(
            base, total_paid_amount_cents=1, total_due_amount_cents=base.total_amount_cents - 1
        ),
        dataclasses.replace(base, status="voided"),
        dataclasses.replace(base, locale="de"),
    ):
        assert render_invoice_pdf(changed) != reference


def test_creation_date_and_metadata_come_from_the_snapshot() -> None:
    snapshot = sample_eur_invoice()
    reader = pypdf.PdfReader(io.BytesIO(render_invoice_pdf(snapshot)))
    info = reader.metadata
    assert info.creation_date == snapshot.created_at
    assert info.title == f"Invoice {snapshot.number}"
    assert RENDERER_VERSION in info.creator
    ids = reader.trailer["/ID"]
    other = pypdf.PdfReader(
        io.BytesIO(render_invoice_pdf(dataclasses.replace(snapshot, number="B-1")))
    )
    assert other.trailer["/ID"] != ids
