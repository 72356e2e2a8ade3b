"""The Factur-X PDF's PDF/A-3b structure, read back with pikepdf and poppler.

What this proves: the file parses cleanly (qpdf finds no syntax problem,
poppler reads it), says PDF 1.7, every font the pages use is embedded (a
subset with its font program), there is one sRGB output intent of type
GTS_PDFA1 with a 3-component ICC profile, the XMP declares pdfaid:part 3 and
conformance B and the Factur-X properties with their extension schema, its
title/author/subject/creator/producer/dates equal the document info's, the
info has no entry the XMP lacks, and factur-x.xml is embedded (text/xml,
size, dates, checksum) both in /Names and /AF with AFRelationship
/Alternative, its bytes the CII the job stored.

What it does not prove (veraPDF is not available here): the whole PDF/A-3
rule set, e.g. glyph widths consistent between the font dictionaries and the
font programs, the ICC profile's own validity, every colour space of every
content stream. The Factur-X XML itself is proven by the official rules
(test_pipeline.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import subprocess

import pikepdf
from lxml import etree

from invoicing.einvoice import render_einvoice
from invoicing.einvoice.pdfa import FACTURX_NS
from invoicing.pdf.samples import (
    sample_aed_invoice,
    sample_eur_invoice,
    sample_jpy_invoice,
    sample_snapshot,
)
from tests.einvoice.test_rules_catch import snapshot

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "fx": FACTURX_NS,
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
}


def einvoice_of(base):
    """A sample invoice (logo, footer, several rates, credits) with the
    e-invoice data added."""
    ready = snapshot()
    fees = tuple(dataclasses.replace(f, vat_category_code="S") for f in base.fees)
    return dataclasses.replace(
        base,
        fees=fees,
        einvoice=ready.einvoice,
        organization=dataclasses.replace(
            base.organization, electronic_address="FR12912345678", electronic_address_scheme="9957"
        ),
        customer=dataclasses.replace(
            base.customer, electronic_address="DE123456789", electronic_address_scheme="9930"
        ),
    )


def poppler(tool: str, data: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    return subprocess.run(
        [tool, *args, str(path)], check=True, capture_output=True, text=True
    ).stdout


def test_the_pdf_is_pdfa_3b_with_its_xml_attached(tmp_path):
    made = render_einvoice(einvoice_of(sample_eur_invoice()))
    document = pikepdf.open(io.BytesIO(made.pdf))
    assert document.check_pdf_syntax() == []
    assert document.pdf_version == "1.7" and made.pdf.startswith(b"%PDF-1.7\n%")

    (intent,) = document.Root.OutputIntents
    assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
    profile = intent.DestOutputProfile.read_bytes()
    assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "  # an ICC RGB profile

    (filespec,) = document.Root.AF
    assert filespec.AFRelationship == "/Alternative"
    assert str(filespec.F) == str(filespec.UF) == "factur-x.xml"
    names = document.Root.Names.EmbeddedFiles.Names
    assert str(names[0]) == "factur-x.xml" and names[1].objgen == filespec.objgen
    stream = filespec.EF.F
    assert stream.Subtype == "/text/xml"
    attached = stream.read_bytes()
    assert attached == made.cii
    assert int(stream.Params.Size) == len(made.cii)
    assert bytes(stream.Params.CheckSum) == hashlib.md5(made.cii, usedforsecurity=False).digest()

    xmp = etree.fromstring(document.Root.Metadata.read_bytes())
    assert document.Root.Metadata.get("/Filter") is None
    assert xmp.findtext(".//pdfaid:part", namespaces=NS) == "3"
    assert xmp.findtext(".//pdfaid:conformance", namespaces=NS) == "B"
    assert xmp.findtext(".//fx:ConformanceLevel", namespaces=NS) == "EN 16931"
    assert xmp.findtext(".//fx:DocumentFileName", namespaces=NS) == "factur-x.xml"
    assert xmp.findtext(".//fx:DocumentType", namespaces=NS) == "INVOICE"
    assert xmp.findtext(".//pdfaSchema:namespaceURI", namespaces=NS) == FACTURX_NS

    info = document.docinfo
    assert set(info.keys()) == {
        "/Title", "/Author", "/Subject", "/Creator", "/Producer", "/CreationDate", "/ModDate",
    }  # fmt: skip
    assert xmp.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=NS) == str(info.Title)
    assert xmp.findtext(".//dc:creator/rdf:Seq/rdf:li", namespaces=NS) == str(info.Author)
    assert xmp.findtext(".//dc:description/rdf:Alt/rdf:li", namespaces=NS) == str(info.Subject)
    assert xmp.findtext(".//xmp:CreatorTool", namespaces=NS) == str(info.Creator)
    assert xmp.findtext(".//pdf:Producer", namespaces=NS) == str(info.Producer)
    # The invoice's created_at, 2025-02-01 09:30 UTC, in both forms.
    assert str(info.CreationDate) == str(info.ModDate) == "D:20250201093000+00'00'"
    assert xmp.findtext(".//xmp:CreateDate", namespaces=NS) == "2025-02-01T09:30:00+00:00"
    assert xmp.findtext(".//xmp:ModifyDate", namespaces=NS) == "2025-02-01T09:30:00+00:00"

    fonts = poppler("pdffonts", made.pdf, tmp_path).splitlines()[2:]
    assert fonts and all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts)
    assert "factur-x.xml" in poppler("pdfdetach", made.pdf, tmp_path, "-list")
    assert re.search(r"^PDF version:\s+1\.7$", poppler("pdfinfo", made.pdf, tmp_path), re.M)
    # The pages still read as the invoice.
    text = subprocess.run(
        ["pdftotext", "-q", str(tmp_path / "invoice.pdf"), "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "ACM-2025-0042" in text


def test_a_non_latin_title_reads_the_same_in_the_info_and_the_xmp():
    made = render_einvoice(einvoice_of(sample_aed_invoice()))
    document = pikepdf.open(io.BytesIO(made.pdf))
    xmp = etree.fromstring(document.Root.Metadata.read_bytes())
    title = str(document.docinfo.Title)
    assert title.endswith("AE-2025-0012") and not title.isascii()
    assert xmp.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=NS) == title


def test_two_renders_of_one_version_are_byte_identical():
    first = render_einvoice(einvoice_of(sample_eur_invoice()))
    second = render_einvoice(einvoice_of(sample_eur_invoice()))
    assert first.pdf == second.pdf and first.cii == second.cii and first.ubl == second.ubl
    # Another invoice gets another second ID (the file's revision), the same
    # scheme of the first (ReportLab's content digest).
    other = render_einvoice(einvoice_of(dataclasses.replace(sample_eur_invoice(), number="X-1")))
    assert (
        pikepdf.open(io.BytesIO(other.pdf)).trailer.ID[1]
        != (pikepdf.open(io.BytesIO(first.pdf)).trailer.ID[1])
    )


def test_a_long_invoices_xml_is_attached_compressed():
    made = render_einvoice(einvoice_of(sample_snapshot(400)))
    assert len(made.cii) > 64 * 1024
    document = pikepdf.open(io.BytesIO(made.pdf))
    assert document.check_pdf_syntax() == []
    stream = document.Root.AF[0].EF.F
    assert stream.Filter == "/FlateDecode" and stream.read_bytes() == made.cii
    assert int(stream.Params.Size) == len(made.cii)


def test_every_font_of_a_japanese_invoice_is_embedded(tmp_path):
    made = render_einvoice(einvoice_of(sample_jpy_invoice()))
    fonts = poppler("pdffonts", made.pdf, tmp_path).splitlines()[2:]
    assert len(fonts) >= 2  # DejaVu and the Japanese font
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts)
