"""Create and finalize in a few round trips (``invoicing/services/invoices.py``,
"Round trips"): what they return is what they stored, their writes commit or
roll back with the change, and numbering, the PDF job and the events keep
their guarantees whichever way the statements travel (one query of several
statements, a pipeline of prepared statements, or one by one)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from unittest import mock

import pytest
from django.db import DataError, connection, connections

from invoicing.dispatch import DELIVER_WEBHOOK_TASK
from invoicing.errors import NotFound
from invoicing.models import (
    Credit,
    Fee,
    FeeAppliedTax,
    Invoice,
    InvoiceAppliedTax,
    Organization,
    PdfJob,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from invoicing.services import invoices
from invoicing.services.invoices import CreditInput, FeeInput
from tests.factories import make_add_on, make_customer, make_invoice, make_organization, make_tax

pytestmark = pytest.mark.django_db

WAYS = ["one query", "prepared", "one by one"]


def _travel(way: str):
    """Make the statements travel ``way`` on this thread's connection; returns
    how to undo it."""
    if way == "prepared":
        connection.ensure_connection()
        raw = connection.connection
        threshold, raw.prepare_threshold = raw.prepare_threshold, 0

        def undo():
            raw.prepare_threshold = threshold

        return undo
    patches = [mock.patch("invoicing.services.invoices._preparing", return_value=None)]
    if way == "one by one":
        patches.append(
            mock.patch("invoicing.services.invoices._in_one_round_trip", return_value=False)
        )
    for patch in patches:
        patch.start()
    return lambda: [patch.stop() for patch in patches]


@pytest.fixture(params=WAYS)
def way(request, db):
    undo = _travel(request.param)
    yield request.param
    undo()


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _rich(organization, **kwargs) -> Invoice:
    """Taxes from every level (the fee's codes, the add-on's, the customer's),
    codes whose order depends on the collation, decimals that the columns
    round (a tie among them), credits and metadata."""
    vat = make_tax(organization, code="vat_b", rate="20")
    tiny = make_tax(organization, code="Vat_a", rate="0.0005")
    own = make_tax(organization, code="cus", rate="5.5")
    customer = make_customer(organization, currency="EUR", tax_codes=[own.code])
    plan = make_add_on(organization, amount_cents=10_000, taxes=[vat, tiny])
    setup = make_add_on(organization, amount_cents=2_550)
    fees = [
        FeeInput(add_on_code=plan.code, units=Decimal("3.3333333333"),
                 unit_amount_cents=Decimal("1000.55555555555")),
        FeeInput(add_on_code=setup.code, description="Setup"),
        FeeInput(add_on_code=setup.code, tax_codes=[vat.code, vat.code]),
        # 1e-10 x 0.0005 % = 5e-16: half of the last place a column keeps.
        FeeInput(add_on_code=plan.code, units=Decimal("0.0000000001"),
                 unit_amount_cents=Decimal(1), tax_codes=[tiny.code]),
    ]  # fmt: skip
    return invoices.invoice_create(
        organization=organization,
        external_customer_id=customer.external_id,
        fees=fees,
        metadata=[{"key": "po", "value": "42"}],
        credits=[
            CreditInput(kind=Credit.Kind.COUPON, amount_cents=1_000, code="WELCOME"),
            CreditInput(kind=Credit.Kind.PREPAID, amount_cents=500),
        ],  # fmt: skip
        **kwargs,
    )


def _children(invoice: Invoice) -> list:
    return [
        *invoice.fees.all(),
        *(tax for fee in invoice.fees.all() for tax in fee.applied_taxes.all()),
        *invoice.applied_taxes.all(),
        *invoice.credits.all(),
    ]


def _assert_as_stored(invoice: Invoice) -> None:
    """Every row the service returns is the row stored, and its children come
    in the order a read of them gives."""
    assert _fields(invoice) == _fields(Invoice.objects.get(pk=invoice.pk))
    for child in _children(invoice):
        assert _fields(child) == _fields(type(child).objects.get(pk=child.pk)), child
    assert [f.pk for f in invoice.fees.all()] == [f.pk for f in Fee.objects.filter(invoice=invoice)]
    assert [t.pk for t in invoice.applied_taxes.all()] == [
        t.pk for t in InvoiceAppliedTax.objects.filter(invoice=invoice)
    ]
    assert [c.pk for c in invoice.credits.all()] == [
        c.pk for c in Credit.objects.filter(invoice=invoice)
    ]
    for fee in invoice.fees.all():
        assert {t.pk for t in fee.applied_taxes.all()} == {
            t.pk for t in FeeAppliedTax.objects.filter(fee=fee)
        }
    assert invoice.customer.organization.pk == invoice.organization_id


def test_a_created_invoice_is_returned_as_stored(organization, way):
    invoice = _rich(organization)
    assert invoice.status == Invoice.Status.FINALIZED and invoice.number
    _assert_as_stored(invoice)
    # Made, finalized, updated: in that order, as a draft finalized after.
    assert invoice.created_at <= invoice.finalized_at <= invoice.updated_at
    # The database rounds half away from zero, and so does the answer.
    tie = FeeAppliedTax.objects.get(fee__invoice=invoice, fee__position=3)
    assert tie.precise_amount_cents == Decimal("1E-15")
    assert [t.tax_code for t in invoice.applied_taxes.all()] == ["Vat_a", "cus", "vat_b"]
    if way == "prepared":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone()[0] > 0


def test_a_finalized_draft_is_returned_as_stored(organization, way):
    draft = _rich(organization, status=Invoice.Status.DRAFT)
    _assert_as_stored(draft)
    invoice = invoices.invoice_finalize_draft(
        organization_id=organization.pk, invoice_id=draft.lotus_id
    )
    assert invoice.status == Invoice.Status.FINALIZED and invoice.number
    _assert_as_stored(invoice)
    assert [c.pk for c in _children(invoice)] == [c.pk for c in _children(draft)]


def test_a_failed_write_leaves_nothing_and_no_gap(organization, way):
    first = make_invoice(organization)

    def failing(*, invoice, writes):
        # A write of the same round trip as the invoice's that the database refuses.
        writes.add(f'UPDATE "{Organization._meta.db_table}" SET "last_sequential_id" = 1 / 0', [])

    with mock.patch("invoicing.services.invoices.invoice_pdf_request", failing):
        with pytest.raises(DataError):
            make_invoice(organization, customer=first.customer)
    assert Invoice.objects.filter(organization=organization).count() == 1
    assert WebhookEvent.objects.filter(organization_id=organization.pk).count() == 1
    assert PdfJob.objects.filter(organization=organization).count() == 1
    assert Organization.objects.get(pk=organization.pk).last_sequential_id == 1
    second = make_invoice(organization, customer=first.customer)
    assert second.number_sequence == first.number_sequence + 1


def test_numbering_follows_the_scheme_of_the_locked_row(organization, way):
    """The request's organization may predate a change of scheme: the number
    is the one the row says when it is locked."""
    customer = make_customer(organization, currency="EUR")
    add_on = make_add_on(organization)

    def create(**who):
        return invoices.invoice_create(
            external_customer_id=customer.external_id,
            fees=[FeeInput(add_on_code=add_on.code)],
            **who,
        ).number

    stale = Organization.objects.get(pk=organization.pk)
    dated = [create(organization=stale) for _ in range(2)]
    assert dated[1].endswith("-000002") and not dated[1].startswith("INV")
    Organization.objects.filter(pk=organization.pk).update(
        numbering_scheme=Organization.NumberingScheme.SEQUENCE, number_prefix="INV"
    )
    assert create(organization_id=organization.pk) == "INV-000001"
    # Read as dated, numbered in sequence: after the last of the sequence.
    stale = Organization.objects.get(pk=organization.pk)
    stale.numbering_scheme = Organization.NumberingScheme.DATE
    assert create(organization=stale) == "INV-000002"
    assert create(organization=stale) == "INV-000003"


def test_a_draft_with_a_job_already_keeps_that_one(organization, way):
    """Drafts have no PDF job; should one have one anyway, finalizing leaves
    it the only one (re-armed if it had failed) instead of adding another."""
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    job = PdfJob.objects.create(
        invoice=draft, organization=organization, state=PdfJob.State.FAILED, attempts=5
    )
    invoices.invoice_finalize(invoice=draft)
    current = PdfJob.objects.get(invoice=draft, is_current=True)
    assert current.pk == job.pk
    assert current.state == PdfJob.State.PENDING and current.rearmed_at is not None
    assert PdfJob.objects.filter(invoice=draft).count() == 1


def test_only_the_organizations_drafts_are_finalized(organization, way):
    other, _ = make_organization()
    foreign = make_invoice(other, status=Invoice.Status.DRAFT)
    final = make_invoice(organization)
    for organization_id, invoice_id in [
        (organization.pk, str(foreign.pk)),
        (organization.pk, str(final.pk)),
        (organization.pk, "not-an-id"),
    ]:
        with pytest.raises(NotFound):
            invoices.invoice_finalize_draft(organization_id=organization_id, invoice_id=invoice_id)
    assert Organization.objects.get(pk=organization.pk).last_sequential_id == 1
    assert Invoice.objects.get(pk=foreign.pk).status == Invoice.Status.DRAFT


def test_events_and_deliveries_are_written_with_the_invoice(organization, way):
    wanted = WebhookEndpoint.objects.create(
        organization=organization, webhook_url="https://a.example"
    )
    WebhookEndpoint.objects.create(
        organization=organization, webhook_url="https://b.example", event_types=["invoice.voided"]
    )
    WebhookEndpoint.objects.create(
        organization=organization, webhook_url="https://c.example", enabled=False
    )
    customer = make_customer(organization, currency="EUR")
    free = make_add_on(organization, amount_cents=0)
    with mock.patch("invoicing.services.events.send_on_commit") as send:
        invoice = invoices.invoice_create(
            organization=organization,
            external_customer_id=customer.external_id,
            fees=[FeeInput(add_on_code=free.code)],
        )
    # Nothing to pay: settled, and announced as such.
    assert invoice.payment_status == Invoice.PaymentStatus.SUCCEEDED
    events = WebhookEvent.objects.filter(object_id=invoice.pk)
    assert sorted(e.event_type for e in events) == [
        "invoice.created",
        "invoice.payment_status_updated",
    ]
    deliveries = WebhookDelivery.objects.filter(event__in=events)
    assert {d.endpoint_id for d in deliveries} == {wanted.pk}
    assert deliveries.count() == 2
    assert sorted(c.args for c in send.call_args_list) == sorted(
        (DELIVER_WEBHOOK_TASK, str(d.pk)) for d in deliveries
    )
    payload = events.get(event_type="invoice.created").payload["invoice"]
    assert payload["number"] == invoice.number and payload["payment_status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("travel", WAYS)
def test_concurrent_creations_number_each_once(travel):
    organization, _ = make_organization(numbering_scheme="sequence", number_prefix="ACME")
    customers = [make_customer(organization, currency="EUR") for _ in range(12)]
    add_on = make_add_on(organization)
    barrier = threading.Barrier(len(customers))
    # Patches are the module's, for every thread; a threshold, each connection's.
    undo_patches = _travel(travel) if travel != "prepared" else (lambda: None)

    def create(customer):
        undo = _travel(travel) if travel == "prepared" else (lambda: None)
        try:
            barrier.wait(timeout=30)
            return invoices.invoice_create(
                organization_id=organization.pk,
                external_customer_id=customer.external_id,
                fees=[FeeInput(add_on_code=add_on.code)],
            ).number
        finally:
            undo()
            connections.close_all()

    try:
        with ThreadPoolExecutor(max_workers=len(customers)) as pool:
            numbers = list(pool.map(create, customers))
    finally:
        undo_patches()
    assert sorted(numbers) == [f"ACME-{n:06d}" for n in range(1, len(customers) + 1)]
    assert PdfJob.objects.filter(organization=organization, is_current=True).count() == 12


def test_the_credit_notes_are_read_in_the_round_trip_of_the_numbering():
    # A customer with credit to spend: finalizing reads (and locks) the credit
    # notes with the numbering's UPDATE, not in a round trip of its own.
    from invoicing.services import credit_notes as cn
    from invoicing.services.credit_balance import _available_sql

    organization, _ = make_organization()
    customer = make_customer(organization, currency="EUR")
    make_add_on(organization, "item", 5_000)
    source = make_invoice(organization, customer, fees=[FeeInput(add_on_code="item")])
    cn.credit_note_create(
        organization=organization,
        invoice_id=str(source.pk),
        items=[cn.ItemInput(str(source.fees.get().pk), Decimal(2_000))],
        credit_amount_cents=2_000,
    )
    with mock.patch.object(invoices, "_run_together", wraps=invoices._run_together) as together:
        invoice = make_invoice(organization, customer, fees=[FeeInput(add_on_code="item")])
    assert invoice.credit_notes_amount_cents == 2_000
    assert invoice.total_amount_cents == 3_000
    sent = [[sql for sql, _, _ in call.args[0]] for call in together.call_args_list]
    assert [invoices._bump_sql() in trip for trip in sent].count(True) == 1
    [numbering] = [trip for trip in sent if invoices._bump_sql() in trip]
    assert numbering == [_available_sql(), invoices._bump_sql()]
