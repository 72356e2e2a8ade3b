"""UN/CEFACT Cross Industry Invoice (D16B), Factur-X / ZUGFeRD profile
EN 16931: the XML embedded in the Factur-X PDF as ``factur-x.xml``.

Elements are written in the order of the Factur-X 1.0 EN 16931 schema; the
business term each carries is named beside it (EN 16931-1).
"""

from __future__ import annotations

import datetime as dt
import functools

from invoicing.einvoice.document import Document, build_document, decimal_text
from invoicing.einvoice.xml import Writer
from invoicing.pdf.snapshot import InvoiceSnapshot, Party

# The EN 16931 profile's guideline identifier (BT-24), as Factur-X 1.0 names it.
GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"

NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


@functools.lru_cache(maxsize=4096)
def _date_markup(name: str, day: dt.date) -> str:
    # Format 102 is CCYYMMDD. Cached: an invoice's lines share few dates.
    return (
        f'<{name}><udt:DateTimeString format="102">{day.year:04d}{day.month:02d}{day.day:02d}'
        f"</udt:DateTimeString></{name}>"
    )


def _date(w: Writer, name: str, day: dt.date) -> None:
    w.raw(_date_markup(name, day))


def _party(w: Writer, name: str, party: Party, *, with_vat_id: bool) -> None:
    w.open(name)
    w.leaf("ram:Name", party.legal_name or party.name)  # BT-27 / BT-44
    if party.legal_number:  # BT-30 / BT-47
        w.open("ram:SpecifiedLegalOrganization")
        w.leaf("ram:ID", party.legal_number)
        if party.legal_name and party.name and party.name != party.legal_name:
            w.leaf("ram:TradingBusinessName", party.name)  # BT-28 / BT-45
        w.close("ram:SpecifiedLegalOrganization")
    a = party.address
    w.open("ram:PostalTradeAddress")  # BG-5 / BG-8
    w.opt("ram:PostcodeCode", a.zipcode)
    w.opt("ram:LineOne", a.line1)
    w.opt("ram:LineTwo", a.line2)
    w.opt("ram:CityName", a.city)
    w.leaf("ram:CountryID", a.country)
    w.opt("ram:CountrySubDivisionName", a.state)
    w.close("ram:PostalTradeAddress")
    if party.electronic_address:  # BT-34 / BT-49
        w.open("ram:URIUniversalCommunication")
        w.leaf("ram:URIID", party.electronic_address, schemeID=party.electronic_address_scheme)
        w.close("ram:URIUniversalCommunication")
    if with_vat_id and party.tax_identification_number:  # BT-31 / BT-48
        w.open("ram:SpecifiedTaxRegistration")
        w.leaf("ram:ID", party.tax_identification_number.replace(" ", ""), schemeID="VA")
        w.close("ram:SpecifiedTaxRegistration")
    w.close(name)


@functools.lru_cache(maxsize=256)
def _tax(category: str, rate) -> str:
    percent = (
        f"<ram:RateApplicablePercent>{decimal_text(rate)}</ram:RateApplicablePercent>"
        if rate is not None
        else ""
    )
    return (
        f"<ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>{category}</ram:CategoryCode>{percent}"
    )


def build_cii(snapshot: InvoiceSnapshot) -> bytes:
    return cii_from_document(build_document(snapshot))


def cii_from_document(d: Document) -> bytes:
    s = d.snapshot
    amount = d.amount
    w = Writer("rsm:CrossIndustryInvoice", NAMESPACES)
    w.raw(
        "<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>"
        f"<ram:ID>{GUIDELINE_EN16931}</ram:ID>"  # BT-24
        "</ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>"
    )
    w.open("rsm:ExchangedDocument")
    w.leaf("ram:ID", s.number)  # BT-1
    w.leaf("ram:TypeCode", d.type_code)  # BT-3
    _date(w, "ram:IssueDateTime", s.issuing_date)  # BT-2
    if s.invoice_footer.strip():  # BT-22
        w.open("ram:IncludedNote")
        w.leaf("ram:Content", s.invoice_footer.strip())
        w.close("ram:IncludedNote")
    w.close("rsm:ExchangedDocument")

    w.open("rsm:SupplyChainTradeTransaction")
    for line in d.lines:  # BG-25
        w.raw(
            "<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument>"
            f"<ram:LineID>{line.index}</ram:LineID></ram:AssociatedDocumentLineDocument>"  # BT-126
            "<ram:SpecifiedTradeProduct>"
        )
        w.leaf("ram:Name", line.name or "-")  # BT-153
        w.opt("ram:Description", line.description)  # BT-154
        w.raw(
            "</ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement>"
            "<ram:NetPriceProductTradePrice>"
            f"<ram:ChargeAmount>{decimal_text(line.price)}</ram:ChargeAmount>"  # BT-146
            "</ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
            "<ram:SpecifiedLineTradeDelivery>"
        )
        w.leaf("ram:BilledQuantity", decimal_text(line.quantity), unitCode=line.unit_code)
        w.raw(
            "</ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement>"
            f"<ram:ApplicableTradeTax>{_tax(line.category, line.rate)}</ram:ApplicableTradeTax>"
        )  # BG-30
        if line.start or line.end:  # BG-26
            w.open("ram:BillingSpecifiedPeriod")
            if line.start:
                _date(w, "ram:StartDateTime", line.start)
            if line.end:
                _date(w, "ram:EndDateTime", line.end)
            w.close("ram:BillingSpecifiedPeriod")
        w.raw(
            "<ram:SpecifiedTradeSettlementLineMonetarySummation>"
            f"<ram:LineTotalAmount>{amount(line.net_cents)}</ram:LineTotalAmount>"  # BT-131
            "</ram:SpecifiedTradeSettlementLineMonetarySummation>"
            "</ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>"
        )

    w.open("ram:ApplicableHeaderTradeAgreement")
    terms = s.einvoice
    if terms and terms.buyer_reference:
        w.leaf("ram:BuyerReference", terms.buyer_reference)  # BT-10
    _party(w, "ram:SellerTradeParty", s.organization, with_vat_id=d.with_vat_ids)
    _party(w, "ram:BuyerTradeParty", s.customer, with_vat_id=d.with_vat_ids)
    if s.purchase_order_number:  # BT-13
        w.open("ram:BuyerOrderReferencedDocument")
        w.leaf("ram:IssuerAssignedID", s.purchase_order_number)
        w.close("ram:BuyerOrderReferencedDocument")
    w.close("ram:ApplicableHeaderTradeAgreement")

    w.open("ram:ApplicableHeaderTradeDelivery")
    if any(v.category == "K" for v in d.vat):
        # BR-IC-12: an intra-community supply names the country delivered to.
        w.raw("<ram:ShipToTradeParty><ram:PostalTradeAddress>")
        w.leaf("ram:CountryID", s.customer.address.country)
        w.raw("</ram:PostalTradeAddress></ram:ShipToTradeParty>")
    if d.delivery_date:  # BT-72
        w.open("ram:ActualDeliverySupplyChainEvent")
        _date(w, "ram:OccurrenceDateTime", d.delivery_date)
        w.close("ram:ActualDeliverySupplyChainEvent")
    w.close("ram:ApplicableHeaderTradeDelivery")

    w.open("ram:ApplicableHeaderTradeSettlement")
    w.leaf("ram:PaymentReference", s.number)  # BT-83
    w.leaf("ram:InvoiceCurrencyCode", s.currency)  # BT-5
    # A credit note's money goes back to the buyer: no account to pay into.
    if terms and terms.iban and not d.is_credit_note:  # BG-16, BG-17
        w.open("ram:SpecifiedTradeSettlementPaymentMeans")
        w.leaf("ram:TypeCode", d.payment_means_code)  # BT-81
        w.open("ram:PayeePartyCreditorFinancialAccount")
        w.leaf("ram:IBANID", terms.iban.replace(" ", ""))  # BT-84
        w.close("ram:PayeePartyCreditorFinancialAccount")
        if terms.bic:
            w.open("ram:PayeeSpecifiedCreditorFinancialInstitution")
            w.leaf("ram:BICID", terms.bic.replace(" ", ""))  # BT-86
            w.close("ram:PayeeSpecifiedCreditorFinancialInstitution")
        w.close("ram:SpecifiedTradeSettlementPaymentMeans")
    for entry in d.vat:  # BG-23
        w.open("ram:ApplicableTradeTax")
        w.leaf("ram:CalculatedAmount", amount(entry.tax_cents))  # BT-117
        w.leaf("ram:TypeCode", "VAT")
        w.opt("ram:ExemptionReason", entry.exemption_reason)  # BT-120
        w.leaf("ram:BasisAmount", amount(entry.taxable_cents))  # BT-116
        w.leaf("ram:CategoryCode", entry.category)  # BT-118
        w.opt("ram:ExemptionReasonCode", entry.exemption_code)  # BT-121
        if entry.rate is not None:
            w.leaf("ram:RateApplicablePercent", decimal_text(entry.rate))  # BT-119
        w.close("ram:ApplicableTradeTax")
    if d.period:  # BG-14
        w.open("ram:BillingSpecifiedPeriod")
        _date(w, "ram:StartDateTime", d.period[0])
        _date(w, "ram:EndDateTime", d.period[1])
        w.close("ram:BillingSpecifiedPeriod")
    for allowance in d.allowances:  # BG-20
        w.raw(
            "<ram:SpecifiedTradeAllowanceCharge><ram:ChargeIndicator>"
            "<udt:Indicator>false</udt:Indicator></ram:ChargeIndicator>"
            f"<ram:ActualAmount>{amount(allowance.amount_cents)}</ram:ActualAmount>"  # BT-92
        )
        w.leaf("ram:Reason", allowance.reason)  # BT-97
        w.raw(
            f"<ram:CategoryTradeTax>{_tax(allowance.category, allowance.rate)}"
            "</ram:CategoryTradeTax></ram:SpecifiedTradeAllowanceCharge>"
        )
    w.open("ram:SpecifiedTradePaymentTerms")
    if d.is_credit_note:
        w.leaf("ram:Description", d.payment_terms or "-")  # BT-20
    else:
        _date(w, "ram:DueDateDateTime", s.payment_due_date)  # BT-9
    w.close("ram:SpecifiedTradePaymentTerms")
    w.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    w.leaf("ram:LineTotalAmount", amount(d.line_total_cents))  # BT-106
    if d.allowances:
        w.leaf("ram:AllowanceTotalAmount", amount(d.allowance_total_cents))  # BT-107
    w.leaf("ram:TaxBasisTotalAmount", amount(d.tax_basis_cents))  # BT-109
    w.leaf("ram:TaxTotalAmount", amount(d.tax_total_cents), currencyID=s.currency)  # BT-110
    w.leaf("ram:GrandTotalAmount", amount(d.grand_total_cents))  # BT-112
    if d.paid_cents:
        w.leaf("ram:TotalPrepaidAmount", amount(d.paid_cents))  # BT-113
    w.leaf("ram:DuePayableAmount", amount(d.due_cents))  # BT-115
    w.close("ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    if d.preceding_invoice:  # BG-3
        number, issued = d.preceding_invoice
        w.open("ram:InvoiceReferencedDocument")
        w.leaf("ram:IssuerAssignedID", number)  # BT-25
        w.raw(
            '<ram:FormattedIssueDateTime><qdt:DateTimeString format="102">'  # BT-26
            f"{issued.year:04d}{issued.month:02d}{issued.day:02d}"
            "</qdt:DateTimeString></ram:FormattedIssueDateTime>"
        )
        w.close("ram:InvoiceReferencedDocument")
    w.close("ram:ApplicableHeaderTradeSettlement")
    w.close("rsm:SupplyChainTradeTransaction")
    return w.bytes()
