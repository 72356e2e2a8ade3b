"""The Factur-X PDF: ReportLab's invoice made PDF/A-3b, with its CII XML
embedded as an associated file.

What is added to the rendered PDF (page content is not touched):

- an sRGB output intent (``/OutputIntents``, ``GTS_PDFA1``) with a vendored
  ICC profile (``icc/``, CC0): the pages paint in DeviceRGB, which PDF/A
  allows once an RGB output intent says what it means;
- ``factur-x.xml`` as an embedded file (MIME ``text/xml``, size, dates,
  checksum) in the document's ``/Names /EmbeddedFiles`` and in the catalog's
  ``/AF`` array, with ``/AFRelationship /Alternative``: Factur-X 1.0 asks
  for Alternative at the EN 16931 profile (the XML is the invoice in
  another form; Data is for MINIMUM and BASIC WL);
- an XMP packet carrying the PDF/A identification (``pdfaid:part`` 3,
  ``pdfaid:conformance`` B), the Factur-X properties and their PDF/A
  extension schema description, and the document info (title, author,
  subject, creator tool, producer, dates) with the same values as the
  info dictionary, as PDF/A requires; the info dictionary loses the empty
  Keywords and the Trapped entry ReportLab writes, which the XMP would have
  to repeat;
- the header says PDF 1.7 (associated files are a PDF 2.0 feature PDF/A-3
  takes into ISO 32000-1).

The fonts are ReportLab's embedded TrueType subsets already. Deterministic:
every date is the snapshot's ``created_at`` (ReportLab's dates already are)
and the document ID stays ReportLab's content digest.

Written by hand rather than through pikepdf: ReportLab's file is simple and
known (one classic cross-reference table, no object streams, the catalog
and info as plain dictionaries), so the catalog and info are replaced in
place, the new objects appended and the table rewritten, in about 0.1 ms; a
pikepdf open-and-save costs 1.5 ms at best (8 ms if it recompresses), half a
one-page render, against the issue's 20 % budget. pikepdf reads the result
back in the tests (structure, attachment, XMP) and in ``validate``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zlib
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

ICC_PATH = Path(__file__).resolve().parent / "icc" / "sRGB-v2-magic.icc"
ATTACHMENT_NAME = "factur-x.xml"
# The Factur-X 1.0 XMP namespace and the profile name it gives EN 16931.
FACTURX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
CONFORMANCE_LEVEL = "EN 16931"
FACTURX_PROPERTIES = (
    ("DocumentFileName", "The name of the embedded XML document"),
    ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE"),
    ("Version", "The version of the Factur-X XML schema"),
    ("ConformanceLevel", "The conformance level of the embedded XML"),
)


@cache
def _icc_profile() -> bytes:
    return ICC_PATH.read_bytes()


@cache
def _compressed_icc_profile() -> bytes:
    return zlib.compress(_icc_profile(), 6)


def _pdf_date(when: dt.datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    offset = int((when.utcoffset() or dt.timedelta(0)).total_seconds() // 60)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset), 60)
    return f"D:{when:%Y%m%d%H%M%S}{sign}{hours:02d}'{minutes:02d}'"


def _xmp_date(when: dt.datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.replace(microsecond=0).isoformat()


def _xmp(info: dict[str, str], when: dt.datetime) -> bytes:
    def text(value: str) -> str:
        return escape(value)

    date = _xmp_date(when)
    properties = "".join(
        "<rdf:li rdf:parseType='Resource'>"
        f"<pdfaProperty:name>{name}</pdfaProperty:name>"
        "<pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{text(description)}</pdfaProperty:description>"
        "</rdf:li>"
        for name, description in FACTURX_PROPERTIES
    )
    packet = (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
        "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        "<rdf:Description rdf:about='' xmlns:pdfaid='http://www.aiim.org/pdfa/ns/id/'>"
        "<pdfaid:part>3</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
        "</rdf:Description>"
        "<rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
        "<dc:format>application/pdf</dc:format>"
        f"<dc:title><rdf:Alt><rdf:li xml:lang='x-default'>{text(info['Title'])}</rdf:li>"
        "</rdf:Alt></dc:title>"
        f"<dc:creator><rdf:Seq><rdf:li>{text(info['Author'])}</rdf:li></rdf:Seq></dc:creator>"
        f"<dc:description><rdf:Alt><rdf:li xml:lang='x-default'>{text(info['Subject'])}"
        "</rdf:li></rdf:Alt></dc:description>"
        "</rdf:Description>"
        "<rdf:Description rdf:about='' xmlns:pdf='http://ns.adobe.com/pdf/1.3/'>"
        f"<pdf:Producer>{text(info['Producer'])}</pdf:Producer>"
        "</rdf:Description>"
        "<rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/'>"
        f"<xmp:CreatorTool>{text(info['Creator'])}</xmp:CreatorTool>"
        f"<xmp:CreateDate>{date}</xmp:CreateDate><xmp:ModifyDate>{date}</xmp:ModifyDate>"
        f"<xmp:MetadataDate>{date}</xmp:MetadataDate>"
        "</rdf:Description>"
        f"<rdf:Description rdf:about='' xmlns:fx='{FACTURX_NS}'>"
        "<fx:DocumentType>INVOICE</fx:DocumentType>"
        f"<fx:DocumentFileName>{ATTACHMENT_NAME}</fx:DocumentFileName>"
        "<fx:Version>1.0</fx:Version>"
        f"<fx:ConformanceLevel>{CONFORMANCE_LEVEL}</fx:ConformanceLevel>"
        "</rdf:Description>"
        "<rdf:Description rdf:about=''"
        " xmlns:pdfaExtension='http://www.aiim.org/pdfa/ns/extension/'"
        " xmlns:pdfaSchema='http://www.aiim.org/pdfa/ns/schema#'"
        " xmlns:pdfaProperty='http://www.aiim.org/pdfa/ns/property#'>"
        "<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType='Resource'>"
        "<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>"
        f"<pdfaSchema:namespaceURI>{FACTURX_NS}</pdfaSchema:namespaceURI>"
        "<pdfaSchema:prefix>fx</pdfaSchema:prefix>"
        f"<pdfaSchema:property><rdf:Seq>{properties}</rdf:Seq></pdfaSchema:property>"
        "</rdf:li></rdf:Bag></pdfaExtension:schemas>"
        "</rdf:Description>"
        "</rdf:RDF></x:xmpmeta>"
        "<?xpacket end='w'?>"
    )
    return packet.encode("utf-8")


class UnexpectedPdf(ValueError):
    """The PDF is not the kind ReportLab writes (classic xref, plain objects)."""


_TRAILER = re.compile(rb"trailer\s*<<(.*?)>>\s*startxref\s*(\d+)\s*%%EOF\s*$", re.S)
_REF = re.compile(rb"/(Root|Info|Size)\s+(\d+)(?:\s+0\s+R)?")
_ID = re.compile(rb"/ID\s*\[\s*<([0-9a-fA-F]*)>\s*<([0-9a-fA-F]*)>\s*\]")
_XREF = re.compile(rb"xref\s+0\s+(\d+)\s+")
_STRING_ENTRY = re.compile(rb"/(\w+)\s*\(((?:\\.|[^\\)])*)\)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _literal(raw: bytes) -> str:
    """The text of a PDF literal string's inside (ReportLab's escapes)."""
    if b"\\" not in raw:
        return raw.decode("latin-1")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        else:
            nxt = raw[i + 1 : i + 2]
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    data = bytes(out)
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    return data.decode("latin-1")


def _object_span(pdf: bytes, offset: int) -> tuple[int, int]:
    end = pdf.index(b"endobj", offset) + len(b"endobj")
    if pdf[end : end + 1] == b"\n":
        end += 1
    return offset, end


def _stream_object(number: int, data: bytes, extra: str, *, flate: bool = True) -> bytes:
    """A stream object; ``flate``: ``data`` is already Flate-compressed."""
    filter_entry = "/Filter /FlateDecode " if flate else ""
    return (
        (f"{number} 0 obj\n<< {filter_entry}/Length {len(data)} {extra} >>\nstream\n").encode()
        + data
        + b"\nendstream\nendobj\n"
    )


# A one-page invoice's XML is about 11 KB: compressing it would cost a fifth
# of the e-invoice steps' time to save 9 KB. Larger ones are compressed
# (level 1: a third of level 6's time for 10 % more bytes).
COMPRESS_XML_FROM = 64 * 1024


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def facturx_pdf(pdf: bytes, xml: bytes, *, created_at: dt.datetime) -> bytes:
    """``pdf`` (ReportLab's rendering) as a Factur-X PDF/A-3b carrying ``xml``."""
    trailer = _TRAILER.search(pdf, len(pdf) - 2048)
    if trailer is None:
        raise UnexpectedPdf("no classic trailer at the end of the file")
    refs = {name.decode(): int(number) for name, number in _REF.findall(trailer.group(1))}
    ids = _ID.search(trailer.group(1))
    xref_at = int(trailer.group(2))
    table = _XREF.match(pdf, xref_at)
    if table is None or ids is None or {"Root", "Info", "Size"} - set(refs):
        raise UnexpectedPdf("the trailer lacks its xref table, /ID, /Root, /Info or /Size")
    size = refs["Size"]
    rows = pdf[table.end() : table.end() + 20 * size]
    offsets = [int(rows[20 * n : 20 * n + 10]) for n in range(size)]

    root_start, root_end = _object_span(pdf, offsets[refs["Root"]])
    info_start, info_end = _object_span(pdf, offsets[refs["Info"]])
    catalog = pdf[root_start:root_end]
    info = pdf[info_start:info_end]
    values = {k.decode(): _literal(v) for k, v in _STRING_ENTRY.findall(info)}

    when = _pdf_date(created_at)
    icc, embedded, filespec, metadata = size, size + 1, size + 2, size + 3
    new_info = re.sub(rb"\s*/Keywords\s*\((?:\\.|[^\\)])*\)|\s*/Trapped\s*/\w+", b"", info)
    close = catalog.rindex(b">>")
    new_catalog = (
        catalog[:close]
        + (
            f"/Version /1.7 /Metadata {metadata} 0 R "
            f"/OutputIntents [<< /Type /OutputIntent /S /GTS_PDFA1 "
            f"/OutputConditionIdentifier (sRGB IEC61966-2.1) /Info (sRGB IEC61966-2.1) "
            f"/RegistryName (http://www.color.org) /DestOutputProfile {icc} 0 R >>] "
            f"/Names << /EmbeddedFiles << /Names [({ATTACHMENT_NAME}) {filespec} 0 R] >> >> "
            f"/AF [{filespec} 0 R]\n"
        ).encode()
        + catalog[close:]
    )

    checksum = hashlib.md5(xml, usedforsecurity=False).hexdigest()
    appended = [
        _stream_object(icc, _compressed_icc_profile(), "/N 3"),
        _stream_object(
            embedded,
            zlib.compress(xml, 1) if len(xml) >= COMPRESS_XML_FROM else xml,
            f"/Type /EmbeddedFile /Subtype /text#2Fxml /Params << /Size {len(xml)} "
            f"/CreationDate ({when}) /ModDate ({when}) /CheckSum <{checksum}> >>",
            flate=len(xml) >= COMPRESS_XML_FROM,
        ),
        (
            f"{filespec} 0 obj\n<< /Type /Filespec /F ({ATTACHMENT_NAME}) "
            f"/UF ({ATTACHMENT_NAME}) /Desc {_pdf_string('Factur-X invoice (EN 16931)')} "
            f"/AFRelationship /Alternative /EF << /F {embedded} 0 R /UF {embedded} 0 R >> >>\n"
            "endobj\n"
        ).encode(),
        _metadata_object(metadata, _xmp(values, created_at)),
    ]

    # The body with the catalog and the info replaced where they were; every
    # object after them moves by the difference.
    replaced = sorted([(root_start, root_end, new_catalog), (info_start, info_end, new_info)])
    body = bytearray(b"%PDF-1.7" + pdf[8 : replaced[0][0]])
    shifts = []
    for index, (start, end, text) in enumerate(replaced):
        shifts.append((start, len(text) - (end - start)))
        body += text
        following = replaced[index + 1][0] if index + 1 < len(replaced) else xref_at
        body += pdf[end:following]
    new_offsets = []
    for offset in offsets:
        new_offsets.append(offset + sum(delta for at, delta in shifts if offset > at))
    for part in appended:
        new_offsets.append(len(body))
        body += part

    count = size + len(appended)
    xref = [f"xref\n0 {count}\n", "0000000000 65535 f \n"]
    xref += [f"{offset:010d} 00000 n \n" for offset in new_offsets[1:]]
    first_id = ids.group(1).decode()
    # The second ID names this revision of the file: ReportLab's digest and
    # the XML's, so it is as deterministic as the rest.
    second_id = hashlib.md5((first_id + checksum).encode(), usedforsecurity=False).hexdigest()
    xref.append(
        f"trailer\n<< /ID [<{first_id}><{second_id}>] /Info {refs['Info']} 0 R "
        f"/Root {refs['Root']} 0 R /Size {count} >>\nstartxref\n{len(body)}\n%%EOF\n"
    )
    return bytes(body) + "".join(xref).encode()


def _metadata_object(number: int, xmp: bytes) -> bytes:
    # PDF/A wants the XMP readable without decoding: no filter.
    return (
        (
            f"{number} 0 obj\n<< /Type /Metadata /Subtype /XML /Length {len(xmp)} >>\nstream\n"
        ).encode()
        + xmp
        + b"\nendstream\nendobj\n"
    )
