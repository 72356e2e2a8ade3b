"""Credit notes under concurrency, on the real PostgreSQL: two requests
crediting one invoice, two finalizations spending one customer's credit.
Each thread has its own connection; a barrier starts them together."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from invoicing.errors import ValidationFailed
from invoicing.models import Credit, CreditNote
from invoicing.services import credit_notes as cn
from invoicing.services import invoices
from invoicing.services.invoices import FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_organization

pytestmark = pytest.mark.django_db(transaction=True)


def _together(*calls):
    """Run ``calls`` in threads released at once; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_credit_notes_of_one_invoice_never_over_credit_a_fee():
    organization, _ = make_organization()
    invoice = make_invoice(organization)  # one fee of 100.00, no tax
    fee = invoice.fees.get()

    def credit(amount):
        return lambda: cn.credit_note_create(
            organization=organization,
            invoice_id=str(invoice.pk),
            items=[cn.ItemInput(str(fee.pk), Decimal(amount))],
            credit_amount_cents=amount,
        )

    # 60.00 + 60.00 of a 100.00 fee: the invoice's lock lets one through.
    results = _together(credit(6_000), credit(6_000))
    made = [r for r in results if isinstance(r, CreditNote)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(made) == 1 and len(refused) == 1, results
    assert refused[0].details == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    # 20.00 + 20.00 fit: both, numbered one after the other.
    results = _together(credit(2_000), credit(2_000))
    assert all(isinstance(r, CreditNote) for r in results), results
    numbers = sorted(CreditNote.objects.filter(invoice=invoice).values_list("number", flat=True))
    assert numbers == [f"{invoice.number}-CN00{n}" for n in (1, 2, 3)]


def test_two_finalizations_never_spend_one_credit_twice():
    organization, _ = make_organization()
    customer = make_customer(organization, currency="EUR")
    make_add_on(organization, "item", 5_000)
    source = make_invoice(organization, customer, fees=[FeeInput(add_on_code="item")])
    note = cn.credit_note_create(
        organization=organization,
        invoice_id=str(source.pk),
        items=[cn.ItemInput(str(source.fees.get().pk), Decimal(5_000))],
        credit_amount_cents=5_000,
    )
    drafts = [
        make_invoice(organization, customer, fees=[FeeInput(add_on_code="item")], status="draft")
        for _ in range(2)
    ]
    # Two invoices of 50.00 finalized at once, 50.00 of credit: one takes it all.
    results = _together(*(lambda d=d: invoices.invoice_finalize(invoice=d) for d in drafts))
    assert not [r for r in results if isinstance(r, Exception)], results
    taken = sorted(
        Credit.objects.filter(invoice__in=drafts, kind="credit_note").values_list(
            "amount_cents", flat=True
        )
    )
    assert taken == [5_000]
    totals = sorted(
        invoice.total_amount_cents
        for invoice in type(source).objects.filter(pk__in=[d.pk for d in drafts])
    )
    assert totals == [0, 5_000]
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")
