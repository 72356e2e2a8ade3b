"""The EN 16931 view of an invoice snapshot, shared by the CII and UBL builders.

Both syntaxes carry the same semantic model; what takes thought is how
Lago's amounts map onto it, worked out here once:

- a fee is an invoice line (BG-25): its net amount (BT-131) is the fee's
  amount before coupons, its price (BT-146) the fee's unit price;
- coupons are document-level allowances (BG-20), one per VAT category and
  rate, each the sum of its fees' coupon shares (lago-api spreads a coupon
  over the fees in proportion to their amounts);
- the VAT breakdown (BG-23) has one entry per category and rate: the taxable
  amount (BT-116) is its lines less its allowances (BR-S-8 and the like,
  exact), the tax (BT-117) Lago's applied tax at that rate;
- credit notes, prepaid credits and payments already received are the paid
  amount (BT-113): Lago subtracts them after tax, as EN 16931 does.

The document totals (BT-106 to BT-115) are the API's amounts: the sum of
the lines is ``fees_amount_cents``, the allowances ``coupons_amount_cents``,
the tax ``taxes_amount_cents``, the amount due ``total_due_amount_cents``.
Where Lago's per-rate tax roundings do not add up to its total tax (each is
rounded on its own, half a minor unit at most), the difference goes to the
largest breakdown entry, within BR-CO-17's one-unit tolerance, so that
BR-CO-14 (the breakdown adds up to the total) holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from invoicing.money import currency_exponent
from invoicing.pdf.snapshot import InvoiceSnapshot

# UNTDID 1001 document type: 380 commercial invoice, 381 credit note (with
# the invoice it corrects as BG-3, its amounts positive: EN 16931 reads the
# type, not the sign, as the direction of the money).
INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"

# Categories whose VAT breakdown needs an exemption reason (BR-E-10,
# BR-AE-10, BR-IC-10, BR-G-10, BR-O-10); when the tax gives none, the VATEX
# code of the category says it (CEF VATEX code list). Exempt (E) has no
# generic code: the tax must name its article.
EXEMPTION_REQUIRED = frozenset({"E", "AE", "K", "G", "O"})
DEFAULT_VATEX = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}
# Categories whose rate is zero (BR-Z-5, BR-E-5, BR-AE-5, BR-IC-5, BR-G-5);
# O carries no rate at all (BR-O-5).
ZERO_RATED = frozenset({"Z", "E", "AE", "K", "G"})
NO_RATE = frozenset({"O"})

# SEPA credit transfer (UNTDID 4461: 58) for euro invoices, a plain credit
# transfer (30) otherwise.
SEPA_CREDIT_TRANSFER = "58"
CREDIT_TRANSFER = "30"


@dataclass(frozen=True)
class Line:
    index: int
    name: str
    description: str
    quantity: Decimal
    unit_code: str
    price: Decimal  # major units, every digit kept
    net_cents: int
    category: str
    rate: Decimal | None
    start: dt.date | None
    end: dt.date | None


@dataclass(frozen=True)
class VatEntry:
    category: str
    rate: Decimal | None
    taxable_cents: int
    tax_cents: int
    exemption_reason: str
    exemption_code: str


@dataclass(frozen=True)
class Allowance:
    category: str
    rate: Decimal | None
    amount_cents: int
    reason: str


@dataclass(frozen=True)
class Document:
    snapshot: InvoiceSnapshot
    type_code: str
    exponent: int
    lines: tuple[Line, ...]
    allowances: tuple[Allowance, ...]
    vat: tuple[VatEntry, ...]
    line_total_cents: int
    allowance_total_cents: int
    tax_basis_cents: int
    tax_total_cents: int
    grand_total_cents: int
    paid_cents: int
    due_cents: int
    period: tuple[dt.date, dt.date] | None
    delivery_date: dt.date | None
    payment_means_code: str
    # BR-O-2: an invoice outside the scope of VAT names no VAT identifier.
    with_vat_ids: bool
    # BG-3: the invoice a credit note corrects, its number (BT-25) and
    # issue date (BT-26).
    preceding_invoice: tuple[str, dt.date] | None = None
    # BT-20, said instead of a due date and payment means on a credit note:
    # the seller owes the money back, there is no account to pay into
    # (BR-CO-25 accepts the terms for the due date).
    payment_terms: str = ""

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE_TYPE_CODE

    def amount(self, cents: int) -> str:
        """Minor units as the XML's decimal string (2 decimals for EUR, 0 for
        JPY, 1 for a currency with one): integer arithmetic, exact."""
        if not self.exponent:
            return str(cents)
        sign = "-" if cents < 0 else ""
        major, minor = divmod(abs(cents), 10**self.exponent)
        return f"{sign}{major}.{minor:0{self.exponent}d}"


class NotAnEInvoice(ValueError):
    """The snapshot cannot be an EN 16931 invoice (readiness names why)."""


def decimal_text(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 20.0000 -> "20", 0.085 -> "0.085"."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _rate_of(category: str, rate: Decimal) -> Decimal | None:
    return None if category in NO_RATE else rate.normalize()


def build_document(
    s: InvoiceSnapshot,
    *,
    type_code: str = INVOICE_TYPE_CODE,
    preceding_invoice: tuple[str, dt.date] | None = None,
    payment_terms: str = "",
) -> Document:
    """The EN 16931 document of ``s``; a credit note (381) is given as an
    invoice snapshot of its items and totals, with the invoice it corrects."""
    if type_code == CREDIT_NOTE_TYPE_CODE and not (preceding_invoice and preceding_invoice[0]):
        raise NotAnEInvoice("a credit note names the invoice it corrects")
    exponent = currency_exponent(s.currency)
    if exponent > 2:
        raise NotAnEInvoice(f"EN 16931 amounts have at most 2 decimals; {s.currency} has 3")
    scale = Decimal(1).scaleb(-exponent)

    lines = []
    groups: dict[tuple[str, Decimal | None], dict] = {}
    for index, fee in enumerate(s.fees, start=1):
        if not fee.vat_category_code:
            raise NotAnEInvoice(f"fee {index} has no single VAT category")
        rate = _rate_of(fee.vat_category_code, fee.taxes_rate)
        quantity, price = fee.units, fee.unit_amount_cents * scale
        # BR-27: the net price is never negative; a negative line is a
        # negative quantity at a positive price.
        if price < 0:
            quantity, price = -quantity, -price
        lines.append(
            Line(
                index=index,
                name=fee.display_name,
                description=fee.description,
                quantity=quantity,
                unit_code=fee.unit_code or "C62",
                price=price,
                net_cents=fee.amount_cents,
                category=fee.vat_category_code,
                rate=rate,
                start=fee.from_date,
                end=fee.to_date,
            )
        )
        group = groups.setdefault(
            (fee.vat_category_code, rate), {"net": 0, "coupons": Decimal(0), "tax": 0}
        )
        group["net"] += fee.amount_cents
        group["coupons"] += fee.coupons_amount_cents

    line_total = sum(line.net_cents for line in lines)
    if line_total != s.fees_amount_cents:
        raise NotAnEInvoice("the fees do not add up to fees_amount_cents")

    # Allowances per group, rounded, then made to add up to the coupons.
    keys = list(groups)
    shares = {
        k: int(groups[k]["coupons"].quantize(Decimal(1), rounding=ROUND_HALF_UP)) for k in keys
    }
    if s.coupons_amount_cents and keys:
        largest = max(keys, key=lambda k: (shares[k], groups[k]["net"]))
        shares[largest] += s.coupons_amount_cents - sum(shares.values())
    elif keys:
        shares = dict.fromkeys(keys, 0)
    coupon_labels = [c.label for c in s.credits if c.kind == "coupon" and c.label]
    reason = ", ".join(coupon_labels) or "Coupon"
    allowances = tuple(
        Allowance(category=k[0], rate=k[1], amount_cents=shares[k], reason=reason)
        for k in keys
        if shares[k]
    )

    # Lago's tax per category and rate, then made to add up to its total tax.
    reasons: dict[tuple[str, Decimal | None], tuple[str, str]] = {}
    for tax in s.applied_taxes:
        key = (tax.vat_category_code, _rate_of(tax.vat_category_code, tax.rate))
        if key in groups:
            groups[key]["tax"] += tax.amount_cents
            reasons.setdefault(key, (tax.vat_exemption_reason, tax.vat_exemption_reason_code))
    taxes = {k: groups[k]["tax"] for k in keys}
    gap = s.taxes_amount_cents - sum(taxes.values())
    if gap and keys:
        taxes[max(keys, key=lambda k: groups[k]["net"] - shares[k])] += gap
    vat = []
    for key in keys:
        category, rate = key
        reason_text, code = reasons.get(key, ("", ""))
        if category in EXEMPTION_REQUIRED and not (reason_text or code):
            code = DEFAULT_VATEX.get(category, "")
        if category not in EXEMPTION_REQUIRED:
            reason_text, code = "", ""
        vat.append(
            VatEntry(
                category=category,
                rate=rate,
                taxable_cents=groups[key]["net"] - shares[key],
                tax_cents=taxes[key],
                exemption_reason=reason_text,
                exemption_code=code,
            )
        )

    starts = [d for line in lines for d in (line.start, line.end) if d]
    period = (min(starts), max(starts)) if starts else None
    grand = s.sub_total_including_taxes_amount_cents
    # Without service periods the supply is the issuing day (the PDF prints
    # it as the date of supply); a credit note's is the corrected invoice's.
    supplied_on = preceding_invoice[1] if preceding_invoice else s.issuing_date
    return Document(
        snapshot=s,
        type_code=type_code,
        exponent=exponent,
        lines=tuple(lines),
        allowances=allowances,
        vat=tuple(vat),
        line_total_cents=line_total,
        allowance_total_cents=s.coupons_amount_cents,
        tax_basis_cents=s.sub_total_excluding_taxes_amount_cents,
        tax_total_cents=s.taxes_amount_cents,
        grand_total_cents=grand,
        paid_cents=grand - s.total_due_amount_cents,
        due_cents=s.total_due_amount_cents,
        period=period,
        delivery_date=None if period else supplied_on,
        payment_means_code=SEPA_CREDIT_TRANSFER if s.currency == "EUR" else CREDIT_TRANSFER,
        with_vat_ids=not any(k[0] == "O" for k in keys),
        preceding_invoice=preceding_invoice,
        payment_terms=payment_terms,
    )
