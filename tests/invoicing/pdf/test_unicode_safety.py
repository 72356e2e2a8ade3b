"""Any Unicode string renders; Arabic shaping stays cheap.

Unassigned code points, noncharacters, lone surrogates and the bidi isolates
have no bidi class python-bidi knows and made it raise: a PDF job with such a
customer name failed on every retry. Text is cleaned before shaping and bidi.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata

import pytest
from bidi.algorithm import get_display
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf import text as fonts
from invoicing.pdf.samples import sample_aed_invoice, sample_eur_invoice
from invoicing.pdf.snapshot import InvoiceSnapshot, MetadataItem

fonts.register_fonts()

UNASSIGNED = "\u0378\u0379\u0380\u0530\u2fe0\u1f7f\U000e0080\U0003fffd"
NONCHARACTERS = "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff"
SURROGATES = "\ud800\udbff\udc00\udfff"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
COMBINING = "\u0300\u0301\u0327\u0591\u05b4\u064b\u0651\u0670\u20d0\u302a"
ASTRAL = "\U0001f600\U0001d400\U00020000\U00020b9f\U0001f1eb\U0001f1f7\U000e0001"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي٠١٢٣٤٥٦٧٨٩لأإآةىءؤئ،؛؟ـ"
HEBREW = "אבגדהוזחטיכלמנסעפצקרשתךםןףץ"
OTHER = "aZé0189 .,-()[]{}<>%$€¥\n\t\r\x00\x07\x1b\x85\u00a0\u2028\u2029\u200b\u200d"
SCRIPTS = "山田ありがとう삼성张伟กขคक्षि\ue000ʼ"

PIECES = st.one_of(
    st.sampled_from(UNASSIGNED),
    st.sampled_from(NONCHARACTERS),
    st.sampled_from(SURROGATES),
    st.sampled_from(BIDI_CONTROLS),
    st.sampled_from(COMBINING),
    st.sampled_from(ASTRAL),
    st.sampled_from(ARABIC),
    st.sampled_from(HEBREW),
    st.sampled_from(OTHER),
    st.sampled_from(SCRIPTS),
    # Anything at all, surrogates included.
    st.characters(codec=None, categories=None, exclude_categories=()),
)
TEXT = st.lists(PIECES, max_size=60).map("".join)


def test_the_strategy_can_produce_surrogates() -> None:
    assert all(unicodedata.category(c) == "Cs" for c in SURROGATES)
    assert json.loads('"\\ud800"') == "\ud800"  # how one reaches a str


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, bold=st.booleans(), width=st.floats(min_value=5, max_value=400))
def test_text_helpers_accept_any_string(text: str, bold: bool, width: float) -> None:
    order = fonts.cjk_order("en")
    prepared = fonts.prepare(text)
    assert not any(unicodedata.category(c) in ("Cn", "Cs") for c in prepared)
    lines = fonts.wrap(prepared, bold, 8, width, order)
    assert lines
    for line in lines:
        shown = fonts.visual(line)
        assert fonts.width(line, bold, 8, order) >= 0
        for name, chunk in fonts.runs(shown, bold, order):
            face = fonts.font(name).face
            # Every character drawn has a glyph in its font (no .notdef box).
            missing = [c for c in chunk.replace("\xa0", " ") if ord(c) not in face.charToGlyph]
            assert not missing, (name, missing)


def _with_text(base: InvoiceSnapshot, text: str) -> InvoiceSnapshot:
    customer = dataclasses.replace(
        base.customer,
        name=text,
        legal_name=text[::-1],
        address=dataclasses.replace(base.customer.address, line1=text, city=text[:5]),
    )
    fees = tuple(
        dataclasses.replace(fee, display_name=text[i:], description=text + str(i))
        for i, fee in enumerate(base.fees)
    )
    return dataclasses.replace(
        base,
        customer=customer,
        fees=fees,
        metadata=(MetadataItem(text[:12], text), MetadataItem("ref", text[::-1])),
        invoice_footer=text,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, arabic=st.booleans())
def test_any_text_in_an_invoice_renders(text: str, arabic: bool) -> None:
    base = sample_aed_invoice() if arabic else sample_eur_invoice()
    pdf = render_invoice_pdf(_with_text(base, text))
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize(
    "text",
    [
        "שלום \u0378 עולם",  # unassigned next to Hebrew
        "مرحبا \u0378 ١٢٣",
        "شركة\ufdd0",
        "א\ufffe\uffff",
        "عميل \ud800 \udfff",  # lone surrogates
        "\u2067عميل\u2069 ABC \u2066xyz\u2069 \u2068שלום\u2069",  # isolates
        "\u2069\u202c\u2066",  # unmatched
        "\u202b" * 200 + "א" + "\u202c" * 3,  # embeddings past the depth limit
        "\U0001fffe عميل \U000e0080",
    ],
)
def test_known_bad_strings_render(text: str) -> None:
    prepared = fonts.prepare(text)
    for line in fonts.wrap(prepared, True, 8, 60):
        fonts.runs(fonts.visual(line), True)
    pdf = render_invoice_pdf(_with_text(sample_aed_invoice(), text))
    assert pdf.startswith(b"%PDF-")


def test_bad_code_points_become_visible_replacements() -> None:
    assert fonts.prepare("a\u0378b\ufdd0c\ud800d") == "a\ufffdb\ufffdc\ufffdd"
    # Isolates act as the matching embeddings (python-bidi has no isolates).
    shown = fonts.visual(fonts.prepare("abc \u2067אבג\u2069 def"))
    assert shown == "abc גבא def"


# Mostly right-to-left letters and spaces (the lines visual() reverses without
# running the bidi algorithm), sometimes with what must not take that path.
RTL_LINES = st.lists(
    st.one_of(
        st.sampled_from("אבגדהשלום" + ARABIC[:28] + "ﻻﻟﻤ    \u064b\u0651\u200f\u061c"),
        st.sampled_from("()[]<>«»!.,-+%/:12٣ab\u200e\u202a\u202c\u2066\u2069"),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=RTL_LINES)
@example(text=" \u064b")  # no strong character: a left-to-right paragraph
@example(text="(א)")  # brackets are mirrored
@example(text="א 12")
def test_right_to_left_fast_path_matches_the_bidi_algorithm(text: str) -> None:
    expected = get_display(fonts.sanitize(text)).translate(fonts._STRIP_BIDI)
    assert fonts.visual(text) == expected


# -- Arabic shaping -----------------------------------------------------------


def test_reshaping_does_not_recompile_its_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """arabic_reshaper 3.0.0 rebuilt a ~290-group regex on every call (1.2 ms
    a line, an Arabic page 20 times a Latin one's time)."""
    fonts.prepare("مرحبا")  # the reshaper is ready
    compiled = []
    original = re.compile

    def counting_compile(*args: object, **kwargs: object) -> re.Pattern[str]:
        compiled.append(args[0])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(re, "compile", counting_compile)
    for i in range(50):
        fonts.prepare(f"شركة الإمارات للتجارة رقم {i} لا إله")
    assert compiled == []


def test_lam_alef_joins_and_allah_prints_without_a_missing_glyph() -> None:
    shaped = fonts.prepare("عبد الله لا")
    assert "\ufefb" in shaped  # lam-alef ligature
    assert "\ufdf2" not in shaped  # ALLAH ligature: DejaVu has no glyph for it
    drawn = "".join(chunk for _, chunk in fonts.runs(fonts.visual(shaped), False))
    assert "\ufffd" not in drawn
