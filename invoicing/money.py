"""Money arithmetic: integer minor units, one half-up rounding per amount.

Totals are sums of already-rounded integers, so the invoice identities hold
exactly (see ``compute_totals``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies

# Largest amount accepted anywhere, in minor units: comfortably inside a
# PostgreSQL bigint (9.2e18) even after summing 10,000 fees and adding taxes.
MAX_AMOUNT_CENTS = 10**14

_ISO_CURRENCIES = frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in _ISO_CURRENCIES


def currency_exponent(code: str) -> int:
    """Digits after the decimal point (ISO 4217 via CLDR): EUR 2, JPY 0, BHD 3."""
    return get_currency_precision(code)


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major_units(amount_cents: int, currency: str) -> Decimal:
    return Decimal(amount_cents).scaleb(-currency_exponent(currency))


@dataclass(frozen=True)
class TaxRate:
    code: str
    name: str
    rate: Decimal  # percent


@dataclass(frozen=True)
class FeeIn:
    units: Decimal
    unit_amount_cents: Decimal
    taxes: tuple[TaxRate, ...] = ()


@dataclass(frozen=True)
class FeeOut:
    amount_cents: int
    coupons_amount_cents: int  # the share of before-tax coupons allocated to this fee
    taxes_rate: Decimal
    # One rounded amount per (fee, tax): the sum over a tax is its applied total.
    tax_amounts: tuple[tuple[TaxRate, int], ...]

    @property
    def taxes_amount_cents(self) -> int:
        return sum(amount for _, amount in self.tax_amounts)


@dataclass(frozen=True)
class AppliedTaxOut:
    tax: TaxRate
    amount_cents: int
    fees_amount_cents: int  # taxable base


@dataclass(frozen=True)
class Totals:
    fees: tuple[FeeOut, ...]
    applied_taxes: tuple[AppliedTaxOut, ...]
    fees_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), so the
    shares are integers that add up to exactly ``total``."""
    weight_sum = sum(weights)
    if total == 0 or weight_sum == 0:
        return [0] * len(weights)
    shares = [total * w // weight_sum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def compute_totals(
    fees: list[FeeIn],
    *,
    coupons_cents: int = 0,
    credit_notes_cents: int = 0,
    prepaid_cents: int = 0,
) -> Totals:
    """Compute every amount of an invoice.

    Coupons apply before taxes (allocated over the fees in proportion to their
    amounts, capped at the fees total); credit notes, then prepaid credits,
    apply after taxes and are capped at what remains, as in Lago. Identities:
    fees - coupons = sub total excl. taxes; + taxes = sub total incl. taxes;
    - credit notes - prepaid credits = total.
    """
    amounts = [round_half_up(f.units * f.unit_amount_cents) for f in fees]
    fees_total = sum(amounts)
    coupons = min(max(coupons_cents, 0), max(fees_total, 0))
    coupon_shares = _allocate(coupons, [max(a, 0) for a in amounts])

    fee_outs: list[FeeOut] = []
    per_tax: dict[str, list] = {}
    for fee, amount, coupon in zip(fees, amounts, coupon_shares, strict=True):
        base = amount - coupon
        tax_amounts = []
        for tax in fee.taxes:
            tax_cents = round_half_up(Decimal(base) * tax.rate / 100)
            tax_amounts.append((tax, tax_cents))
            entry = per_tax.setdefault(tax.code, [tax, 0, 0])
            entry[1] += tax_cents
            entry[2] += base
        fee_outs.append(
            FeeOut(
                amount_cents=amount,
                coupons_amount_cents=coupon,
                taxes_rate=sum((t.rate for t in fee.taxes), Decimal(0)),
                tax_amounts=tuple(tax_amounts),
            )
        )

    sub_excl = fees_total - coupons
    taxes_total = sum(f.taxes_amount_cents for f in fee_outs)
    sub_incl = sub_excl + taxes_total
    credit_notes = min(max(credit_notes_cents, 0), max(sub_incl, 0))
    prepaid = min(max(prepaid_cents, 0), max(sub_incl - credit_notes, 0))
    return Totals(
        fees=tuple(fee_outs),
        applied_taxes=tuple(
            AppliedTaxOut(tax=t, amount_cents=a, fees_amount_cents=b)
            for t, a, b in per_tax.values()
        ),
        fees_amount_cents=fees_total,
        coupons_amount_cents=coupons,
        sub_total_excluding_taxes_amount_cents=sub_excl,
        taxes_amount_cents=taxes_total,
        sub_total_including_taxes_amount_cents=sub_incl,
        credit_notes_amount_cents=credit_notes,
        prepaid_credit_amount_cents=prepaid,
        total_amount_cents=sub_incl - credit_notes - prepaid,
    )
