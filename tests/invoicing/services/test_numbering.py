"""Invoice numbers under concurrent finalization, on real PostgreSQL."""

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from invoicing.models import Customer, Invoice, Organization
from invoicing.services.invoices import FeeInput, invoice_finalize
from invoicing.services.organizations import organization_update
from tests.factories import make_add_on, make_customer, make_invoice, make_organization

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 20


def _run_concurrently(fn, args):
    """Run ``fn`` once per arg, all released at the same instant, each thread
    on its own database connection."""
    barrier = threading.Barrier(len(args))

    def call(arg):
        try:
            barrier.wait(timeout=30)
            return fn(arg)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(call, args))


def test_postgres_is_the_database_under_test():
    # The guarantees below are about PostgreSQL's row locks; SQLite would
    # pass them for a different reason (one writer at a time).
    assert connection.vendor == "postgresql"


def test_twenty_concurrent_finalizations_get_unique_gapless_numbers():
    organization, _ = make_organization()
    other, _ = make_organization()
    customer = make_customer(organization, currency="EUR")
    add_on = make_add_on(organization)
    drafts = [
        make_invoice(
            organization,
            customer=customer,
            fees=[FeeInput(add_on_code=add_on.code)],
            status=Invoice.Status.DRAFT,
        )
        for _ in range(WORKERS)
    ]
    # Another organization numbering at the same time has its own sequence.
    make_invoice(other)

    results = _run_concurrently(lambda inv: invoice_finalize(invoice=inv).number, drafts)

    stored = list(
        Invoice.objects.filter(organization=organization).values_list(
            "number", "number_sequence", "sequential_id", "issuing_date"
        )
    )
    numbers = [row[0] for row in stored]
    assert sorted(results) == sorted(numbers)
    assert len(set(numbers)) == WORKERS
    assert sorted(row[1] for row in stored) == list(range(1, WORKERS + 1))
    assert sorted(row[2] for row in stored) == list(range(1, WORKERS + 1))
    for number, sequence, _, issuing_date in stored:
        assert re.fullmatch(r"\d{6}-\d{6}", number)
        assert number == f"{issuing_date:%y%m%d}-{sequence:06d}"
    assert Organization.objects.get(pk=organization.pk).last_sequential_id == WORKERS
    assert Invoice.objects.get(organization=other).number.endswith("-000001")


def test_concurrent_finalization_of_one_draft_numbers_it_once():
    organization, _ = make_organization()
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)

    def finalize(_):
        try:
            return invoice_finalize(invoice=draft).number
        except Exception as exc:  # the losers find no draft any more
            return type(exc).__name__

    results = _run_concurrently(finalize, list(range(8)))
    winners = [r for r in results if r != "NotFound"]
    assert len(winners) == 1
    assert Organization.objects.get(pk=organization.pk).last_sequential_id == 1


def test_concurrent_creation_of_finalized_invoices_numbers_each_once():
    organization, _ = make_organization(numbering_scheme="sequence", number_prefix="ACME")
    # One customer per invoice, so that nothing but numbering serializes them.
    customers = [make_customer(organization, currency="EUR") for _ in range(WORKERS)]
    add_on = make_add_on(organization)

    results = _run_concurrently(
        lambda customer: make_invoice(
            organization, customer=customer, fees=[FeeInput(add_on_code=add_on.code)]
        ).number,
        customers,
    )
    assert sorted(results) == [f"ACME-{n:06d}" for n in range(1, WORKERS + 1)]


def test_a_rolled_back_finalization_gives_its_number_back():
    organization, _ = make_organization()
    first = make_invoice(organization)
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            invoice_finalize(invoice=draft)
            raise RuntimeError("crash after numbering")
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None
    finalized = invoice_finalize(invoice=draft)
    assert finalized.number_sequence == first.number_sequence + 1


def _scripted_days(monkeypatch, days):
    """Each customer's "today" (its issuing date) as given, whatever the clock."""
    monkeypatch.setattr(Customer, "today", lambda customer: days[customer.pk])


def test_numbers_continue_in_a_scope_the_organization_comes_back_to(monkeypatch):
    # Two customers whose issuing dates differ (their time zones straddle
    # midnight): the organization's numbering alternates between two days'
    # scopes, and each day's numbers must still run 1, 2, 3 without a gap.
    organization, _ = make_organization()
    east, west = (make_customer(organization, currency="EUR") for _ in range(2))
    _scripted_days(monkeypatch, {east.pk: dt.date(2026, 12, 6), west.pk: dt.date(2026, 12, 5)})
    numbered = [
        make_invoice(organization, customer=customer)
        for customer in (east, east, west, east, west, west)
    ]
    assert [(i.number_scope, i.number_sequence) for i in numbered] == [
        ("261206", 1), ("261206", 2), ("261205", 1), ("261206", 3), ("261205", 2),
        ("261205", 3),
    ]  # fmt: skip
    assert [i.sequential_id for i in numbered] == [1, 2, 3, 4, 5, 6]
    # YYMMDD-NNNNNN, the date scheme's number (Lotus's invoice numbers).
    assert [i.number for i in numbered[3:5]] == ["261206-000003", "261205-000002"]


def test_numbers_continue_after_invoices_numbered_before_the_counter(monkeypatch):
    # As after migration 0018: invoices numbered in today's scope, and an
    # organization row that has no scope recorded yet.
    organization, _ = make_organization()
    customer = make_customer(organization, currency="EUR")
    _scripted_days(monkeypatch, {customer.pk: dt.date(2026, 12, 5)})
    make_invoice(organization, customer=customer)
    make_invoice(organization, customer=customer)
    Organization.objects.filter(pk=organization.pk).update(
        last_number_scope="", last_number_sequence=0
    )
    third = make_invoice(organization, customer=customer)
    assert (third.number_scope, third.number_sequence, third.sequential_id) == ("261205", 3, 3)


def test_an_organization_edit_does_not_give_back_numbers_handed_out_since_it_read():
    # The edit read the row before an invoice was numbered. Saving the whole
    # row wrote the counters back as read: the next finalization took the
    # same sequential id again, refused by the unique constraint, and so did
    # every one after it.
    organization, _ = make_organization()
    first = make_invoice(organization)
    as_read = Organization.objects.get(pk=organization.pk)
    second = make_invoice(organization)
    organization_update(organization=as_read, data={"name": "Renamed Ltd"})
    third = make_invoice(organization)
    assert [i.sequential_id for i in (first, second, third)] == [1, 2, 3]
    assert third.number_sequence == second.number_sequence + 1
    assert Organization.objects.get(pk=organization.pk).name == "Renamed Ltd"
