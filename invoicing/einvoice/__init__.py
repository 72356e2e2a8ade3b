"""E-invoices (EN 16931): pure functions from an invoice snapshot to bytes.

``render_einvoice(snapshot)`` gives the three artefacts of one invoice
version: the Factur-X PDF (PDF/A-3b with its CII XML embedded), the CII XML
and the UBL XML (Peppol BIS Billing 3.0). No Django import: the service
layer builds the snapshot (``invoicing.services.pdf.invoice_snapshot``) and
stores the bytes. Validation by the official rules is ``validate`` (tests
and ``manage.py validate_einvoice``), kept off the render path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from invoicing.einvoice.cii import cii_from_document
from invoicing.einvoice.document import INVOICE_TYPE_CODE, build_document
from invoicing.einvoice.pdfa import facturx_pdf
from invoicing.einvoice.ubl import ubl_from_document
from invoicing.pdf.snapshot import InvoiceSnapshot

__all__ = ["EInvoice", "render_einvoice", "einvoice_from_pdf"]


@dataclass(frozen=True)
class EInvoice:
    pdf: bytes  # Factur-X, PDF/A-3b
    cii: bytes  # embedded in the PDF as factur-x.xml
    ubl: bytes  # served beside the PDF (Lago's xml_url)


def einvoice_from_pdf(
    snapshot: InvoiceSnapshot,
    pdf: bytes,
    *,
    type_code: str = INVOICE_TYPE_CODE,
    preceding_invoice: tuple[str, dt.date] | None = None,
    payment_terms: str = "",
) -> EInvoice:
    """The e-invoice of ``snapshot`` around its already rendered ``pdf``. A
    credit note is ``type_code`` 381, ``snapshot`` its items and totals as
    an invoice's, with the invoice it corrects and what becomes of its money."""
    document = build_document(
        snapshot,
        type_code=type_code,
        preceding_invoice=preceding_invoice,
        payment_terms=payment_terms,
    )
    cii = cii_from_document(document)
    return EInvoice(
        pdf=facturx_pdf(pdf, cii, created_at=snapshot.created_at),
        cii=cii,
        ubl=ubl_from_document(document),
    )


def render_einvoice(snapshot: InvoiceSnapshot) -> EInvoice:
    from invoicing.pdf import render_invoice_pdf

    return einvoice_from_pdf(snapshot, render_invoice_pdf(snapshot))
