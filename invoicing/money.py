"""Money arithmetic, as lago-api computes an invoice.

Amounts are integer minor units. The unrounded values Lago keeps beside them
(``precise_*``) are exact ``Decimal`` s here, never floats: lago-api computes
the same formulas in Ruby floats, so the two agree except where a float error
would flip a half.

The algorithm, with the lago-api file each step follows:

1. A fee's amount is ``round(units x unit_amount_cents)`` and its precise
   amount the unrounded product (``app/services/fees/one_off_service.rb``).
2. Coupons apply before taxes, one after the other, each capped at what is
   left of the invoice's sub total. A coupon is spread over the fees in
   proportion to what each has left, kept precise per fee (5 decimals, the
   scale of ``fees.precise_coupons_amount_cents``) and never more than the
   fee's amount (``app/services/credits/applied_coupon_service.rb``,
   ``Fee#compute_precise_credit_amount_cents``).
3. A fee's taxable base is ``amount_cents - precise_coupons_amount_cents``
   (``Fee#sub_total_excluding_taxes_amount_cents``). Each of its applied taxes
   is ``round(base x rate / 100)``; the fee's ``taxes_amount_cents`` is the
   rounded sum of the unrounded amounts, and ``taxes_precise_amount_cents``
   the same over the precise base (``app/services/fees/apply_taxes_service.rb``).
4. The invoice rounds once per tax: ``round(sum(base x rate) / 100)`` over the
   fees that carry the tax, and its ``taxes_amount_cents`` is the rounded sum
   of those unrounded amounts (``app/services/invoices/apply_taxes_service.rb``).
   So the applied taxes may differ from ``taxes_amount_cents`` by rounding,
   as in Lago.
5. Totals (``app/services/invoices/compute_amounts_from_fees.rb``): fees -
   coupons = sub total excl. taxes; + taxes = sub total incl. taxes; credit
   notes then prepaid credits apply after taxes, each capped at what remains
   (``app/services/credits/credit_note_service.rb``,
   ``app/services/credits/allocate_prepaid_credits_by_wallets_service.rb``).

Rounding is half away from zero, Ruby's ``Float#round``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies

# Largest amount accepted anywhere, in minor units: comfortably inside a
# PostgreSQL bigint (9.2e18) even after summing 10,000 fees and adding taxes.
MAX_AMOUNT_CENTS = 10**14

# lago-api keeps a fee's coupon share in a numeric(30, 5) column.
COUPON_PRECISION = Decimal("0.00001")

_ISO_CURRENCIES = frozenset(list_currencies())
_HUNDRED = Decimal(100)


def is_currency(code: str) -> bool:
    return code in _ISO_CURRENCIES


def currency_exponent(code: str) -> int:
    """Digits after the decimal point (ISO 4217 via CLDR): EUR 2, JPY 0, BHD 3."""
    return get_currency_precision(code)


def round_half_up(value: Decimal) -> int:
    """Half away from zero, like Ruby's ``round``: 2.5 -> 3, -2.5 -> -3."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def truncate(value: Decimal) -> int:
    """Toward zero, like Rails casting a decimal into an integer column."""
    return int(value.quantize(Decimal(1), rounding=ROUND_DOWN))


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
class FeeTaxOut:
    tax: TaxRate
    amount_cents: int  # round(base x rate / 100)
    precise_amount_cents: Decimal  # the same over the precise base, unrounded


@dataclass(frozen=True)
class FeeOut:
    amount_cents: int
    precise_amount_cents: Decimal  # units x unit_amount_cents, unrounded
    # This fee's share of the before-tax coupons, at lago-api's 5 decimals.
    precise_coupons_amount_cents: Decimal
    taxes_rate: Decimal
    taxes: tuple[FeeTaxOut, ...]
    taxes_amount_cents: int
    taxes_precise_amount_cents: Decimal

    @property
    def sub_total_excluding_taxes_precise_amount_cents(self) -> Decimal:
        return self.precise_amount_cents - self.precise_coupons_amount_cents

    @property
    def taxable_base_cents(self) -> Decimal:
        """``Fee#sub_total_excluding_taxes_amount_cents`` before its rounding."""
        return self.amount_cents - self.precise_coupons_amount_cents

    @property
    def sub_total_excluding_taxes_amount_cents(self) -> int:
        return round_half_up(self.taxable_base_cents)


@dataclass(frozen=True)
class AppliedTaxOut:
    tax: TaxRate
    amount_cents: int
    # The taxable base: the sum of the fees' bases, truncated as lago-api's
    # integer column stores it.
    fees_amount_cents: int


# The invoice's amount columns that ``compute_totals`` gives, by name.
INVOICE_AMOUNTS = (
    "fees_amount_cents",
    "coupons_amount_cents",
    "sub_total_excluding_taxes_amount_cents",
    "taxes_amount_cents",
    "sub_total_including_taxes_amount_cents",
    "credit_notes_amount_cents",
    "prepaid_credit_amount_cents",
    "total_amount_cents",
)


@dataclass(frozen=True)
class Totals:
    fees: tuple[FeeOut, ...]
    applied_taxes: tuple[AppliedTaxOut, ...]
    # What each requested coupon actually took, in the order given.
    coupons_applied: tuple[int, ...]
    fees_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int

    def invoice_amounts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in INVOICE_AMOUNTS}

    def credits_taken(self, credits: list[tuple[str, int]]) -> list[int]:
        """What each credit, ``(kind, amount)`` in the order given to
        ``compute_totals``, actually took after the caps; kinds are
        "coupon", "credit_note" and "prepaid"."""
        coupons = iter(self.coupons_applied)
        left = {
            "credit_note": self.credit_notes_amount_cents,
            "prepaid": self.prepaid_credit_amount_cents,
        }
        taken = []
        for kind, amount in credits:
            if kind == "coupon":
                taken.append(next(coupons))
                continue
            took = min(max(amount, 0), left[kind])
            left[kind] -= took
            taken.append(took)
        return taken


def _coupon_shares(amounts: list[int], coupons: list[int]) -> tuple[list[Decimal], list[int]]:
    """Apply ``coupons`` in order (``Credits::AppliedCouponService``): each takes
    at most what is left of the sub total, spread over the fees in proportion
    to what each has left. Returns each fee's precise share and what each
    coupon took."""
    shares = [Decimal(0)] * len(amounts)
    sub_total = sum(amounts)
    applied = []
    for coupon in coupons:
        if sub_total <= 0:
            applied.append(0)
            continue
        credit = min(max(coupon, 0), sub_total)
        applied.append(credit)
        base = sub_total
        for i, amount in enumerate(amounts):
            share = (Decimal(credit) * (amount - shares[i]) / base).quantize(
                COUPON_PRECISION, rounding=ROUND_HALF_UP
            )
            shares[i] = min(shares[i] + share, Decimal(amount))
        sub_total -= credit
    return shares, applied


def _fee_out(fee: FeeIn, amount: int, coupon_share: Decimal) -> FeeOut:
    precise_amount = fee.units * fee.unit_amount_cents
    base = amount - coupon_share
    precise_base = precise_amount - coupon_share
    taxes = []
    unrounded_total = Decimal(0)
    precise_total = Decimal(0)
    for tax in fee.taxes:
        unrounded = base * tax.rate / _HUNDRED
        precise = precise_base * tax.rate / _HUNDRED
        taxes.append(
            FeeTaxOut(tax=tax, amount_cents=round_half_up(unrounded), precise_amount_cents=precise)
        )
        unrounded_total += unrounded
        precise_total += precise
    return FeeOut(
        amount_cents=amount,
        precise_amount_cents=precise_amount,
        precise_coupons_amount_cents=coupon_share,
        taxes_rate=sum((t.rate for t in fee.taxes), Decimal(0)),
        taxes=tuple(taxes),
        taxes_amount_cents=round_half_up(unrounded_total),
        taxes_precise_amount_cents=precise_total,
    )


def compute_totals(
    fees: list[FeeIn],
    *,
    coupons: list[int] = (),
    credit_notes_cents: int = 0,
    prepaid_cents: int = 0,
) -> Totals:
    """Compute every amount of an invoice, as lago-api does (module docstring).

    ``coupons`` are fixed amounts applied in order. Identities that hold
    exactly: fees - coupons = sub total excl. taxes; + taxes = sub total incl.
    taxes; - credit notes - prepaid credits = total.
    """
    amounts = [round_half_up(f.units * f.unit_amount_cents) for f in fees]
    shares, coupons_applied = _coupon_shares(amounts, list(coupons))
    fee_outs = tuple(
        _fee_out(fee, amount, share)
        for fee, amount, share in zip(fees, amounts, shares, strict=True)
    )

    # Invoices::ApplyTaxesService: one rounding per tax over its fees' bases.
    per_tax: dict[str, list] = {}
    for out in fee_outs:
        for fee_tax in out.taxes:
            entry = per_tax.setdefault(fee_tax.tax.code, [fee_tax.tax, Decimal(0)])
            entry[1] += out.taxable_base_cents
    applied_taxes = []
    unrounded_taxes = Decimal(0)
    for tax, base in per_tax.values():
        unrounded = base * tax.rate / _HUNDRED
        unrounded_taxes += unrounded
        applied_taxes.append(
            AppliedTaxOut(
                tax=tax, amount_cents=round_half_up(unrounded), fees_amount_cents=truncate(base)
            )
        )

    fees_total = sum(amounts)
    coupons_total = sum(coupons_applied)
    sub_excl = fees_total - coupons_total
    taxes_total = round_half_up(unrounded_taxes)
    sub_incl = sub_excl + taxes_total
    credit_notes = min(max(credit_notes_cents, 0), max(sub_incl, 0))
    prepaid = min(max(prepaid_cents, 0), max(sub_incl - credit_notes, 0))
    return Totals(
        fees=fee_outs,
        applied_taxes=tuple(applied_taxes),
        coupons_applied=tuple(coupons_applied),
        fees_amount_cents=fees_total,
        coupons_amount_cents=coupons_total,
        sub_total_excluding_taxes_amount_cents=sub_excl,
        taxes_amount_cents=taxes_total,
        sub_total_including_taxes_amount_cents=sub_incl,
        credit_notes_amount_cents=credit_notes,
        prepaid_credit_amount_cents=prepaid,
        total_amount_cents=sub_incl - credit_notes - prepaid,
    )
