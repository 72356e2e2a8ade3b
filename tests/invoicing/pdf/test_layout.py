"""Pagination, repeated header, wrapping, sizes from 0 to 10,000 fees, VOID."""

from __future__ import annotations

import functools
import io
import re

import pypdf
import pytest

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf.locales import LABELS
from invoicing.pdf.render import BOTTOM, LEFT, PAGE_H, RIGHT, UNITS_X
from invoicing.pdf.samples import (
    LONG_WORD,
    sample_long_names_invoice,
    sample_plan_invoice,
    sample_snapshot,
    sample_voided_invoice,
)
from tests.invoicing.pdf.pdftools import money, page_count, pages_text, squash, visual_lines

HEADER = [LABELS["en"][k] for k in ("description", "units", "unit_price", "tax_rate", "amount")]


@functools.cache
def long_invoice() -> tuple[bytes, list[str]]:
    pdf = render_invoice_pdf(sample_snapshot(500))
    return pdf, pages_text(pdf)


def test_page_x_of_y_on_every_page_with_the_real_page_count() -> None:
    pdf, pages = long_invoice()
    total = page_count(pdf)
    assert total > 10
    assert len(pages) == total
    for number, text in enumerate(pages, start=1):
        found = re.findall(r"Page (\d+) of (\d+)", text)
        assert found == [(str(number), str(total))], (number, found)


def test_header_row_is_repeated_on_every_page_of_the_table() -> None:
    snapshot = sample_snapshot(500)
    _, pages = long_invoice()
    names = [fee.display_name for fee in snapshot.fees]
    pages_with_fees = 0
    for text in pages:
        fees_here = [name for name in names if re.search(rf"{re.escape(name)}\n", text)]
        if not fees_here:
            continue
        pages_with_fees += 1
        for label in HEADER:
            assert label in text
        # The header comes before the first fee row of the page.
        assert text.index(HEADER[0]) < text.index(fees_here[0])
    assert pages_with_fees == len(pages)


def test_every_fee_appears_exactly_once_in_order() -> None:
    snapshot = sample_snapshot(500)
    _, pages = long_invoice()
    text = "\n".join(pages)
    positions = []
    for fee in snapshot.fees:
        hits = [m.start() for m in re.finditer(rf"{re.escape(fee.display_name)}\n", text)]
        assert len(hits) == 1, fee.display_name
        positions.append(hits[0])
    assert positions == sorted(positions)
    squashed = squash(text)
    assert squash(money(snapshot.total_due_amount_cents, "EUR", "en")) in squashed


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_invoices_render(count: int) -> None:
    snapshot = sample_snapshot(count)
    pdf = render_invoice_pdf(snapshot)
    pages = pages_text(pdf)
    assert len(pages) == page_count(pdf) == 1
    text = squash(pages[0])
    assert squash(money(snapshot.total_due_amount_cents, "EUR", "en")) in text
    assert (HEADER[1] in pages[0]) is (count > 0)  # no empty fee table
    assert "Page1of1" in text


def test_ten_thousand_fees() -> None:
    snapshot = sample_snapshot(10_000)
    pdf = render_invoice_pdf(snapshot)
    pages = pages_text(pdf)
    total = len(pages)
    assert total == page_count(pdf) > 300
    assert f"Page {total} of {total}" in pages[-1]
    last = snapshot.fees[-1]
    tail = "\n".join(pages[-3:])
    assert f"{last.display_name}\n" in tail
    assert squash(money(last.amount_cents, "EUR", "en")) in squash(tail)
    assert squash(money(snapshot.total_due_amount_cents, "EUR", "en")) in squash(pages[-1])


def test_long_texts_wrap_inside_their_columns_and_nothing_is_lost() -> None:
    snapshot = sample_long_names_invoice()
    pdf = render_invoice_pdf(snapshot)
    pages = pages_text(pdf)
    assert len(pages) == page_count(pdf) <= 3
    everything = squash("".join(pages))
    for value in (
        snapshot.organization.name,
        snapshot.organization.legal_name,
        snapshot.organization.email,
        snapshot.customer.name,
        snapshot.customer.legal_name,
        snapshot.customer.address.line1,
        snapshot.number,
        snapshot.purchase_order_number,
        snapshot.invoice_footer,
        *(fee.display_name for fee in snapshot.fees),
        *(fee.description for fee in snapshot.fees),
        *(item.value for item in snapshot.metadata),
    ):
        assert squash(value) in everything, value[:60]
    for page in range(len(pages)):
        for bottom, text, chars in visual_lines(pdf, page):
            for char in chars:
                # Nothing crosses the margins or runs into the page footer.
                assert LEFT - 0.5 <= char["x0"] and char["x1"] <= RIGHT + 0.5, (text, char)
                if "Page" not in text and "Invoice LONG" not in text:
                    assert PAGE_H - bottom >= BOTTOM - 3, text
    # The 160-character word sits in the description column, broken over lines.
    first = visual_lines(pdf, 0)
    header_bottom = next(b for b, text, _ in first if text.startswith(HEADER[0]))
    desc_chars = [
        c
        for bottom, text, chars in first
        if bottom > header_bottom and "Supercalifragilistic" in text
        for c in chars
        if c["x0"] < UNITS_X
    ]
    assert desc_chars, "the long word is in the fee table"
    assert max(c["x1"] for c in desc_chars) <= UNITS_X
    assert len({round(c["top"]) for c in desc_chars}) >= 3
    assert LONG_WORD in "".join(pages).replace("\n", "")


def test_plan_headings_group_their_fees() -> None:
    snapshot = sample_plan_invoice()
    pdf = render_invoice_pdf(snapshot)
    lines = [(bottom, squash(text)) for bottom, text, _ in visual_lines(pdf)]
    plans = list(dict.fromkeys(fee.plan_name for fee in snapshot.fees if fee.plan_name))
    assert len(plans) == 2
    heading_y = {}
    for plan in plans:
        found = [bottom for bottom, text in lines if text == squash(plan)]
        assert len(found) == 1, plan
        heading_y[plan] = found[0]
    first, second = (heading_y[plan] for plan in plans)
    assert first < second  # y grows downwards in pdfplumber

    def row_y(fee) -> float:
        amount = squash(money(fee.amount_cents, "EUR", "en"))
        rows = [
            bottom
            for bottom, text in lines
            if text.startswith(squash(fee.display_name)) and text.endswith(amount)
        ]
        assert len(rows) == 1, fee
        return rows[0]

    for fee in snapshot.fees:
        y = row_y(fee)
        if fee.plan_name == plans[0]:
            assert first < y < second
        elif fee.plan_name == plans[1]:
            assert y > second
        else:
            assert y < first  # fees without a plan come first, ungrouped


@pytest.mark.parametrize("locale", ["en", "fr", "ja"])
def test_void_mark_on_every_page(locale: str) -> None:
    snapshot = sample_voided_invoice(locale)
    assert snapshot.is_voided
    pdf = render_invoice_pdf(snapshot)
    pages = pages_text(pdf)
    assert len(pages) > 1
    word = LABELS[locale]["void"]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        # pypdf reads the diagonal mark (pdftotext skips rotated text).
        assert word in page.extract_text()
    big = [c for _, _, row in visual_lines(pdf, 1) for c in row if c["size"] > 60]
    assert "".join(sorted(c["text"] for c in big)) == "".join(sorted(word))


def test_no_void_mark_when_not_voided() -> None:
    pdf = render_invoice_pdf(sample_snapshot(45))
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        assert LABELS["en"]["void"] not in page.extract_text()


def test_an_unreadable_logo_is_left_out_and_said(caplog) -> None:
    import dataclasses

    from invoicing.pdf.samples import sample_eur_invoice

    snapshot = dataclasses.replace(sample_eur_invoice(), logo_png=b"not an image")
    with caplog.at_level("WARNING", logger="invoicing.pdf"):
        pdf = render_invoice_pdf(snapshot)
    assert pages_text(pdf)[0].startswith(("Invoice", "Acme"))
    assert "logo is unreadable" in caplog.text and snapshot.id in caplog.text
