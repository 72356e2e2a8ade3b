"""Finding an invoice from Lotus's ``{invoice_id}``: an id in any of its
spellings, or the invoice number, matched whole.

What is malformed (400) rather than unknown (404), precisely:

- longer than 64 characters (no id spelling and no number is: numbers are at
  most 64, ids at most 40);
- containing a space or a non-printable character (control, format, surrogate,
  unassigned: no number scheme produces them, and PostgreSQL refuses NUL);
- starting with ``invoice_`` without being ``invoice_`` + 32 hexadecimal digits
  (that prefix is the id spelling, never the start of a number).

Anything else is either an id (``invoice_<hex>``, bare 32-hex, dashed UUID;
these spellings win over a number that would look the same) or a candidate
number; either way, when this organization has no such non-draft invoice, 404.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

from invoicing import selectors
from invoicing.models import Invoice, Organization

# Invoice.number's max_length; the longest id spelling is 40 characters.
MAX_REF_LENGTH = 64
ID_PREFIX = "invoice_"

# Lotus never shows drafts: they have no number and are not invoices yet.
VISIBLE_STATUSES = (Invoice.Status.FINALIZED, Invoice.Status.VOIDED)


def _invalid(detail: str, code: str = "invalid") -> ValidationError:
    return ValidationError({"invoice_id": [detail]}, code=code)


def invoice_find(*, organization: Organization, invoice_id: str) -> Invoice:
    """The organization's non-draft invoice named by ``invoice_id``."""
    if len(invoice_id) > MAX_REF_LENGTH:
        raise _invalid(
            f"Ensure this field has no more than {MAX_REF_LENGTH} characters.", "max_length"
        )
    if not invoice_id.isprintable() or " " in invoice_id:
        raise _invalid("Invoice IDs and numbers contain no spaces or control characters.")
    if invoice_id.startswith(ID_PREFIX):
        invoice_id = ID_PREFIX + invoice_id[len(ID_PREFIX) :].lower()
        if selectors.parse_invoice_uuid(invoice_id) is None:
            raise _invalid('An invoice ID is "invoice_" followed by 32 hexadecimal digits.')
    return selectors.invoice_get_by_reference(
        organization=organization, reference=invoice_id, statuses=VISIBLE_STATUSES
    )
