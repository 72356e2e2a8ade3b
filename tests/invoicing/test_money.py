"""Invoice arithmetic, as lago-api computes it.

Each case's expected numbers were worked out by hand from the lago-api
method named in its docstring (getlago/lago-api, ``app/services/...``), not
by the code under test. Then the identities, over random invoices
(property-based), pure and stored on PostgreSQL.
"""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.models import Credit, Invoice
from invoicing.money import FeeIn, TaxRate, compute_totals, round_half_up
from invoicing.services.invoices import CreditInput, FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_tax

D = Decimal
VAT_20 = TaxRate(code="vat_20", name="VAT", rate=D("20"))
VAT_10 = TaxRate(code="vat_10", name="VAT", rate=D("10"))
VAT_5_5 = TaxRate(code="vat_5_5", name="VAT", rate=D("5.5"))


def fee(unit_amount_cents, units="1", *taxes):
    return FeeIn(units=D(units), unit_amount_cents=D(unit_amount_cents), taxes=taxes)


def test_round_half_up_rounds_halves_away_from_zero():
    assert round_half_up(D("2.5")) == 3
    assert round_half_up(D("3.5")) == 4
    assert round_half_up(D("2.4999")) == 2
    assert round_half_up(D("-2.5")) == -3


def test_three_five_cent_fees_at_ten_percent_round_once_per_tax():
    """Invoices::ApplyTaxesService#compute_tax_amount_cents: the invoice's
    tax is round((5 + 5 + 5) x 10 / 100) = round(1.5) = 2, where rounding each
    fee first (0.5 -> 1, three times) would give 3. Each fee still shows its
    own rounded tax (Fees::ApplyTaxesService#call: round(0.5) = 1)."""
    t = compute_totals([fee(5, "1", VAT_10)] * 3)
    assert [f.taxes_amount_cents for f in t.fees] == [1, 1, 1]
    assert [(a.tax.code, a.amount_cents, a.fees_amount_cents) for a in t.applied_taxes] == [
        ("vat_10", 2, 15)
    ]
    assert t.taxes_amount_cents == 2
    assert (t.fees_amount_cents, t.sub_total_including_taxes_amount_cents) == (15, 17)
    assert t.total_amount_cents == 17


def test_reduced_rate_lines_round_on_the_taxable_base():
    """Invoices::ApplyTaxesService#compute_tax_amount_cents: two 10.10 EUR
    lines at 5.5 %: per line 55.55 -> 56 (112 summed), on the base
    2020 x 5.5 / 100 = 111.1 -> 111."""
    t = compute_totals([fee(1010, "1", VAT_5_5), fee(1010, "1", VAT_5_5)])
    assert [f.taxes_amount_cents for f in t.fees] == [56, 56]
    assert t.applied_taxes[0].amount_cents == 111
    assert t.taxes_amount_cents == 111
    assert t.sub_total_including_taxes_amount_cents == 2131


def test_one_fee_with_two_rates():
    """Fees::ApplyTaxesService#call: a 10.05 EUR fee taxed at 10 % and 5.5 %:
    100.5 -> 101 and 55.275 -> 55 per applied tax; the fee's taxes are
    round(100.5 + 55.275) = round(155.775) = 156 and its rate 15.5."""
    t = compute_totals([fee(1005, "1", VAT_10, VAT_5_5)])
    (out,) = t.fees
    assert [(x.tax.code, x.amount_cents) for x in out.taxes] == [("vat_10", 101), ("vat_5_5", 55)]
    assert out.precise_amount_cents == D("1005")
    assert out.taxes_precise_amount_cents == D("155.775")
    assert (out.taxes_amount_cents, out.taxes_rate) == (156, D("15.5"))
    assert [a.amount_cents for a in t.applied_taxes] == [101, 55]
    assert t.taxes_amount_cents == 156


def test_two_half_cent_taxes_round_once_on_the_invoice():
    """Invoices::ApplyTaxesService#call: invoice.taxes_amount_cents is the
    rounded sum of the unrounded tax amounts. A 5-cent fee under two 10 %
    taxes: each applied tax is round(0.5) = 1, but the invoice's taxes are
    round(0.5 + 0.5) = 1, so the applied taxes (2) exceed it, as in Lago."""
    other_10 = TaxRate(code="levy_10", name="Levy", rate=D("10"))
    t = compute_totals([fee(5, "1", VAT_10, other_10)])
    assert [a.amount_cents for a in t.applied_taxes] == [1, 1]
    assert t.taxes_amount_cents == 1
    assert t.fees[0].taxes_amount_cents == 1
    assert t.sub_total_including_taxes_amount_cents == 6


def test_jpy_rounds_consumption_tax_once_per_rate():
    """Invoices::ApplyTaxesService#compute_tax_amount_cents, in yen (0
    decimals), as Japan's qualified-invoice rule also requires: three 155 JPY
    drinks at 8 % are 12.4 each (12 per line), round(465 x 8 / 100) = round(37.2)
    = 37 on the invoice; a 9,800 JPY plan at 10 % is 980; in all
    round(37.2 + 980) = 1,017."""
    jct_8 = TaxRate(code="jct_8", name="消費税（軽減）", rate=D("8"))
    jct_10 = TaxRate(code="jct_10", name="消費税", rate=D("10"))
    t = compute_totals([fee(9800, "1", jct_10)] + [fee(155, "1", jct_8)] * 3)
    assert [f.taxes_amount_cents for f in t.fees] == [980, 12, 12, 12]
    assert {a.tax.code: a.amount_cents for a in t.applied_taxes} == {"jct_10": 980, "jct_8": 37}
    assert t.taxes_amount_cents == 1017
    assert t.fees_amount_cents == 10265
    assert t.total_amount_cents == 11282


def test_bhd_keeps_three_decimals_and_the_precise_amounts():
    """Fees::OneOffService#call (amount_cents = round(unit x units),
    precise_amount_cents unrounded) and Invoices::ApplyTaxesService, in
    Bahraini dinar (3 decimals): 812.75 GB at 12.5 fils is 10,159.375 fils
    (amount 10,159); 3 nodes at 125.500 BHD are 376,500 fils. VAT 10 % per
    fee: 1,015.9 -> 1,016 and 37,650; on the base: round(386,659 x 0.1) =
    round(38,665.9) = 38,666."""
    t = compute_totals([fee("12.5", "812.75", VAT_10), fee(125500, "3", VAT_10)])
    first = t.fees[0]
    assert (first.amount_cents, first.precise_amount_cents) == (10159, D("10159.375"))
    assert first.taxes_amount_cents == 1016
    assert first.taxes_precise_amount_cents == D("1015.9375")
    assert t.applied_taxes[0].amount_cents == 38666
    assert t.taxes_amount_cents == 38666
    assert t.sub_total_including_taxes_amount_cents == 386659 + 38666


def test_a_coupon_is_spread_before_tax_over_fees_with_two_rates():
    """Credits::AppliedCouponService#call with Fee#compute_precise_credit_amount_cents,
    then Invoices::ApplyTaxesService. Fees 100.00 at 20 % and 50.00 at 5.5 %,
    a 10.00 coupon: shares 1000 x 10000 / 15000 = 666.66667 and
    1000 x 5000 / 15000 = 333.33333 (5 decimals, lago-api's column). Bases
    9,333.33333 and 4,666.66667. Taxes: 9,333.33333 x 0.2 = 1,866.666666 -> 1,867;
    4,666.66667 x 0.055 = 256.66666685 -> 257; the invoice's taxes are
    round(2,123.33333285) = 2,123 (not 1,867 + 257 = 2,124)."""
    t = compute_totals([fee(10000, "1", VAT_20), fee(5000, "1", VAT_5_5)], coupons=[1000])
    a, b = t.fees
    assert (a.precise_coupons_amount_cents, b.precise_coupons_amount_cents) == (
        D("666.66667"),
        D("333.33333"),
    )
    assert (a.sub_total_excluding_taxes_amount_cents, b.sub_total_excluding_taxes_amount_cents) == (
        9333,
        4667,
    )
    assert a.sub_total_excluding_taxes_precise_amount_cents == D("9333.33333")
    assert (a.taxes_amount_cents, b.taxes_amount_cents) == (1867, 257)
    # fees_amount_cents: the bases summed, truncated into lago-api's integer column.
    assert [(x.amount_cents, x.fees_amount_cents) for x in t.applied_taxes] == [
        (1867, 9333),
        (257, 4666),
    ]
    assert t.coupons_amount_cents == 1000
    assert t.sub_total_excluding_taxes_amount_cents == 14000
    assert t.taxes_amount_cents == 2123
    assert t.sub_total_including_taxes_amount_cents == 16123
    assert t.total_amount_cents == 16123


def test_coupons_apply_in_order_each_capped_at_what_is_left():
    """Credits::AppliedCouponsService#call and AppliedCoupons::AmountService:
    on 10.00 of fees, a 7.00 coupon takes 7.00, the next 7.00 coupon only the
    3.00 left, and a third none; no tax is left to pay."""
    t = compute_totals([fee(1000, "1", VAT_20)], coupons=[700, 700, 700])
    assert t.coupons_applied == (700, 300, 0)
    assert t.coupons_amount_cents == 1000
    assert t.fees[0].precise_coupons_amount_cents == D("1000")
    assert (t.sub_total_excluding_taxes_amount_cents, t.taxes_amount_cents) == (0, 0)
    assert t.total_amount_cents == 0


def test_credit_notes_and_prepaid_credits_are_capped_at_what_remains():
    """Credits::CreditNoteService#compute_credit_amount caps a credit note at
    the invoice's total; prepaid credits then take what remains
    (Credits::AllocatePrepaidCreditsByWalletsService). 100.00 at 20 % is
    120.00; a 150.00 credit note takes 120.00, 5.00 of prepaid credit none."""
    t = compute_totals([fee(10000, "1", VAT_20)], credit_notes_cents=15000, prepaid_cents=500)
    assert t.sub_total_including_taxes_amount_cents == 12000
    assert (t.credit_notes_amount_cents, t.prepaid_credit_amount_cents) == (12000, 0)
    assert t.total_amount_cents == 0


def test_fractional_units_keep_their_precise_amounts():
    """Fees::OneOffService#call and Fees::ApplyTaxesService#call: 0.3333
    units at 10.00 are 333.3 cents (amount 333); VAT 20 % is round(66.6) = 67
    on the rounded amount and 66.66 precisely."""
    t = compute_totals([fee(1000, "0.3333", VAT_20)])
    (out,) = t.fees
    assert (out.amount_cents, out.precise_amount_cents) == (333, D("333.3"))
    assert (out.taxes_amount_cents, out.taxes_precise_amount_cents) == (67, D("66.66"))
    assert out.sub_total_excluding_taxes_precise_amount_cents == D("333.3")


# ------------------------------------------------------------ properties

rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
units = st.decimals(
    min_value=D("0.0001"), max_value=10_000, places=4, allow_nan=False, allow_infinity=False
)
unit_amounts = st.integers(min_value=0, max_value=10_000_000)
taxes = st.lists(rates, max_size=3, unique=True).map(
    lambda rs: tuple(TaxRate(code=f"t{r}", name="T", rate=r) for r in rs)
)
fees = st.lists(
    st.builds(FeeIn, units=units, unit_amount_cents=unit_amounts.map(D), taxes=taxes),
    min_size=0,
    max_size=30,
)
amounts = st.integers(min_value=0, max_value=10**9)


@given(fees=fees, coupons=st.lists(amounts, max_size=3), credit_notes=amounts, prepaid=amounts)
def test_identities_hold_for_any_invoice(fees, coupons, credit_notes, prepaid):
    t = compute_totals(
        fees, coupons=coupons, credit_notes_cents=credit_notes, prepaid_cents=prepaid
    )
    assert t.fees_amount_cents == sum(f.amount_cents for f in t.fees)
    assert t.fees_amount_cents - t.coupons_amount_cents == t.sub_total_excluding_taxes_amount_cents
    assert (
        t.sub_total_excluding_taxes_amount_cents + t.taxes_amount_cents
        == t.sub_total_including_taxes_amount_cents
    )
    assert (
        t.sub_total_including_taxes_amount_cents
        - t.credit_notes_amount_cents
        - t.prepaid_credit_amount_cents
        == t.total_amount_cents
    )
    assert t.total_amount_cents >= 0
    assert sum(t.coupons_applied) == t.coupons_amount_cents <= t.fees_amount_cents
    # Coupon shares: never more than a fee's amount, and they add up to the
    # coupons up to the 5-decimal rounding of each share.
    for out in t.fees:
        assert 0 <= out.precise_coupons_amount_cents <= out.amount_cents
    shares = sum((f.precise_coupons_amount_cents for f in t.fees), D(0))
    assert abs(shares - t.coupons_amount_cents) <= D("0.00001") * len(t.fees) * len(coupons)
    # Each rounding is one rounding of the exact value: applied taxes on their
    # fees' bases, the invoice's taxes on the sum of the exact amounts.
    exact_total = D(0)
    for applied in t.applied_taxes:
        base = sum(
            (f.taxable_base_cents for f in t.fees if any(x.tax == applied.tax for x in f.taxes)),
            D(0),
        )
        exact = base * applied.tax.rate / 100
        exact_total += exact
        assert abs(applied.amount_cents - exact) <= D("0.5")
    assert abs(t.taxes_amount_cents - exact_total) <= D("0.5")
    for fee_in, fee_out in zip(fees, t.fees, strict=True):
        assert fee_out.amount_cents == round_half_up(fee_in.units * fee_in.unit_amount_cents)
        assert fee_out.precise_amount_cents == fee_in.units * fee_in.unit_amount_cents


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.tuples(units, unit_amounts, st.booleans()), min_size=1, max_size=8),
    currency=st.sampled_from(["EUR", "JPY", "BHD", "USD"]),
    coupon=st.integers(min_value=0, max_value=10**7),
    credit_note=st.integers(min_value=0, max_value=10**7),
)
def test_stored_invoices_satisfy_the_identities(organization, lines, currency, coupon, credit_note):
    vat = make_tax(organization, rate="19.6")
    customer = make_customer(organization, currency=currency)
    fee_inputs = []
    for u, amount, taxed in lines:
        add_on = make_add_on(organization, currency=currency, taxes=[vat] if taxed else [])
        fee_inputs.append(FeeInput(add_on_code=add_on.code, units=u, unit_amount_cents=D(amount)))
    invoice = make_invoice(
        organization,
        customer=customer,
        fees=fee_inputs,
        currency=currency,
        credits=[
            CreditInput(kind=Credit.Kind.COUPON, amount_cents=coupon),
            CreditInput(kind=Credit.Kind.CREDIT_NOTE, amount_cents=credit_note),
        ],
    )
    invoice = Invoice.objects.get(pk=invoice.pk)
    stored_fees = list(invoice.fees.all())
    assert invoice.fees_amount_cents == sum(f.amount_cents for f in stored_fees)
    # One tax rate: its applied tax is the invoice's tax, rounded once on the
    # fees' bases (bases within a coupon share's rounding of the sub total).
    applied = list(invoice.applied_taxes.all())
    assert invoice.taxes_amount_cents == sum(a.amount_cents for a in applied)
    taxed_base = sum(
        (f.amount_cents - f.precise_coupons_amount_cents for f in stored_fees if f.taxes_rate),
        D(0),
    )
    assert abs(invoice.taxes_amount_cents - taxed_base * D("0.196")) <= D("0.5")
    assert (
        invoice.fees_amount_cents - invoice.coupons_amount_cents
        == invoice.sub_total_excluding_taxes_amount_cents
    )
    assert (
        invoice.sub_total_excluding_taxes_amount_cents + invoice.taxes_amount_cents
        == invoice.sub_total_including_taxes_amount_cents
    )
    assert (
        invoice.sub_total_including_taxes_amount_cents
        - invoice.credit_notes_amount_cents
        - invoice.prepaid_credit_amount_cents
        == invoice.total_amount_cents
    )
    assert sum(c.amount_cents for c in invoice.credits.all()) == (
        invoice.coupons_amount_cents + invoice.credit_notes_amount_cents
    )
    # Nothing to pay is paid (Invoices::CreateOneOffService#call).
    expected = "succeeded" if invoice.total_amount_cents == 0 else "pending"
    assert invoice.payment_status == expected
