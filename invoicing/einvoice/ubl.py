"""OASIS UBL 2.1 Invoice, Peppol BIS Billing 3.0: the XML served beside the
PDF (Lago's ``xml_url``). Elements follow the order of the UBL 2.1 schema;
the business term each carries is named beside it (EN 16931-1)."""

from __future__ import annotations

from invoicing.einvoice.document import Document, build_document, decimal_text
from invoicing.einvoice.xml import Writer
from invoicing.pdf.snapshot import InvoiceSnapshot, Party

# BT-24 and BT-23 as Peppol BIS Billing 3.0 fixes them (PEPPOL-EN16931-R004,
# R007).
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

# The two UBL 2.1 documents Peppol BIS Billing 3.0 exchanges: each has its
# root, type code, line and quantity names (the rest is shared).
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NAMESPACES = {
    "": INVOICE_NS,
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def _tax_category(w: Writer, name: str, category: str, rate, reason="", code="") -> None:
    w.open(name)
    w.leaf("cbc:ID", category)
    if rate is not None:
        w.leaf("cbc:Percent", decimal_text(rate))
    w.opt("cbc:TaxExemptionReasonCode", code)
    w.opt("cbc:TaxExemptionReason", reason)
    w.raw("<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>")
    w.close(name)


def _party(w: Writer, name: str, party: Party, *, with_vat_id: bool) -> None:
    w.open(name)
    w.open("cac:Party")
    w.leaf(
        "cbc:EndpointID", party.electronic_address, schemeID=party.electronic_address_scheme
    )  # BT-34 / BT-49
    if party.name and party.name != party.legal_name:  # BT-28 / BT-45
        w.open("cac:PartyName")
        w.leaf("cbc:Name", party.name)
        w.close("cac:PartyName")
    a = party.address
    w.open("cac:PostalAddress")  # BG-5 / BG-8
    w.opt("cbc:StreetName", a.line1)
    w.opt("cbc:AdditionalStreetName", a.line2)
    w.opt("cbc:CityName", a.city)
    w.opt("cbc:PostalZone", a.zipcode)
    w.opt("cbc:CountrySubentity", a.state)
    w.open("cac:Country")
    w.leaf("cbc:IdentificationCode", a.country)
    w.close("cac:Country")
    w.close("cac:PostalAddress")
    if with_vat_id and party.tax_identification_number:  # BT-31 / BT-48
        w.open("cac:PartyTaxScheme")
        w.leaf("cbc:CompanyID", party.tax_identification_number.replace(" ", ""))
        w.raw("<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>")
        w.close("cac:PartyTaxScheme")
    w.open("cac:PartyLegalEntity")
    w.leaf("cbc:RegistrationName", party.legal_name or party.name)  # BT-27 / BT-44
    w.opt("cbc:CompanyID", party.legal_number)  # BT-30 / BT-47
    w.close("cac:PartyLegalEntity")
    if party.email:
        w.open("cac:Contact")
        w.leaf("cbc:ElectronicMail", party.email)
        w.close("cac:Contact")
    w.close("cac:Party")
    w.close(name)


def build_ubl(snapshot: InvoiceSnapshot) -> bytes:
    return ubl_from_document(build_document(snapshot))


def ubl_from_document(d: Document) -> bytes:
    s = d.snapshot
    amount = d.amount
    money = f' currencyID="{s.currency}"'
    if d.is_credit_note:
        root, type_tag, line_tag, quantity_tag = (
            "CreditNote", "cbc:CreditNoteTypeCode", "cac:CreditNoteLine", "cbc:CreditedQuantity"
        )  # fmt: skip
        w = Writer(root, {**NAMESPACES, "": CREDIT_NOTE_NS})
    else:
        root, type_tag, line_tag, quantity_tag = (
            "Invoice", "cbc:InvoiceTypeCode", "cac:InvoiceLine", "cbc:InvoicedQuantity"
        )  # fmt: skip
        w = Writer(root, NAMESPACES)
    w.raw(
        f"<cbc:CustomizationID>{CUSTOMIZATION_ID}</cbc:CustomizationID>"
        f"<cbc:ProfileID>{PROFILE_ID}</cbc:ProfileID>"
    )
    w.leaf("cbc:ID", s.number)  # BT-1
    w.leaf("cbc:IssueDate", s.issuing_date.isoformat())  # BT-2
    if not d.is_credit_note:  # a UBL credit note has no DueDate (BT-20 says it)
        w.leaf("cbc:DueDate", s.payment_due_date.isoformat())  # BT-9
    w.leaf(type_tag, d.type_code)  # BT-3
    w.opt("cbc:Note", s.invoice_footer)  # BT-22
    w.leaf("cbc:DocumentCurrencyCode", s.currency)  # BT-5
    terms = s.einvoice
    if terms and terms.buyer_reference:
        w.leaf("cbc:BuyerReference", terms.buyer_reference)  # BT-10
    if d.period:  # BG-14
        w.raw(
            f"<cac:InvoicePeriod><cbc:StartDate>{d.period[0].isoformat()}</cbc:StartDate>"
            f"<cbc:EndDate>{d.period[1].isoformat()}</cbc:EndDate></cac:InvoicePeriod>"
        )
    if s.purchase_order_number:  # BT-13
        w.open("cac:OrderReference")
        w.leaf("cbc:ID", s.purchase_order_number)
        w.close("cac:OrderReference")
    if d.preceding_invoice:  # BG-3
        number, issued = d.preceding_invoice
        w.raw("<cac:BillingReference><cac:InvoiceDocumentReference>")
        w.leaf("cbc:ID", number)  # BT-25
        w.leaf("cbc:IssueDate", issued.isoformat())  # BT-26
        w.raw("</cac:InvoiceDocumentReference></cac:BillingReference>")
    _party(w, "cac:AccountingSupplierParty", s.organization, with_vat_id=d.with_vat_ids)
    _party(w, "cac:AccountingCustomerParty", s.customer, with_vat_id=d.with_vat_ids)
    is_intra_eu = any(v.category == "K" for v in d.vat)
    if d.delivery_date or is_intra_eu:  # BG-13
        w.open("cac:Delivery")
        if d.delivery_date:  # BT-72
            w.leaf("cbc:ActualDeliveryDate", d.delivery_date.isoformat())
        if is_intra_eu:  # BR-IC-12
            w.raw("<cac:DeliveryLocation><cac:Address><cac:Country>")
            w.leaf("cbc:IdentificationCode", s.customer.address.country)
            w.raw("</cac:Country></cac:Address></cac:DeliveryLocation>")
        w.close("cac:Delivery")
    # A credit note's money goes back to the buyer: no account to pay into.
    if terms and terms.iban and not d.is_credit_note:  # BG-16
        w.open("cac:PaymentMeans")
        w.leaf("cbc:PaymentMeansCode", d.payment_means_code)  # BT-81
        w.leaf("cbc:PaymentID", s.number)  # BT-83
        w.open("cac:PayeeFinancialAccount")
        w.leaf("cbc:ID", terms.iban.replace(" ", ""))  # BT-84
        if terms.bic:
            w.open("cac:FinancialInstitutionBranch")
            w.leaf("cbc:ID", terms.bic.replace(" ", ""))  # BT-86
            w.close("cac:FinancialInstitutionBranch")
        w.close("cac:PayeeFinancialAccount")
        w.close("cac:PaymentMeans")
    if d.is_credit_note:
        w.open("cac:PaymentTerms")
        w.leaf("cbc:Note", d.payment_terms or "-")  # BT-20
        w.close("cac:PaymentTerms")
    for allowance in d.allowances:  # BG-20
        w.raw("<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>")
        w.leaf("cbc:AllowanceChargeReason", allowance.reason)  # BT-97
        w.raw(f"<cbc:Amount{money}>{amount(allowance.amount_cents)}</cbc:Amount>")  # BT-92
        _tax_category(w, "cac:TaxCategory", allowance.category, allowance.rate)
        w.close("cac:AllowanceCharge")
    w.raw(f"<cac:TaxTotal><cbc:TaxAmount{money}>{amount(d.tax_total_cents)}</cbc:TaxAmount>")
    for entry in d.vat:  # BG-23
        w.raw(
            f"<cac:TaxSubtotal><cbc:TaxableAmount{money}>{amount(entry.taxable_cents)}"
            f"</cbc:TaxableAmount><cbc:TaxAmount{money}>{amount(entry.tax_cents)}</cbc:TaxAmount>"
        )
        _tax_category(
            w, "cac:TaxCategory", entry.category, entry.rate,
            entry.exemption_reason, entry.exemption_code,
        )  # fmt: skip
        w.close("cac:TaxSubtotal")
    w.close("cac:TaxTotal")
    w.raw(
        "<cac:LegalMonetaryTotal>"
        f"<cbc:LineExtensionAmount{money}>{amount(d.line_total_cents)}</cbc:LineExtensionAmount>"
        f"<cbc:TaxExclusiveAmount{money}>{amount(d.tax_basis_cents)}</cbc:TaxExclusiveAmount>"
        f"<cbc:TaxInclusiveAmount{money}>{amount(d.grand_total_cents)}</cbc:TaxInclusiveAmount>"
    )
    if d.allowances:
        w.raw(
            f"<cbc:AllowanceTotalAmount{money}>{amount(d.allowance_total_cents)}"
            "</cbc:AllowanceTotalAmount>"
        )
    if d.paid_cents:
        w.raw(f"<cbc:PrepaidAmount{money}>{amount(d.paid_cents)}</cbc:PrepaidAmount>")
    w.raw(
        f"<cbc:PayableAmount{money}>{amount(d.due_cents)}</cbc:PayableAmount>"
        "</cac:LegalMonetaryTotal>"
    )
    line_categories: dict = {}
    for line in d.lines:  # BG-25
        w.raw(f"<{line_tag}><cbc:ID>{line.index}</cbc:ID>")
        w.leaf(quantity_tag, decimal_text(line.quantity), unitCode=line.unit_code)
        w.raw(f"<cbc:LineExtensionAmount{money}>{amount(line.net_cents)}</cbc:LineExtensionAmount>")
        if line.start or line.end:  # BG-26
            w.open("cac:InvoicePeriod")
            if line.start:
                w.leaf("cbc:StartDate", line.start.isoformat())
            if line.end:
                w.leaf("cbc:EndDate", line.end.isoformat())
            w.close("cac:InvoicePeriod")
        w.open("cac:Item")
        w.opt("cbc:Description", line.description)  # BT-154
        w.leaf("cbc:Name", line.name or "-")  # BT-153
        # Lines share a handful of categories: each is written once.
        key = (line.category, line.rate)
        fragment = line_categories.get(key)
        if fragment is None:
            part = Writer.fragment()
            _tax_category(part, "cac:ClassifiedTaxCategory", line.category, line.rate)
            fragment = line_categories[key] = "".join(part.out)
        w.raw(fragment)
        w.close("cac:Item")
        w.raw(
            f"<cac:Price><cbc:PriceAmount{money}>{decimal_text(line.price)}</cbc:PriceAmount>"
            f"</cac:Price></{line_tag}>"
        )
    return w.bytes()
