"""Regenerate the reference renders in docs/pdf/ from the sample snapshots.

    .venv/bin/python scripts/render_reference_pngs.py

Needs pdftoppm (poppler-utils). Every font is embedded in the PDFs, so the
PNGs look the same on a machine with no CJK font installed.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


OUT = ROOT / "docs" / "pdf"


def _renders():
    """(file name, snapshot builder, page to show): imported here, after the
    checkout is on the path."""
    from invoicing.pdf import samples

    return [
        ("invoice-en-eur", lambda: samples.sample_eur_invoice(), 1),
        ("invoice-fr-eur", lambda: samples.sample_eur_invoice("fr"), 1),
        ("invoice-ja-jpy", samples.sample_jpy_invoice, 1),
        ("invoice-zh-cn", lambda: samples.sample_cjk_customer_invoice("zh-CN"), 1),
        ("invoice-ar-aed", samples.sample_aed_invoice, 1),
        ("invoice-bhd", samples.sample_bhd_invoice, 1),
        (
            "invoice-us-letter",
            lambda: dataclasses.replace(
                samples.sample_eur_invoice(),
                paper_size="LETTER",
                customer=dataclasses.replace(
                    samples.sample_eur_invoice().customer,
                    address=samples.Address(
                        line1="1 Main St",
                        city="Springfield",
                        state="IL",
                        zipcode="62701",
                        country="US",
                    ),
                ),
            ),
            1,
        ),
        ("invoice-voided", samples.sample_voided_invoice, 1),
        ("invoice-long-names", samples.sample_long_names_invoice, 1),
        ("invoice-500-fees-page-2", lambda: samples.sample_snapshot(500), 2),
    ]


def main() -> None:
    from invoicing.pdf import render_invoice_pdf

    with tempfile.TemporaryDirectory() as tmp:
        for name, make, page in _renders():
            pdf = Path(tmp) / f"{name}.pdf"
            pdf.write_bytes(render_invoice_pdf(make()))
            subprocess.run(
                ["pdftoppm", "-r", "60", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                 str(pdf), str(OUT / name)],
                check=True,
            )  # fmt: skip
            print(f"docs/pdf/{name}.png")


if __name__ == "__main__":
    main()
