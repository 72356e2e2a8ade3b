"""UN/CEFACT Cross Industry Invoice (D16B), Factur-X / ZUGFeRD profile
EN 16931: the XML embedded in the Factur-X PDF as ``factur-x.xml``.

Elements are written in the order of the Factur-X 1.0 EN 16931 schema; the
business term each carries is named beside it (EN 16931-1).
"""

from __future__ import annotations

import datetime as dt

from invoicing.einvoice.document import Document, build_document, decimal_text
from invoicing.einvoice.xml import Builder
from invoicing.pdf.snapshot import InvoiceSnapshot, Party

# The EN 16931 profile's guideline identifier (BT-24), as Factur-X 1.0 names it.
GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"

_B = Builder(
    {
        "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    }
)


def _date(parent, name: str, day: dt.date) -> None:
    holder = _B.sub(parent, name)
    _B.sub(holder, "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _party(parent, name: str, party: Party, *, with_vat_id: bool) -> None:
    node = _B.sub(parent, name)
    _B.sub(node, "ram:Name", party.legal_name or party.name)  # BT-27 / BT-44
    if party.legal_number:  # BT-30 / BT-47
        legal = _B.sub(node, "ram:SpecifiedLegalOrganization")
        _B.sub(legal, "ram:ID", party.legal_number)
        if party.legal_name and party.name and party.name != party.legal_name:
            _B.sub(legal, "ram:TradingBusinessName", party.name)  # BT-28 / BT-45
    address = _B.sub(node, "ram:PostalTradeAddress")  # BG-5 / BG-8
    a = party.address
    _B.opt(address, "ram:PostcodeCode", a.zipcode)
    _B.opt(address, "ram:LineOne", a.line1)
    _B.opt(address, "ram:LineTwo", a.line2)
    _B.opt(address, "ram:CityName", a.city)
    _B.sub(address, "ram:CountryID", a.country)
    _B.opt(address, "ram:CountrySubDivisionName", a.state)
    if party.electronic_address:  # BT-34 / BT-49
        uri = _B.sub(node, "ram:URIUniversalCommunication")
        _B.sub(uri, "ram:URIID", party.electronic_address, schemeID=party.electronic_address_scheme)
    if with_vat_id and party.tax_identification_number:  # BT-31 / BT-48
        registration = _B.sub(node, "ram:SpecifiedTaxRegistration")
        _B.sub(
            registration, "ram:ID", party.tax_identification_number.replace(" ", ""), schemeID="VA"
        )


def _tax(parent, category: str, rate) -> None:
    _B.sub(parent, "ram:TypeCode", "VAT")
    _B.sub(parent, "ram:CategoryCode", category)
    if rate is not None:
        _B.sub(parent, "ram:RateApplicablePercent", decimal_text(rate))


def build_cii(snapshot: InvoiceSnapshot) -> bytes:
    return cii_from_document(build_document(snapshot))


def cii_from_document(d: Document) -> bytes:
    s = d.snapshot
    currency = s.currency
    root = _B.root("rsm:CrossIndustryInvoice")
    context = _B.sub(root, "rsm:ExchangedDocumentContext")
    guideline = _B.sub(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _B.sub(guideline, "ram:ID", GUIDELINE_EN16931)  # BT-24

    header = _B.sub(root, "rsm:ExchangedDocument")
    _B.sub(header, "ram:ID", s.number)  # BT-1
    _B.sub(header, "ram:TypeCode", d.type_code)  # BT-3
    _date(header, "ram:IssueDateTime", s.issuing_date)  # BT-2
    if s.invoice_footer.strip():  # BT-22
        note = _B.sub(header, "ram:IncludedNote")
        _B.sub(note, "ram:Content", s.invoice_footer.strip())

    transaction = _B.sub(root, "rsm:SupplyChainTradeTransaction")
    for line in d.lines:  # BG-25
        item = _B.sub(transaction, "ram:IncludedSupplyChainTradeLineItem")
        doc = _B.sub(item, "ram:AssociatedDocumentLineDocument")
        _B.sub(doc, "ram:LineID", str(line.index))  # BT-126
        product = _B.sub(item, "ram:SpecifiedTradeProduct")
        _B.sub(product, "ram:Name", line.name or "-")  # BT-153
        _B.opt(product, "ram:Description", line.description)  # BT-154
        agreement = _B.sub(item, "ram:SpecifiedLineTradeAgreement")
        price = _B.sub(agreement, "ram:NetPriceProductTradePrice")
        _B.sub(price, "ram:ChargeAmount", decimal_text(line.price))  # BT-146
        delivery = _B.sub(item, "ram:SpecifiedLineTradeDelivery")
        _B.sub(
            delivery, "ram:BilledQuantity", decimal_text(line.quantity), unitCode=line.unit_code
        )  # BT-129, BT-130
        settlement = _B.sub(item, "ram:SpecifiedLineTradeSettlement")
        _tax(_B.sub(settlement, "ram:ApplicableTradeTax"), line.category, line.rate)  # BG-30
        if line.start or line.end:  # BG-26
            period = _B.sub(settlement, "ram:BillingSpecifiedPeriod")
            if line.start:
                _date(period, "ram:StartDateTime", line.start)
            if line.end:
                _date(period, "ram:EndDateTime", line.end)
        summation = _B.sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _B.sub(summation, "ram:LineTotalAmount", d.amount(line.net_cents))  # BT-131

    agreement = _B.sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    terms = s.einvoice
    if terms and terms.buyer_reference:
        _B.sub(agreement, "ram:BuyerReference", terms.buyer_reference)  # BT-10
    _party(agreement, "ram:SellerTradeParty", s.organization, with_vat_id=d.with_vat_ids)
    _party(agreement, "ram:BuyerTradeParty", s.customer, with_vat_id=d.with_vat_ids)
    if s.purchase_order_number:  # BT-13
        order = _B.sub(agreement, "ram:BuyerOrderReferencedDocument")
        _B.sub(order, "ram:IssuerAssignedID", s.purchase_order_number)

    delivery = _B.sub(transaction, "ram:ApplicableHeaderTradeDelivery")
    if any(v.category == "K" for v in d.vat):
        # BR-IC-12: an intra-community supply names the country delivered to.
        ship_to = _B.sub(delivery, "ram:ShipToTradeParty")
        address = _B.sub(ship_to, "ram:PostalTradeAddress")
        _B.sub(address, "ram:CountryID", s.customer.address.country)
    if d.delivery_date:  # BT-72
        event = _B.sub(delivery, "ram:ActualDeliverySupplyChainEvent")
        _date(event, "ram:OccurrenceDateTime", d.delivery_date)

    settlement = _B.sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    _B.sub(settlement, "ram:PaymentReference", s.number)  # BT-83
    _B.sub(settlement, "ram:InvoiceCurrencyCode", currency)  # BT-5
    if terms and terms.iban:  # BG-16, BG-17
        means = _B.sub(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _B.sub(means, "ram:TypeCode", d.payment_means_code)  # BT-81
        account = _B.sub(means, "ram:PayeePartyCreditorFinancialAccount")
        _B.sub(account, "ram:IBANID", terms.iban.replace(" ", ""))  # BT-84
        if terms.bic:
            bank = _B.sub(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _B.sub(bank, "ram:BICID", terms.bic.replace(" ", ""))  # BT-86
    for entry in d.vat:  # BG-23
        tax = _B.sub(settlement, "ram:ApplicableTradeTax")
        _B.sub(tax, "ram:CalculatedAmount", d.amount(entry.tax_cents))  # BT-117
        _B.sub(tax, "ram:TypeCode", "VAT")
        _B.opt(tax, "ram:ExemptionReason", entry.exemption_reason)  # BT-120
        _B.sub(tax, "ram:BasisAmount", d.amount(entry.taxable_cents))  # BT-116
        _B.sub(tax, "ram:CategoryCode", entry.category)  # BT-118
        _B.opt(tax, "ram:ExemptionReasonCode", entry.exemption_code)  # BT-121
        if entry.rate is not None:
            _B.sub(tax, "ram:RateApplicablePercent", decimal_text(entry.rate))  # BT-119
    if d.period:  # BG-14
        period = _B.sub(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", d.period[0])
        _date(period, "ram:EndDateTime", d.period[1])
    for allowance in d.allowances:  # BG-20
        node = _B.sub(settlement, "ram:SpecifiedTradeAllowanceCharge")
        indicator = _B.sub(node, "ram:ChargeIndicator")
        _B.sub(indicator, "udt:Indicator", "false")
        _B.sub(node, "ram:ActualAmount", d.amount(allowance.amount_cents))  # BT-92
        _B.sub(node, "ram:Reason", allowance.reason)  # BT-97
        _tax(_B.sub(node, "ram:CategoryTradeTax"), allowance.category, allowance.rate)
    payment_terms = _B.sub(settlement, "ram:SpecifiedTradePaymentTerms")
    _date(payment_terms, "ram:DueDateDateTime", s.payment_due_date)  # BT-9
    totals = _B.sub(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _B.sub(totals, "ram:LineTotalAmount", d.amount(d.line_total_cents))  # BT-106
    if d.allowances:
        _B.sub(totals, "ram:AllowanceTotalAmount", d.amount(d.allowance_total_cents))  # BT-107
    _B.sub(totals, "ram:TaxBasisTotalAmount", d.amount(d.tax_basis_cents))  # BT-109
    _B.sub(totals, "ram:TaxTotalAmount", d.amount(d.tax_total_cents), currencyID=currency)
    _B.sub(totals, "ram:GrandTotalAmount", d.amount(d.grand_total_cents))  # BT-112
    if d.paid_cents:
        _B.sub(totals, "ram:TotalPrepaidAmount", d.amount(d.paid_cents))  # BT-113
    _B.sub(totals, "ram:DuePayableAmount", d.amount(d.due_cents))  # BT-115
    return _B.serialize(root)
