"""Invoice numbers under concurrent finalization, on real PostgreSQL."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from invoicing.models import Invoice, Organization
from invoicing.services.invoices import FeeInput, invoice_finalize
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
