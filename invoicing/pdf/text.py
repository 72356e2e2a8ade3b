"""Fonts, script runs, measuring and wrapping for the invoice renderer.

* Latin, Greek, Cyrillic, Hebrew and Arabic (and the currency symbols) print
  with the vendored DejaVu Sans, embedded as a subset. The PDF standard fonts
  are never used for user text: they have no glyph for ``ę`` or ``Ł``.
* Chinese, Japanese and Korean print with ReportLab's CID fonts (not embedded,
  every PDF viewer ships them). The font is chosen per run of CJK characters,
  so a Japanese customer name on an English invoice prints too.
* Right-to-left text is shaped (Arabic letters take their joined forms) before
  it is measured and wrapped, and put in visual order line by line just
  before drawing; PDF has no bidi of its own.
* A character no font has prints as U+FFFD rather than as an empty box.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import zlib
from collections.abc import Iterable
from pathlib import Path

import arabic_reshaper
from bidi.algorithm import get_display  # the Rust get_display does not mirror brackets
from reportlab.pdfbase import cidfonts, pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "InvoiceSans"
BOLD = "InvoiceSans-Bold"
_FONT_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}

# CID font and the legacy codec whose repertoire approximates the font's
# character collection: used to pick, among CJK fonts, one that has the glyphs.
CJK_FONTS = {
    "ja": "HeiseiKakuGo-W5",
    "zh_TW": "MSung-Light",
    "zh_CN": "STSong-Light",
    "ko": "HYGothic-Medium",
}
_CJK_CODECS = {"ja": "euc_jis_2004", "zh_TW": "big5hkscs", "zh_CN": "gbk", "ko": "euc_kr"}
# Han-only runs on a non-CJK document: Traditional first (Big5 also covers
# most Japanese kanji names), then Japanese, then Simplified.
_DEFAULT_CJK_ORDER = ("zh_TW", "ja", "zh_CN", "ko")

REPLACEMENT = "\ufffd"

# Characters drawn in subset 0 of each embedded font, in this order, whether
# used or not. It makes subset 0 identical across invoices in Latin scripts,
# so its font program is built and compressed once per process (see
# _cache_subsets) instead of once per PDF; ReportLab keeps codes 32-126 for
# ASCII, leaving 159 codes for these.
_PRESET = (
    "¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞß"
    "àáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ"
    "ĄąĆćĘęŁłŃńŚśŹźŻżČčĎďĚěŇňŘřŠšŤťŮůŽžŐőŰűŒœĞğİıŞşŸ"
    "–—‘’‚“”„•…‰€™‹›\u2009\u202f−"
)

_BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_STRIP_BIDI = str.maketrans("", "", _BIDI_CONTROLS)
_RTL_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u200f\u061c]")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana ext.
    (0x3200, 0x33FF),  # enclosed and compatibility
    (0x3400, 0x4DBF),  # Han extension A
    (0x4E00, 0x9FFF),  # Han
    (0xA960, 0xA97F),
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),  # half- and full-width forms
)

_lock = threading.Lock()
_fonts: dict[str, TTFont] = {}
_simple_re: re.Pattern[str] | None = None
_covered: dict[str, frozenset[int]] = {}
_class_cache: dict[tuple[str, bool], str] = {}
_subset_programs: dict[tuple[str, tuple[int, ...]], bytes] = {}
_compressed: dict[bytes, bytes] = {}
_CACHE_SIZE = 32


def _evict(cache: dict) -> None:
    """Drop the oldest entry of a full cache (tolerates a concurrent eviction)."""
    if len(cache) >= _CACHE_SIZE:
        try:
            cache.pop(next(iter(cache)), None)
        except (StopIteration, RuntimeError):
            pass


class _MemoFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate filter that remembers its last outputs, process-wide.

    Used for embedded font programs only: compressing a 40 KB subset costs
    ~1 ms per PDF, and most invoices embed the same subset 0 (see _PRESET).
    """

    def encode(self, text: bytes | str) -> bytes:
        data = text.encode("utf8") if isinstance(text, str) else text
        compressed = _compressed.get(data)
        if compressed is None:
            compressed = zlib.compress(data)
            _evict(_compressed)
            _compressed[data] = compressed
        return compressed


_MEMO_FLATE = _MemoFlate()


def _cache_subsets(font: TTFont) -> None:
    """Memoize each glyph subset's font program and its compression.

    Building a subset parses and rewrites the TrueType tables (~1.5 ms a
    subset); a worker renders thousands of invoices that share subset 0.
    ``addSubsetObjects`` is ReportLab 4.4's, except for the filter.
    """
    face = font.face
    build = face.makeSubset

    def make_subset(subset: list[int]) -> bytes:
        key = (font.fontName, tuple(subset))
        program = _subset_programs.get(key)
        if program is None:
            program = build(subset)
            _evict(_subset_programs)
            _subset_programs[key] = program
        return program

    def add_subset_objects(doc: pdfdoc.PDFDocument, fontname: str, subset: list[int]) -> object:
        font_file = pdfdoc.PDFStream()
        font_file.content = make_subset(subset)
        font_file.dictionary["Length1"] = len(font_file.content)
        if doc.compression:
            font_file.filters = [_MEMO_FLATE]
        ref = doc.Reference(font_file, f"fontFile:{face.filename}({fontname})")
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": "/FontDescriptor",
                "Ascent": face.ascent,
                "CapHeight": face.capHeight,
                "Descent": face.descent,
                "Flags": (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(face.bbox),
                "FontName": pdfdoc.PDFName(fontname),
                "ItalicAngle": face.italicAngle,
                "StemV": face.stemV,
                "FontFile2": ref,
                "MissingWidth": face.defaultWidth,
            }
        )
        return doc.Reference(descriptor, "fontDescriptor:" + fontname)

    face.makeSubset = make_subset
    face.addSubsetObjects = add_subset_objects


class _TraditionalChineseFont(cidfonts.UnicodeCIDFont):
    """MSung-Light with the Unicode CMap of its own character collection.

    ReportLab 4.4 pairs MSung-Light (Adobe-CNS1) with ``UniGB-UCS2-H``, the
    CMap of Simplified Chinese: viewers then map the text to the wrong glyphs
    and poppler refuses it. ``UniCNS-UCS2-H`` is the right CMap.
    """

    def __init__(self) -> None:
        cidfonts.CIDFont.__init__(self, "MSung-Light", "UniCNS-UCS2-H")
        self.language = "cht"
        self.name = self.fontName = "MSung-Light"
        self.vertical = False
        self.isHalfWidth = False
        self.unicodeWidths = cidfonts.widthsByUnichar[self.name]


def register_fonts() -> None:
    """Register the embedded and CID fonts once per process (~40 ms)."""
    global _simple_re
    if _simple_re is not None:
        return
    with _lock:
        if _simple_re is not None:
            return
        for name, filename in _FONT_FILES.items():
            font = TTFont(name, str(FONT_DIR / filename))
            _cache_subsets(font)
            pdfmetrics.registerFont(font)
            _fonts[name] = font
            _covered[name] = frozenset(font.face.charToGlyph)
        for lang, name in CJK_FONTS.items():
            font = _TraditionalChineseFont() if lang == "zh_TW" else cidfonts.UnicodeCIDFont(name)
            pdfmetrics.registerFont(font)
        _simple_re = _build_simple_re()


def _build_simple_re() -> re.Pattern[str]:
    """A character class of what both DejaVu faces draw left to right.

    Text made only of these characters (nearly all invoice text) skips the
    per-character script analysis.
    """
    both = _covered[REGULAR] & _covered[BOLD]
    wanted = [c for c in range(0x20, 0x0590) if c in both and not 0x7F <= c < 0xA0]
    wanted += [c for c in range(0x1E00, 0x2C00) if c in both and chr(c) not in _BIDI_CONTROLS]
    ranges = []
    start = prev = wanted[0]
    for code in wanted[1:]:
        if code != prev + 1:
            ranges.append((start, prev))
            start = code
        prev = code
    ranges.append((start, prev))
    parts = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{parts}]*")


def is_simple(text: str) -> bool:
    """True when DejaVu draws all of text, left to right, in either weight."""
    assert _simple_re is not None, "register_fonts() first"
    return _simple_re.fullmatch(text) is not None


def font(name: str) -> TTFont:
    return _fonts[name]


def preset_characters() -> str:
    return _PRESET


def prepare(text: str | None) -> str:
    """Clean user text and shape Arabic; the result is still in logical order."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL_RE.sub("", text)
    # Composed forms: the embedded font has no mark positioning, so "e" +
    # U+0301 would print less well than the precomposed "é".
    text = unicodedata.normalize("NFC", text)
    if _ARABIC_RE.search(text):
        text = "\n".join(arabic_reshaper.reshape(part) for part in text.split("\n"))
    return text


def visual(line: str) -> str:
    """Put one line in display order and drop the (invisible) bidi controls."""
    if _RTL_RE.search(line):
        line = get_display(line)
    return line.translate(_STRIP_BIDI)


def _is_cjk(code: int) -> bool:
    for low, high in _CJK_RANGES:
        if low <= code <= high:
            return True
    return False


def _char_class(char: str, bold: bool) -> str:
    """The font for one character: a DejaVu face, "cjk", "" (drop) or "?"."""
    key = (char, bold)
    cls = _class_cache.get(key)
    if cls is not None:
        return cls
    code = ord(char)
    if char in _BIDI_CONTROLS:
        cls = ""
    elif _is_cjk(code):
        cls = "cjk"
    elif bold and code in _covered[BOLD]:
        cls = BOLD
    elif code in _covered[REGULAR]:
        cls = REGULAR
    elif _cjk_font_for(char, _DEFAULT_CJK_ORDER, strict=True):
        # CJK fonts also carry symbols DejaVu lacks (※, ①, ...).
        cls = "cjk"
    else:
        cls = "?"
    _class_cache[key] = cls
    return cls


def _encodable(text: str, lang: str) -> bool:
    try:
        text.encode(_CJK_CODECS[lang])
    except UnicodeEncodeError:
        return False
    return True


def _cjk_font_for(run: str, order: Iterable[str], strict: bool = False) -> str | None:
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF for c in run):
        return CJK_FONTS["ko"]
    if any(0x3040 <= ord(c) <= 0x30FF for c in run):
        return CJK_FONTS["ja"]
    for lang in order:
        if _encodable(run, lang):
            return CJK_FONTS[lang]
    return None if strict else CJK_FONTS[next(iter(order))]


def cjk_order(label_key: str) -> tuple[str, ...]:
    """Preferred CJK fonts for a document language: its own first."""
    if label_key in CJK_FONTS:
        return (label_key,) + tuple(k for k in _DEFAULT_CJK_ORDER if k != label_key)
    return _DEFAULT_CJK_ORDER


def runs(
    text: str, bold: bool, order: tuple[str, ...] = _DEFAULT_CJK_ORDER
) -> list[tuple[str, str]]:
    """Split text into ``(font name, text)`` runs, one font per run."""
    face = BOLD if bold else REGULAR
    assert _simple_re is not None, "register_fonts() first"
    if _simple_re.fullmatch(text):
        return [(face, text)]
    result: list[tuple[str, str]] = []
    current_cls = None
    chars: list[str] = []
    for char in text:
        cls = _char_class(char, bold)
        if not cls:
            continue
        if cls == "?":
            cls, char = face, REPLACEMENT
        if cls != current_cls and chars:
            result.append((current_cls, "".join(chars)))  # type: ignore[arg-type]
            chars = []
        current_cls = cls
        chars.append(char)
    if chars:
        result.append((current_cls, "".join(chars)))  # type: ignore[arg-type]
    return [
        (_cjk_font_for(chunk, order) or CJK_FONTS["ja"], chunk) if cls == "cjk" else (cls, chunk)
        for cls, chunk in result
    ]


def width(text: str, bold: bool, size: float, order: tuple[str, ...] = _DEFAULT_CJK_ORDER) -> float:
    """Width in points of ``text`` (logical or visual order: the same)."""
    assert _simple_re is not None, "register_fonts() first"
    if _simple_re.fullmatch(text):
        return _fonts[BOLD if bold else REGULAR].stringWidth(text, size)
    return sum(pdfmetrics.stringWidth(chunk, name, size) for name, chunk in runs(text, bold, order))


def wrap(
    text: str,
    bold: bool,
    size: float,
    max_width: float,
    order: tuple[str, ...] = _DEFAULT_CJK_ORDER,
) -> list[str]:
    """Greedy word wrap; words wider than the line are broken between characters.

    ``text`` must come from :func:`prepare`. Hard line breaks are kept; the
    result always has at least one line.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        if width(paragraph, bold, size, order) <= max_width:
            lines.append(paragraph)
            continue
        space = width(" ", bold, size, order)
        current = ""
        current_width = 0.0
        for word in paragraph.split(" "):
            word_width = width(word, bold, size, order)
            if current and current_width + space + word_width <= max_width:
                current += " " + word
                current_width += space + word_width
                continue
            if current:
                lines.append(current)
            if word_width <= max_width:
                current, current_width = word, word_width
                continue
            pieces = _break_word(word, bold, size, max_width, order)
            lines.extend(pieces[:-1])
            current = pieces[-1]
            current_width = width(current, bold, size, order)
        lines.append(current)
    return lines or [""]


def _break_word(
    word: str, bold: bool, size: float, max_width: float, order: tuple[str, ...]
) -> list[str]:
    """Cut a word into pieces that each fit (at least one character each)."""
    pieces = []
    rest = word
    while rest and width(rest, bold, size, order) > max_width:
        # Binary search of the longest prefix that fits: O(log n) measures.
        low, high = 1, len(rest)
        while low < high:
            mid = (low + high + 1) // 2
            if width(rest[:mid], bold, size, order) <= max_width:
                low = mid
            else:
                high = mid - 1
        pieces.append(rest[:low])
        rest = rest[low:]
    pieces.append(rest)
    return pieces
