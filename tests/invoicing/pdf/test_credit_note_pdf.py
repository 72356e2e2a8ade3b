"""The credit note PDF read back: title, the invoice it amends, reason, items,
tax lines, and a totals column that adds up as printed, in en, fr, de and
ja; every locale renders with every glyph embedded; same bytes twice.

Amounts are parsed from the printed text with the locale's own symbols and
re-added; expected figures are worked out by hand below."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from babel.dates import format_date

from invoicing.pdf.credit_note import (
    CREDIT_NOTE_LABELS,
    CreditNoteLine,
    CreditNoteSnapshot,
    CreditNoteTax,
    render_credit_note_pdf,
)
from invoicing.pdf.errors import SnapshotInconsistent
from invoicing.pdf.locales import LABELS, SUPPORTED_LOCALES
from invoicing.pdf.snapshot import Address, Party
from tests.invoicing.pdf.pdftools import nfkc, pages_text, squash
from tests.invoicing.pdf.test_totals import totals_column

INVOICE_DATE = dt.date(2026, 11, 3)


def _snapshot(locale: str = "en", **changes) -> CreditNoteSnapshot:
    # Items 25.00 at 20 % and 10.00 at 20 % + 5.5 %: VAT 20 % on 35.00 = 7.00,
    # 5.5 % on 10.00 = 0.55; total 35.00 + 7.55 = 42.55 = 30.00 credited +
    # 12.55 refunded.
    data = dict(
        id="6f1e2d3c-0000-4000-8000-000000000001",
        number="261103-000007-CN001",
        invoice_number="261103-000007",
        invoice_issuing_date=INVOICE_DATE,
        reason="order_change",
        currency="EUR",
        issuing_date=dt.date(2026, 12, 5),
        created_at=dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC),
        locale=locale,
        organization=Party(name="Acme SAS", address=Address(city="Paris", country="FR")),
        customer=Party(name="Globex GmbH", address=Address(city="Berlin", country="DE")),
        description="Two seats removed",
        items=(
            CreditNoteLine("Plan Pro", amount_cents=2500, taxes_rate=Decimal("20")),
            CreditNoteLine("Support", amount_cents=1000, taxes_rate=Decimal("25.5")),
        ),
        applied_taxes=(
            CreditNoteTax("VAT", "vat20", Decimal("20"), 3500, 700),
            CreditNoteTax("Reduced", "r55", Decimal("5.5"), 1000, 55),
        ),
        sub_total_excluding_taxes_amount_cents=3500,
        taxes_amount_cents=755,
        total_amount_cents=4255,
        credit_amount_cents=3000,
        refund_amount_cents=1255,
    )
    data.update(changes)
    return CreditNoteSnapshot(**data)


@pytest.mark.parametrize(
    ("locale", "babel"), [("en", "en"), ("fr", "fr"), ("de", "de"), ("ja", "ja")]
)
def test_read_back_it_names_the_invoice_and_adds_up(locale, babel):
    pdf = render_credit_note_pdf(_snapshot(locale))
    text = squash(nfkc("".join(pages_text(pdf))))
    labels = CREDIT_NOTE_LABELS[locale]
    assert squash(labels["credit_note"]) in text
    assert "261103-000007-CN001" in text
    # Art. 219: the amended invoice, by number and date.
    amends = labels["amends"].format(
        number="261103-000007", date=format_date(INVOICE_DATE, "long", locale=babel)
    )
    assert squash(nfkc(amends)) in text
    assert squash(labels["order_change"]) in text
    assert "PlanPro" in text and "Support" in text
    rows = totals_column(pdf, "EUR", babel)
    amounts = [amount for _, amount in rows]
    printed = [squash(nfkc(label)) for label, _ in rows]
    sub = printed.index(squash(nfkc(LABELS[locale]["subtotal_excl"])))
    taxes = printed.index(squash(nfkc(LABELS[locale]["total_taxes"])))
    total = printed.index(squash(nfkc(labels["total_credit_note"])))
    # Items 25.00 + 10.00 = 35.00; + 7.55 tax = 42.55; 30.00 + 12.55 of it.
    assert amounts[:sub] == [3500] and amounts[sub] == 3500
    assert amounts[taxes] == 755 and amounts[sub] + amounts[taxes] == amounts[total] == 4255
    assert amounts[total + 1 :] == [3000, 1255]
    assert sum(amounts[total + 1 :]) == amounts[total]


def test_the_items_rounding_is_printed_so_the_column_adds_up():
    # Two items of 33.33333 cents each (a void's pro rata) print 33 each; Lago
    # rounds their precise sum once: 66.66666 -> 67. A rounding line of +1.
    snapshot = _snapshot(
        items=(CreditNoteLine("A", amount_cents=33), CreditNoteLine("B", amount_cents=33)),
        applied_taxes=(),
        sub_total_excluding_taxes_amount_cents=67,
        taxes_amount_cents=0,
        total_amount_cents=67,
        credit_amount_cents=67,
        refund_amount_cents=0,
    )
    rows = totals_column(render_credit_note_pdf(snapshot), "EUR", "en")
    assert [amount for _, amount in rows] == [66, 1, 67, 0, 67, 67]


def test_a_voided_credit_says_when():
    pdf = render_credit_note_pdf(_snapshot(credit_voided_on=dt.date(2026, 12, 6)))
    assert "TheremainingcreditwasvoidedonDecember6,2026." in squash("".join(pages_text(pdf)))


def test_totals_that_do_not_add_up_are_refused():
    with pytest.raises(SnapshotInconsistent):
        render_credit_note_pdf(_snapshot(total_amount_cents=4256, credit_amount_cents=3001))
    with pytest.raises(SnapshotInconsistent):
        render_credit_note_pdf(_snapshot(refund_amount_cents=1000))


def test_same_bytes_twice():
    assert render_credit_note_pdf(_snapshot("ja")) == render_credit_note_pdf(_snapshot("ja"))


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_locale_has_every_label_and_embeds_every_font(locale):
    assert set(CREDIT_NOTE_LABELS[locale]) == set(CREDIT_NOTE_LABELS["en"])
    pdf = render_credit_note_pdf(_snapshot(locale.replace("_", "-")))
    fonts = subprocess.run(
        ["pdffonts", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    listed = fonts.splitlines()[2:]
    assert listed, fonts
    # Columns: name type encoding emb sub uni object ID; every font embedded.
    assert all(line.split()[-5] == "yes" for line in listed), fonts
    assert "�" not in pages_text(pdf)[0]
