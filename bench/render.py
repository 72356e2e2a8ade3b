"""Benchmark of the invoice PDF renderer (one process, one core).

    .venv/bin/python bench/render.py            # full run, about 10 s
    .venv/bin/python bench/render.py --quick    # fewer repetitions

Prints, for the one-page sample invoices (Latin: 5 fees, logo, metadata,
credits, shown as "5 (p1)"; Arabic, mirrored, in dirhams: "ar (p1)"; Japanese,
in yen: "ja (p1)") and invoices of 10, 200, 5,000 and 10,000 fees: the median
wall time per PDF (and the number of repetitions), PDFs per second on one
core, the ratio to the Latin page, pages, bytes, and the process's peak
resident memory so far. The first render of the process (fonts registered,
locale data loaded) is shown separately.

Targets (issue 13; figures, not a timed test): 1-page Latin <= 3 ms median,
5,000 fees <= 300 ms and < 80 MB, Arabic and Japanese pages <= 1.5x Latin.

    .venv/bin/python bench/render.py --einvoicing   # the e-invoice steps too

With ``--einvoicing``, each row also times what e-invoicing adds to that
render (the CII and UBL XML and the Factur-X PDF/A-3 assembly,
``invoicing.einvoice.einvoice_from_pdf``) and prints it as a share of the
render (issue 19's target: <= 20 % on the one-page invoices).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import re
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (row label, sample, repetitions).
SIZES = (
    ("5 (p1)", lambda s: s.sample_eur_invoice(), 200),
    ("ar (p1)", lambda s: s.sample_aed_invoice(), 200),
    ("ja (p1)", lambda s: s.sample_jpy_invoice(), 200),
    ("10", lambda s: s.sample_snapshot(10), 200),
    ("200", lambda s: s.sample_snapshot(200), 40),
    ("5000", lambda s: s.sample_snapshot(5_000), 5),
    ("10000", lambda s: s.sample_snapshot(10_000), 3),
)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the peak of the whole process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accelerated() -> bool:
    try:
        import _rl_accel  # noqa: F401
    except ImportError:
        return False
    return True


def einvoice_ready(snapshot):
    """The sample with what an e-invoice needs beyond the printed invoice
    (endpoints, a VAT category per line, a bank account)."""
    import dataclasses

    from invoicing.pdf.snapshot import EInvoiceTerms

    def with_endpoint(party, address, scheme):
        return dataclasses.replace(
            party, electronic_address=address, electronic_address_scheme=scheme
        )

    return dataclasses.replace(
        snapshot,
        fees=tuple(dataclasses.replace(f, vat_category_code="S") for f in snapshot.fees),
        organization=with_endpoint(snapshot.organization, "FR12912345678", "9957"),
        customer=with_endpoint(snapshot.customer, "DE123456789", "9930"),
        einvoice=EInvoiceTerms(buyer_reference="REF-1", iban="FR7630006000011234567890189"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the repetitions")
    parser.add_argument(
        "--einvoicing", action="store_true", help="also time the XML and PDF/A-3 steps"
    )
    args = parser.parse_args()

    # Imported here to time them: they are part of a worker's cold start.
    start = time.perf_counter()
    reportlab = importlib.import_module("reportlab")
    pdf_module = importlib.import_module("invoicing.pdf")
    samples = importlib.import_module("invoicing.pdf.samples")
    imported = time.perf_counter() - start
    render_invoice_pdf = pdf_module.render_invoice_pdf
    if args.einvoicing:
        from invoicing.einvoice import einvoice_from_pdf

    print(
        f"invoice PDF renderer {pdf_module.RENDERER_VERSION}, ReportLab {reportlab.Version}, "
        f"rl_accel {'on' if accelerated() else 'off'}, Python {platform.python_version()}"
    )
    flags = "".join(f" --{name}" for name in ("quick", "einvoicing") if getattr(args, name))
    print(f"command: .venv/bin/python bench/render.py{flags}\n")

    first = samples.sample_eur_invoice()
    start = time.perf_counter()
    render_invoice_pdf(first)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    render_invoice_pdf(first)
    second = time.perf_counter() - start
    print(f"imports (ReportLab, Babel, renderer): {imported * 1000:.0f} ms")
    print(
        f"first render in this process (cold: fonts, locale data): {cold * 1000:.1f} ms; "
        f"the same invoice again: {second * 1000:.1f} ms"
    )
    pdf_module.warm_up(("en", "ar", "ja"))
    print()
    header = (
        f"{'fees':>7} {'reps':>5} {'median ms':>10} {'min ms':>8} {'PDF/s':>8} "
        f"{'x Latin':>8} {'pages':>6} {'bytes':>10} {'peak RSS MB':>12}"
        + (f" {'e-inv ms':>9} {'+ %':>6}" if args.einvoicing else "")
    )
    print(header)
    print("-" * len(header))
    latin = None
    for label, make, reps in SIZES:
        if args.quick:
            reps = max(1, reps // 10)
        snapshot = make(samples)
        timings = []
        pdf = b""
        ready = einvoice_ready(snapshot) if args.einvoicing else None
        steps = []
        for _ in range(reps):
            start = time.perf_counter()
            pdf = render_invoice_pdf(snapshot)
            timings.append(time.perf_counter() - start)
            if ready is not None:
                # Right after the render it adds to, so both meet the same load.
                start = time.perf_counter()
                einvoice_from_pdf(ready, pdf)
                steps.append(time.perf_counter() - start)
        median = statistics.median(timings)
        latin = latin or median
        pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
        extra = ""
        if steps:
            step = statistics.median(steps)
            extra = f" {step * 1000:>9.2f} {step / median * 100:>5.1f}%"
        print(
            f"{label:>7} {reps:>5} {median * 1000:>10.1f} {min(timings) * 1000:>8.1f} "
            f"{1 / median:>8.1f} {median / latin:>8.2f} {pages:>6} {len(pdf):>10} "
            f"{peak_rss_mb():>12.1f}{extra}"
        )
    print(
        "\npeak RSS is ru_maxrss: the whole process's peak up to that row "
        "(interpreter, fonts and every render before it included)."
    )


if __name__ == "__main__":
    main()
