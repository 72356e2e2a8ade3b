"""The customer's credit from credit notes, applied to their next invoices
when those are finalized (lago-api's ``Credits::CreditNoteService``).

lago-api applies it as it computes subscription and charge invoices
(``Invoices::CalculateFeesService`` and its siblings); this service issues
one-off invoices only, so these take it: otherwise a credit would never be
used. Kept apart from ``services/invoices.py``, which reads the credit notes in
the round trip of its numbering and applies them once per finalization,
before the number is given (a fully credited invoice is then finalized paid,
as lago-api finalizes a zero total).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from invoicing.models import Credit, CreditNote, Invoice

if TYPE_CHECKING:
    from invoicing.services.invoices import Writes

# What applying a credit changes on the credit note, written with the invoice.
_NOTE_FIELDS = ("balance_amount_cents", "credit_status", "updated_at")
# What it changes on the invoice: written by the caller, with the rest of
# the invoice's row (one statement may not update a row twice).
CREDITED_FIELDS = ("credit_notes_amount_cents", "total_amount_cents")


@functools.cache
def _available_sql() -> str:
    """The customer's available credit notes of a currency but the
    invoice's own, oldest first, locked, with their invoice's number: one
    statement through the partial index ``credit_note_available``, written
    once per process (this runs in every finalization, the month-end hot
    path: the ORM's compiling would cost more than the query)."""
    q = connection.ops.quote_name
    note, invoice = CreditNote._meta.db_table, Invoice._meta.db_table
    return (
        f"SELECT n.{q('id')}, n.{q('balance_amount_cents')}, n.{q('number')}, i.{q('number')}"
        f" FROM {q(note)} n JOIN {q(invoice)} i ON i.{q('id')} = n.{q('invoice_id')}"
        f" WHERE n.{q('customer_id')} = %s AND n.{q('currency')} = %s"
        f" AND n.{q('status')} = 'finalized' AND n.{q('credit_status')} = 'available'"
        f" AND n.{q('balance_amount_cents')} > 0 AND n.{q('invoice_id')} <> %s"
        f" ORDER BY n.{q('created_at')}, n.{q('id')}"
        # SQLite (``make run``) has no row locks: it writes one at a time.
        + (" FOR UPDATE OF n" if connection.features.has_select_for_update_of else "")
    )


def credit_notes_statement(invoice: Invoice) -> tuple[str, list, bool] | None:
    """The statement that reads (and locks) the customer's credit notes
    available to ``invoice``, as (SQL, parameters, returns rows), for the
    caller to send with its own (numbering: one round trip for both); None
    when the invoice totals nothing, as there is nothing to take.

    The credit notes are locked (``FOR UPDATE``) for the rest of the
    finalizing transaction, so two invoices of one customer finalized at once
    never spend the same credit: the second waits, then reads what is left.
    One query, through the partial index of available credit notes; most
    customers have none."""
    if invoice.total_amount_cents <= 0:
        return None
    uuid = CreditNote._meta.pk
    params = [
        uuid.get_db_prep_value(invoice.customer_id, connection),
        invoice.currency,
        uuid.get_db_prep_value(invoice.pk, connection),
    ]
    return _available_sql(), params, True


def credit_notes_apply(*, invoice: Invoice, rows: list[tuple], writes: Writes) -> list[Credit]:
    """Take the credit notes ``rows`` (what ``credit_notes_statement`` read),
    oldest first, each for at most what the invoice still totals, into
    credits of the invoice (in memory, and into ``writes``; the invoice's
    ``CREDITED_FIELDS`` are the caller's to write with its row). Returns the
    credits made, in order."""
    uuid = CreditNote._meta.pk
    notes = []
    for pk, balance, number, invoice_number in rows:
        note = CreditNote(id=uuid.to_python(pk), balance_amount_cents=balance, number=number)
        note.credit_status = CreditNote.CreditStatus.AVAILABLE
        note.amended_number = invoice_number
        note._state.adding, note._state.db = False, "default"
        notes.append(note)
    remaining = invoice.total_amount_cents
    credits: list[Credit] = []
    now = timezone.now()
    for note in notes:
        amount = min(note.balance_amount_cents, remaining)
        if amount <= 0:
            break
        credits.append(
            Credit(
                invoice=invoice,
                kind=Credit.Kind.CREDIT_NOTE,
                # ``Credit#item_code`` and ``#item_name``: the credit note's
                # number, the invoice it amends.
                code=note.number,
                name=note.amended_number or "",
                amount_cents=amount,
                credit_note=note,
            )
        )
        note.balance_amount_cents -= amount
        if note.balance_amount_cents == 0:
            note.credit_status = CreditNote.CreditStatus.CONSUMED
        note.updated_at = now
        writes.update(note, _NOTE_FIELDS)
        remaining -= amount
    if not credits:
        return []
    taken = invoice.total_amount_cents - remaining
    invoice.credit_notes_amount_cents += taken
    invoice.total_amount_cents = remaining
    writes.insert(credits)
    # The invoice's credits as read with it (finalizing a draft), these added.
    read = getattr(invoice, "_prefetched_objects_cache", {}).get("credits")
    if read is not None:
        read._result_cache = [*read._result_cache, *credits]
    return credits
