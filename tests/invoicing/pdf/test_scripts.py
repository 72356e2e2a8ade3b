"""Scripts and fonts: CJK names, right-to-left currency, no missing glyphs."""

from __future__ import annotations

import subprocess
import unicodedata

import pytest
from babel.numbers import get_currency_symbol
from reportlab.pdfbase.ttfonts import TTFont

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf.samples import (
    SAMPLES,
    sample_aed_invoice,
    sample_cjk_customer_invoice,
    sample_eur_invoice,
)
from invoicing.pdf.text import FONT_DIR
from tests.invoicing.pdf.pdftools import money, nfkc, pages_text, squash, visual_lines


@pytest.mark.parametrize("locale", ["ja", "zh-TW", "en"])
def test_cjk_customer_name_and_address_come_back(locale: str) -> None:
    snapshot = sample_cjk_customer_invoice(locale)
    text = squash(pages_text(render_invoice_pdf(snapshot))[0])
    customer = snapshot.customer
    for value in (customer.name, customer.legal_name, customer.address.line1):
        assert squash(value) in text, value
    assert (
        squash(money(snapshot.total_due_amount_cents, snapshot.currency, locale.replace("-", "_")))
        in text
    )


def test_cjk_text_uses_embedded_cjk_fonts_and_latin_uses_embedded_dejavu() -> None:
    pdf = render_invoice_pdf(sample_cjk_customer_invoice("zh-TW"))
    fonts = _pdffonts(pdf)
    assert "DroidSansFallback" in fonts and "DejaVuSans" in fonts
    assert " no " not in fonts  # every font embedded
    pdf = render_invoice_pdf(sample_cjk_customer_invoice("en"))
    assert "IPAGothic" in _pdffonts(pdf) or "DroidSansFallback" in _pdffonts(pdf)


def _pdffonts(pdf: bytes) -> str:
    return subprocess.run(
        ["pdffonts", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_no_standard_font_and_no_missing_glyph(name: str) -> None:
    pdf = render_invoice_pdf(SAMPLES[name]())
    fonts = _pdffonts(pdf)
    for standard in ("Helvetica", "Times", "Courier", "Symbol", "ZapfDingbats"):
        assert standard not in fonts
    text = "".join(pages_text(pdf))
    assert "\x00" not in text  # a character drawn as .notdef comes back as NUL
    assert "\ufffd" not in text


def test_polish_and_other_latin_letters_are_real_glyphs() -> None:
    snapshot = sample_eur_invoice()
    pdf = render_invoice_pdf(snapshot)
    dejavu = TTFont("check", str(FONT_DIR / "DejaVuSans.ttf")).face.charToGlyph
    lines = visual_lines(pdf)
    chars = [c for _, _, row in lines for c in row]
    polish = [c for c in chars if c["text"] in "ŁłęóźżąśćńŻŹ"]
    assert polish, "the sample must contain Polish letters"
    for char in polish:
        assert "DejaVuSans" in char["fontname"]
        assert ord(char["text"]) in dejavu


def test_rtl_currency_symbol_is_drawn_in_visual_order() -> None:
    snapshot = sample_aed_invoice()
    pdf = render_invoice_pdf(snapshot)
    symbol = get_currency_symbol("AED", locale="ar")
    letters = [c for c in symbol if unicodedata.bidirectional(c) in ("AL", "R")]
    assert letters, "AED's Arabic symbol has right-to-left letters"
    # Read left to right as drawn: the symbol sits left of the number and its
    # own characters run right to left (د.إ. shows as .إ.د).
    drawn_symbol = "".join(c for c in reversed(symbol) if unicodedata.category(c) != "Cf")
    total = (
        f"{snapshot.total_due_amount_cents // 100:,}.{snapshot.total_due_amount_cents % 100:02d}"
    )
    lines = [nfkc(text) for _, text, _ in visual_lines(pdf)]
    expected = squash(drawn_symbol + total)
    assert any(expected in squash(line) for line in lines), lines
    # And the logical-order string (what a naive renderer would draw) is absent.
    naive = squash(total + "".join(c for c in symbol if unicodedata.category(c) != "Cf"))
    assert not any(naive in squash(line) for line in lines)


def test_rtl_glyphs_are_present_in_the_embedded_font() -> None:
    pdf = render_invoice_pdf(sample_aed_invoice())
    dejavu = TTFont("check", str(FONT_DIR / "DejaVuSans.ttf")).face.charToGlyph
    bold = TTFont("check-bold", str(FONT_DIR / "DejaVuSans-Bold.ttf")).face.charToGlyph
    arabic = [
        c
        for _, _, row in visual_lines(pdf)
        for c in row
        if unicodedata.bidirectional(c["text"]) in ("AL", "R")
    ]
    assert len(arabic) > 50
    for char in arabic:
        cmap = bold if "Bold" in char["fontname"] else dejavu
        assert ord(char["text"]) in cmap, (char["text"], char["fontname"])
