"""What an invoice lacks to be a valid EN 16931 / Peppol BIS 3.0 e-invoice.

Checked when an organization with e-invoicing on finalizes an invoice, so
that no invalid e-invoice is ever issued: the answer names each missing or
wrong datum in Lago's ``error_details`` form (``{"field": ["code"]}``). Each
check cites the rule that needs it; the rules themselves run in the tests
and in ``manage.py validate_einvoice``.
"""

from __future__ import annotations

import re

from invoicing.einvoice.document import ZERO_RATED
from invoicing.money import currency_exponent
from invoicing.pdf.snapshot import InvoiceSnapshot, Party

MANDATORY = "value_is_mandatory"
INVALID = "value_is_invalid"

# BR-CO-9: a VAT identifier starts with its country's ISO code (EL for Greece).
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Za-z+*.]{2,}$")
# Peppol's electronic address schemes (EAS) are 4-digit codes; its list
# (PEPPOL-EN16931-CL008) no longer has EM (e-mail).
_EAS = re.compile(r"^[0-9]{4}$")
# UN/ECE Recommendation 20 codes: 2 or 3 letters and digits.
_UNIT = re.compile(r"^[0-9A-Z]{2,3}$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[0-9A-Z]{10,30}$")
_BIC = re.compile(r"^[A-Z]{6}[0-9A-Z]{2}([0-9A-Z]{3})?$")


def _party(errors: dict, prefix: str, party: Party, *, vat_id: bool) -> None:
    if not (party.legal_name or party.name):  # BR-6, BR-7
        errors[f"{prefix}.legal_name"] = [MANDATORY]
    if not party.address.country:  # BR-9, BR-11
        errors[f"{prefix}.country"] = [MANDATORY]
    tin = party.tax_identification_number.replace(" ", "")
    if vat_id and not tin:
        errors[f"{prefix}.tax_identification_number"] = [MANDATORY]
    elif tin and not _VAT_ID.match(tin):
        errors[f"{prefix}.tax_identification_number"] = [INVALID]
    # PEPPOL-EN16931-R020 (seller) and R010 (buyer).
    if not party.electronic_address:
        errors[f"{prefix}.electronic_address"] = [MANDATORY]
    if not party.electronic_address_scheme:
        errors[f"{prefix}.electronic_address_scheme"] = [MANDATORY]
    elif not _EAS.match(party.electronic_address_scheme):
        errors[f"{prefix}.electronic_address_scheme"] = [INVALID]


def einvoice_missing(s: InvoiceSnapshot) -> dict[str, list[str]]:
    """The problems, by field; empty when the invoice can be issued."""
    errors: dict[str, list[str]] = {}
    categories = {fee.vat_category_code for fee in s.fees}
    outside = "O" in categories
    # BR-S-2 and its kind: the seller's VAT id (not for O, BR-O-2).
    _party(errors, "organization", s.organization, vat_id=not outside)
    # BR-AE-2, BR-IC-2: reverse charge and intra-EU supplies name the buyer's.
    _party(errors, "customer", s.customer, vat_id=bool(categories & {"AE", "K"}))
    if currency_exponent(s.currency) > 2:  # BR-DEC-*: two decimals at most
        errors["currency"] = [INVALID]
    terms = s.einvoice
    # PEPPOL-EN16931-R003: a buyer reference or a purchase order reference.
    if not (terms and terms.buyer_reference) and not s.purchase_order_number:
        errors["customer.buyer_reference"] = [MANDATORY]
    # BR-61: a credit transfer names the account to pay into.
    iban = (terms.iban if terms else "").replace(" ", "")
    if not iban:
        errors["organization.iban"] = [MANDATORY]
    elif not _IBAN.match(iban):
        errors["organization.iban"] = [INVALID]
    if terms and terms.bic and not _BIC.match(terms.bic.replace(" ", "")):
        errors["organization.bic"] = [INVALID]
    if not s.fees:  # BR-16
        errors["fees"] = [MANDATORY]
    for index, fee in enumerate(s.fees):
        # BR-CO-4: each line has one VAT category (EN 16931 has no line
        # with two taxes, nor one with none).
        if not fee.vat_category_code:
            errors[f"fees.{index}.tax_codes"] = [INVALID]
        elif fee.vat_category_code in ZERO_RATED and fee.taxes_rate != 0:
            errors[f"fees.{index}.tax_codes"] = [INVALID]
        if not _UNIT.match(fee.unit_code or ""):  # BR-23
            errors[f"fees.{index}.unit_code"] = [INVALID]
    # BR-O-11..14: outside the scope of VAT is never mixed with a category.
    if outside and len(categories) > 1:
        errors["taxes.vat_category_code"] = [INVALID]
    for tax in s.applied_taxes:
        # BR-E-10: an exemption names its reason (the other categories have
        # a generic VATEX code).
        if tax.vat_category_code == "E" and not (
            tax.vat_exemption_reason or tax.vat_exemption_reason_code
        ):
            errors[f"taxes.{tax.code}.vat_exemption_reason"] = [MANDATORY]
    return errors
