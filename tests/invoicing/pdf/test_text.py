"""Wrapping, script runs and bidi helpers of the renderer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.pdf import text as fonts

fonts.register_fonts()

WORDS = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopWXYZ ĄęŁ€0123456789.-山田ا")),
    min_size=0,
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(text=WORDS, width=st.floats(min_value=20, max_value=400), bold=st.booleans())
def test_wrap_fits_and_keeps_every_character(text: str, width: float, bold: bool) -> None:
    prepared = fonts.prepare(text)
    lines = fonts.wrap(prepared, bold, 8, width)
    assert lines
    for line in lines:
        # A line only overflows when it is a single character wider than the column.
        assert fonts.width(line, bold, 8) <= width + 1e-6 or len(line) == 1
    assert "".join(lines).replace(" ", "") == prepared.replace(" ", "").replace("\n", "")


def test_wrap_prefers_spaces_and_breaks_overlong_words() -> None:
    width = max(fonts.width(part, False, 10) for part in ("alpha beta", "gamma delta"))
    lines = fonts.wrap("alpha beta gamma delta", False, 10, width)
    assert lines == ["alpha beta", "gamma delta"]
    word = "x" * 200
    pieces = fonts.wrap(word, False, 10, 60)
    assert len(pieces) > 3
    assert "".join(pieces) == word
    assert all(fonts.width(piece, False, 10) <= 60 for piece in pieces)


def test_hard_line_breaks_are_kept() -> None:
    assert fonts.wrap(fonts.prepare("one\r\ntwo\nthree"), False, 8, 500) == ["one", "two", "three"]


def test_runs_pick_a_font_per_script() -> None:
    runs = fonts.runs("Invoice 山田太郎 ありがとう", False, fonts.cjk_order("en"))
    assert runs[0] == (fonts.REGULAR, "Invoice ")
    assert {name for name, chunk in runs[1:] if chunk.strip()} <= set(fonts.CJK_FONTS.values())
    # Kana make it Japanese whatever the document language.
    assert (fonts.JAPANESE, "ありがとう") in runs
    # Han only: the document's own CJK language first (Japanese glyph forms
    # for a Japanese document, the Chinese font for a Chinese one).
    assert fonts.runs("山田", True, fonts.cjk_order("zh_TW")) == [(fonts.CHINESE_KOREAN, "山田")]
    assert fonts.runs("山田", True, fonts.cjk_order("ja")) == [(fonts.JAPANESE, "山田")]
    # Simplified-only characters go to the Chinese font.
    assert fonts.runs("张伟", False, fonts.cjk_order("en")) == [(fonts.CHINESE_KOREAN, "张伟")]
    assert fonts.runs("삼성", False)[0][0] == fonts.CHINESE_KOREAN


def test_unknown_characters_become_a_visible_replacement() -> None:
    runs = fonts.runs("a\u0915b", False)  # Devanagari: neither DejaVu Sans nor CJK fonts
    assert "".join(chunk for _, chunk in runs) == "a\ufffdb"


def test_visual_order_and_shaping() -> None:
    shaped = fonts.prepare("فاتورة")
    assert shaped != "فاتورة"  # joined (presentation) forms
    assert fonts.visual(shaped) == shaped[::-1]
    assert fonts.visual("abc (1)") == "abc (1)"
    # Brackets in right-to-left text are mirrored.
    assert fonts.visual(fonts.prepare("(ب)")).startswith("(")
    assert "\u200f" not in fonts.visual("\u200f1.00\u00a0د.إ.\u200f")


class _Doc:
    """A document key for a font's per-document state."""


def test_a_documents_preset_layout_is_the_one_splitstring_gives_and_its_own() -> None:
    # start_preset copies a layout worked out once per process; it must be the
    # state ReportLab's own splitString leaves, fresh for each document.
    for name in (fonts.REGULAR, fonts.BOLD):
        ttf = fonts.font(name)
        covered = "".join(c for c in fonts._PRESET if ord(c) in ttf.face.charToGlyph)
        by_reportlab, first, second = _Doc(), _Doc(), _Doc()
        ttf.splitString(covered, by_reportlab)
        expected = ttf.state[by_reportlab]
        fonts.start_preset(name, first)
        fonts.start_preset(name, second)
        for doc in (first, second):
            state = ttf.state[doc]
            assert state.assignments == expected.assignments
            assert state.subsets == expected.subsets
            assert state.nextCode == expected.nextCode
            assert len(state.assignments) > 200  # ASCII and the preset, not an empty state
        # A character new to one document takes a code there only.
        ttf.splitString("ŕ", first)
        assert ord("ŕ") in ttf.state[first].assignments
        assert ord("ŕ") not in ttf.state[second].assignments
        assert ttf.state[second].subsets == expected.subsets


def test_reportlabs_pdfdoc_encoding_is_unchanged_by_the_ascii_shortcut() -> None:
    from reportlab.pdfbase import pdfdoc

    assert pdfdoc.pdfdocEnc is fonts._pdfdoc_encode
    samples = ["/Type /Page", "", "D:20250201093000+00'00'", "breve\x18caron\x19",
               "\x00\x09\x0a\x1f\x20\x7e\x7f", "Café €", "€", "–—"]  # fmt: skip
    samples += [chr(c) for c in range(256)]
    for text in samples:
        try:
            expected = text.encode("extpdfdoc")
        except UnicodeEncodeError:
            expected = UnicodeEncodeError
        try:
            got = fonts._pdfdoc_encode(text)
        except UnicodeEncodeError:
            got = UnicodeEncodeError
        assert got == expected, repr(text)
    assert fonts._pdfdoc_encode(b"\x18raw") == b"\x18raw"
