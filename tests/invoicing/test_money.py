"""The money identities, over random invoices (property-based)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.models import Credit, Invoice
from invoicing.money import FeeIn, TaxRate, compute_totals, round_half_up
from invoicing.services.invoices import CreditInput, FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_tax

rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
units = st.decimals(
    min_value=Decimal("0.0001"), max_value=10_000, places=4, allow_nan=False, allow_infinity=False
)
unit_amounts = st.integers(min_value=0, max_value=10_000_000)
taxes = st.lists(rates, max_size=3, unique=True).map(
    lambda rs: tuple(TaxRate(code=f"t{r}", name="T", rate=r) for r in rs)
)
fees = st.lists(
    st.builds(FeeIn, units=units, unit_amount_cents=unit_amounts.map(Decimal), taxes=taxes),
    min_size=0,
    max_size=30,
)
amounts = st.integers(min_value=0, max_value=10**9)


def test_round_half_up_rounds_halves_away_from_zero():
    assert round_half_up(Decimal("2.5")) == 3
    assert round_half_up(Decimal("3.5")) == 4
    assert round_half_up(Decimal("2.4999")) == 2
    assert round_half_up(Decimal("-2.5")) == -3


@given(fees=fees, coupons=amounts, credit_notes=amounts, prepaid=amounts)
def test_identities_hold_for_any_invoice(fees, coupons, credit_notes, prepaid):
    t = compute_totals(
        fees, coupons_cents=coupons, credit_notes_cents=credit_notes, prepaid_cents=prepaid
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
    # Coupons are spread over the fees and never exceed what they discount.
    assert sum(f.coupons_amount_cents for f in t.fees) == t.coupons_amount_cents
    assert all(0 <= f.coupons_amount_cents <= f.amount_cents for f in t.fees)
    # Applied taxes add up to the invoice's taxes, and each fee is rounded once.
    assert sum(a.amount_cents for a in t.applied_taxes) == t.taxes_amount_cents
    for fee_in, fee_out in zip(fees, t.fees, strict=True):
        assert fee_out.amount_cents == round_half_up(fee_in.units * fee_in.unit_amount_cents)
        base = fee_out.amount_cents - fee_out.coupons_amount_cents
        for tax, amount in fee_out.tax_amounts:
            assert abs(Decimal(amount) - Decimal(base) * tax.rate / 100) <= Decimal("0.5")


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
        fee_inputs.append(
            FeeInput(add_on_code=add_on.code, units=u, unit_amount_cents=Decimal(amount))
        )
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
    assert invoice.taxes_amount_cents == sum(f.taxes_amount_cents for f in stored_fees)
    assert invoice.taxes_amount_cents == sum(a.amount_cents for a in invoice.applied_taxes.all())
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
