"""OASIS UBL 2.1 Invoice, Peppol BIS Billing 3.0: the XML served beside the
PDF (Lago's ``xml_url``). Elements follow the order of the UBL 2.1 schema;
the business term each carries is named beside it (EN 16931-1)."""

from __future__ import annotations

from invoicing.einvoice.document import Document, build_document, decimal_text
from invoicing.einvoice.xml import Builder
from invoicing.pdf.snapshot import InvoiceSnapshot, Party

# BT-24 and BT-23 as Peppol BIS Billing 3.0 fixes them (PEPPOL-EN16931-R004,
# R007).
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

_B = Builder(
    {
        "": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    }
)


def _tax_category(parent, name: str, category: str, rate, reason: str = "", code: str = ""):
    node = _B.sub(parent, name)
    _B.sub(node, "cbc:ID", category)
    if rate is not None:
        _B.sub(node, "cbc:Percent", decimal_text(rate))
    _B.opt(node, "cbc:TaxExemptionReasonCode", code)
    _B.opt(node, "cbc:TaxExemptionReason", reason)
    scheme = _B.sub(node, "cac:TaxScheme")
    _B.sub(scheme, "cbc:ID", "VAT")


def _party(parent, name: str, party: Party, *, with_vat_id: bool) -> None:
    holder = _B.sub(parent, name)
    node = _B.sub(holder, "cac:Party")
    _B.sub(
        node, "cbc:EndpointID", party.electronic_address, schemeID=party.electronic_address_scheme
    )  # BT-34 / BT-49
    if party.name and party.name != party.legal_name:  # BT-28 / BT-45
        party_name = _B.sub(node, "cac:PartyName")
        _B.sub(party_name, "cbc:Name", party.name)
    a = party.address
    address = _B.sub(node, "cac:PostalAddress")  # BG-5 / BG-8
    _B.opt(address, "cbc:StreetName", a.line1)
    _B.opt(address, "cbc:AdditionalStreetName", a.line2)
    _B.opt(address, "cbc:CityName", a.city)
    _B.opt(address, "cbc:PostalZone", a.zipcode)
    _B.opt(address, "cbc:CountrySubentity", a.state)
    country = _B.sub(address, "cac:Country")
    _B.sub(country, "cbc:IdentificationCode", a.country)
    if with_vat_id and party.tax_identification_number:  # BT-31 / BT-48
        scheme = _B.sub(node, "cac:PartyTaxScheme")
        _B.sub(scheme, "cbc:CompanyID", party.tax_identification_number.replace(" ", ""))
        _B.sub(_B.sub(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    legal = _B.sub(node, "cac:PartyLegalEntity")
    _B.sub(legal, "cbc:RegistrationName", party.legal_name or party.name)  # BT-27 / BT-44
    _B.opt(legal, "cbc:CompanyID", party.legal_number)  # BT-30 / BT-47
    if party.email:
        contact = _B.sub(node, "cac:Contact")
        _B.sub(contact, "cbc:ElectronicMail", party.email)


def build_ubl(snapshot: InvoiceSnapshot) -> bytes:
    return ubl_from_document(build_document(snapshot))


def ubl_from_document(d: Document) -> bytes:
    s = d.snapshot
    currency = s.currency
    root = _B.root("Invoice")
    _B.sub(root, "cbc:CustomizationID", CUSTOMIZATION_ID)
    _B.sub(root, "cbc:ProfileID", PROFILE_ID)
    _B.sub(root, "cbc:ID", s.number)  # BT-1
    _B.sub(root, "cbc:IssueDate", s.issuing_date.isoformat())  # BT-2
    _B.sub(root, "cbc:DueDate", s.payment_due_date.isoformat())  # BT-9
    _B.sub(root, "cbc:InvoiceTypeCode", d.type_code)  # BT-3
    _B.opt(root, "cbc:Note", s.invoice_footer)  # BT-22
    _B.sub(root, "cbc:DocumentCurrencyCode", currency)  # BT-5
    terms = s.einvoice
    if terms and terms.buyer_reference:
        _B.sub(root, "cbc:BuyerReference", terms.buyer_reference)  # BT-10
    if d.period:  # BG-14
        period = _B.sub(root, "cac:InvoicePeriod")
        _B.sub(period, "cbc:StartDate", d.period[0].isoformat())
        _B.sub(period, "cbc:EndDate", d.period[1].isoformat())
    if s.purchase_order_number:  # BT-13
        _B.sub(_B.sub(root, "cac:OrderReference"), "cbc:ID", s.purchase_order_number)
    _party(root, "cac:AccountingSupplierParty", s.organization, with_vat_id=d.with_vat_ids)
    _party(root, "cac:AccountingCustomerParty", s.customer, with_vat_id=d.with_vat_ids)
    is_intra_eu = any(v.category == "K" for v in d.vat)
    if d.delivery_date or is_intra_eu:  # BG-13
        delivery = _B.sub(root, "cac:Delivery")
        if d.delivery_date:
            _B.sub(delivery, "cbc:ActualDeliveryDate", d.delivery_date.isoformat())  # BT-72
        if is_intra_eu:  # BR-IC-12
            location = _B.sub(delivery, "cac:DeliveryLocation")
            address = _B.sub(location, "cac:Address")
            country = _B.sub(address, "cac:Country")
            _B.sub(country, "cbc:IdentificationCode", s.customer.address.country)
    if terms and terms.iban:  # BG-16
        means = _B.sub(root, "cac:PaymentMeans")
        _B.sub(means, "cbc:PaymentMeansCode", d.payment_means_code)  # BT-81
        _B.sub(means, "cbc:PaymentID", s.number)  # BT-83
        account = _B.sub(means, "cac:PayeeFinancialAccount")
        _B.sub(account, "cbc:ID", terms.iban.replace(" ", ""))  # BT-84
        if terms.bic:
            branch = _B.sub(account, "cac:FinancialInstitutionBranch")
            _B.sub(branch, "cbc:ID", terms.bic.replace(" ", ""))  # BT-86
    for allowance in d.allowances:  # BG-20
        node = _B.sub(root, "cac:AllowanceCharge")
        _B.sub(node, "cbc:ChargeIndicator", "false")
        _B.sub(node, "cbc:AllowanceChargeReason", allowance.reason)  # BT-97
        _B.sub(node, "cbc:Amount", d.amount(allowance.amount_cents), currencyID=currency)
        _tax_category(node, "cac:TaxCategory", allowance.category, allowance.rate)
    tax_total = _B.sub(root, "cac:TaxTotal")
    _B.sub(tax_total, "cbc:TaxAmount", d.amount(d.tax_total_cents), currencyID=currency)
    for entry in d.vat:  # BG-23
        subtotal = _B.sub(tax_total, "cac:TaxSubtotal")
        _B.sub(subtotal, "cbc:TaxableAmount", d.amount(entry.taxable_cents), currencyID=currency)
        _B.sub(subtotal, "cbc:TaxAmount", d.amount(entry.tax_cents), currencyID=currency)
        _tax_category(
            subtotal,
            "cac:TaxCategory",
            entry.category,
            entry.rate,
            entry.exemption_reason,
            entry.exemption_code,
        )
    totals = _B.sub(root, "cac:LegalMonetaryTotal")
    _B.sub(totals, "cbc:LineExtensionAmount", d.amount(d.line_total_cents), currencyID=currency)
    _B.sub(totals, "cbc:TaxExclusiveAmount", d.amount(d.tax_basis_cents), currencyID=currency)
    _B.sub(totals, "cbc:TaxInclusiveAmount", d.amount(d.grand_total_cents), currencyID=currency)
    if d.allowances:
        _B.sub(
            totals, "cbc:AllowanceTotalAmount", d.amount(d.allowance_total_cents),
            currencyID=currency,
        )  # fmt: skip
    if d.paid_cents:
        _B.sub(totals, "cbc:PrepaidAmount", d.amount(d.paid_cents), currencyID=currency)
    _B.sub(totals, "cbc:PayableAmount", d.amount(d.due_cents), currencyID=currency)
    for line in d.lines:  # BG-25
        node = _B.sub(root, "cac:InvoiceLine")
        _B.sub(node, "cbc:ID", str(line.index))
        _B.sub(
            node, "cbc:InvoicedQuantity", decimal_text(line.quantity), unitCode=line.unit_code
        )
        _B.sub(node, "cbc:LineExtensionAmount", d.amount(line.net_cents), currencyID=currency)
        if line.start or line.end:  # BG-26
            period = _B.sub(node, "cac:InvoicePeriod")
            if line.start:
                _B.sub(period, "cbc:StartDate", line.start.isoformat())
            if line.end:
                _B.sub(period, "cbc:EndDate", line.end.isoformat())
        item = _B.sub(node, "cac:Item")
        _B.opt(item, "cbc:Description", line.description)  # BT-154
        _B.sub(item, "cbc:Name", line.name or "-")  # BT-153
        _tax_category(item, "cac:ClassifiedTaxCategory", line.category, line.rate)
        price = _B.sub(node, "cac:Price")
        _B.sub(price, "cbc:PriceAmount", decimal_text(line.price), currencyID=currency)
    return _B.serialize(root)
