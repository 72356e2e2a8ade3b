"""Fonts, script runs, measuring and wrapping for the invoice renderer.

Every glyph is drawn from a vendored TrueType font embedded in the PDF as a
subset (``fonts/``, licences alongside); the PDF standard fonts and the
viewers' own CJK fonts are never used, so an invoice prints the same on any
machine. Each subset gets its own tag derived from its content (ISO 32000
9.6.4).

What prints, and with which font:

* Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic and Persian
  letters, the currency symbols and most punctuation and symbols: DejaVu
  Sans and DejaVu Sans Bold.
* Japanese (kana, the kanji of JIS X 0208 and nearly all of JIS X 0213,
  full-width forms): IPAGothic, so kanji take their Japanese forms.
* Chinese (Simplified and Traditional: every Han character of GBK and
  Big5), Korean (all 11,172 Hangul syllables, hanja) and CJK symbols DejaVu
  lacks: Droid Sans Fallback.
* Both CJK fonts have a single weight: bold CJK text is filled and stroked
  (a fake bold). They are loaded on the first character that needs them
  (~90 ms, ~35 MB), so a process that only prints Latin text does not pay
  for them.
* Han-only text (no kana, no Hangul) takes the document language's CJK font;
  on a document in another language, the first of Traditional Chinese,
  Japanese, Simplified Chinese whose legacy encoding (Big5, EUC-JIS-2004,
  GBK) holds the whole run, i.e. Japanese forms for a kanji name that uses
  Japanese-only characters.
* Right-to-left text is shaped (Arabic letters take their joined forms, with
  the lam-alef ligatures) before it is measured and wrapped, and put in
  visual order line by line just before drawing; PDF has no bidi of its own.

Not supported, printed as U+FFFD "�" (never as an empty box, never as
wrongly shaped text): the scripts that need complex shaping, which ReportLab
does not do (Devanagari and the other Indic scripts, Thai, Lao, Khmer,
Myanmar, Tibetan, Sinhala, Syriac, N'Ko, Mongolian...); the few Urdu letters
DejaVu has no joined forms for (ے, ۀ); colour emoji and other pictographs
DejaVu lacks; any other character none of the fonts has. Combining marks
print only where a precomposed letter exists (text is NFC-normalised).
Unassigned code points, noncharacters and lone surrogates are replaced with
U+FFFD before shaping and bidi, so any Python string renders; the bidi
isolates (LRI, RLI, FSI, PDI), which the bidi implementation does not know,
act as the matching embeddings.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import zlib
from collections.abc import Iterable
from pathlib import Path

import arabic_reshaper
from bidi.algorithm import get_display  # the Rust get_display does not mirror brackets
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "InvoiceSans"
BOLD = "InvoiceSans-Bold"
_FONT_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}

# CJK fonts, loaded on first use: IPAGothic for Japanese, Droid Sans
# Fallback for Chinese (both scripts) and Korean.
JAPANESE = "InvoiceCJK-JP"
CHINESE_KOREAN = "InvoiceCJK"
_CJK_FILES = {JAPANESE: "ipag.ttf", CHINESE_KOREAN: "DroidSansFallback.ttf"}
# Fonts without a bold face: the writer strokes them to embolden.
FAKE_BOLD = frozenset(_CJK_FILES)

# Each CJK language's font, and the legacy codec whose repertoire
# approximates the language's characters: used to guess the language of a
# Han-only run.
CJK_FONTS = {
    "ja": JAPANESE,
    "zh_TW": CHINESE_KOREAN,
    "zh_CN": CHINESE_KOREAN,
    "ko": CHINESE_KOREAN,
}
_CJK_CODECS = {"ja": "euc_jis_2004", "zh_TW": "big5hkscs", "zh_CN": "gbk", "ko": "euc_kr"}
# Han-only runs on a non-CJK document: Traditional first (Big5 also covers
# most Japanese kanji names), then Japanese, then Simplified.
_DEFAULT_CJK_ORDER = ("zh_TW", "ja", "zh_CN", "ko")
# On a CJK document, its own language first (and the other Chinese on a
# Chinese one). No two orders are equal, so the order tells the language.
_DOCUMENT_CJK_ORDERS = {
    "ja": ("ja", "zh_TW", "zh_CN", "ko"),
    "zh_TW": ("zh_TW", "zh_CN", "ja", "ko"),
    "zh_CN": ("zh_CN", "zh_TW", "ja", "ko"),
    "ko": ("ko", "zh_TW", "ja", "zh_CN"),
}
# Characters Babel writes in dates and amounts of a CJK document, besides
# the labels (see cjk_preset).
_CJK_PRESET_EXTRA = {
    "ja": "年月日～〜￥円",
    "zh_TW": "年月日～",
    "zh_CN": "年月日～",
    "ko": "년월일",
}

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

# Drawn in the next subset of a DejaVu face, in this order, when a document
# first needs a right-to-left character: the contextual forms of the Arabic
# and Persian letters (what the reshaper writes), Arabic punctuation and
# digits, Hebrew letters. That subset is then the same in every Arabic or
# Hebrew invoice, so it is built and compressed once per process too.
_RTL_PRESET = (
    "".join(map(chr, range(0xFE80, 0xFEFD)))
    + "".join(
        chr(c)
        for low, high in ((0xFB56, 0xFB59), (0xFB7A, 0xFB7D), (0xFB8A, 0xFB95), (0xFBFC, 0xFBFF))
        for c in range(low, high + 1)
    )
    + "\u060c\u061b\u061f\u0640\u066a\u066b\u066c"
    + "".join(map(chr, range(0x0660, 0x066A)))
    + "".join(map(chr, range(0x06F0, 0x06FA)))
    + "".join(map(chr, range(0x05D0, 0x05EB)))
)

_BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_STRIP_BIDI = str.maketrans("", "", _BIDI_CONTROLS)
_RTL_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u200f\u061c]")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HANGUL_RE = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af]")
_KANA_RE = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_FSI_RE = re.compile("\u2068([^\u2069\n]*)")
_LRE, _RLE, _PDF = "\u202a", "\u202b", "\u202c"

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
    (0x20000, 0x3134F),  # Han extensions B-G
)

_lock = threading.Lock()
_fonts: dict[str, TTFont] = {}
_simple_re: re.Pattern[str] | None = None
_one_font_re: re.Pattern[str] | None = None
_segment_re: re.Pattern[str] | None = None
_cjk_loaded = False
_covered: dict[str, frozenset[int]] = {}
_class_cache: dict[tuple[str, bool], str] = {}
_subset_programs: dict[tuple[str, tuple[int, ...]], bytes] = {}
_cmaps: dict[tuple[str, tuple[int, ...]], str] = {}
# Per subset: its tag and its formatted Widths array.
_subset_parts: dict[tuple[bytes, tuple[int, ...]], tuple[str, bytes]] = {}
_CACHE_SIZE = 32
# Shaped paragraphs and visual-order lines: labels, tax names and the like
# repeat from one invoice to the next.
_shaped: dict[str, str] = {}
_visual: dict[str, str] = {}
_runs: dict[tuple[str, bool, tuple[str, ...]], tuple[tuple[str, str], ...]] = {}
_TEXT_CACHE_SIZE = 4096


def _evict(cache: dict, size: int = _CACHE_SIZE) -> None:
    """Drop the oldest entry of a full cache (tolerates a concurrent eviction)."""
    if len(cache) >= size:
        try:
            cache.pop(next(iter(cache)), None)
        except (StopIteration, RuntimeError):
            pass


class _MemoFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate filter that remembers its last outputs, process-wide.

    Used for embedded font programs and their ToUnicode CMaps only:
    compressing a 40 KB subset costs ~1 ms per PDF, and most invoices embed
    the same subset 0 (see _PRESET).
    """

    def __init__(self, level: int = 6) -> None:
        self.level = level
        self._outputs: dict[bytes, bytes] = {}

    def encode(self, text: bytes | str) -> bytes:
        data = text.encode("utf8") if isinstance(text, str) else text
        compressed = self._outputs.get(data)
        if compressed is None:
            compressed = zlib.compress(data, self.level)
            _evict(self._outputs)
            self._outputs[data] = compressed
        return compressed


_MEMO_FLATE = _MemoFlate()
# CJK outlines barely compress (a 120-kanji subset: 68 KB, 50.2 KB at level
# 6, 51.7 KB at level 1) and each invoice's names make a new subset: level 1
# takes 40 % less time for 3 % more bytes.
_MEMO_FLATE_FAST = _MemoFlate(1)

# PDFDocEncoding is ASCII but for 0x18-0x1F (breve, caron...).
_PDFDOC_NOT_ASCII = re.compile("[\x18-\x1f]")


def _pdfdoc_encode(value: object) -> object:
    """``pdfdoc.pdfdocEnc``, with ASCII text encoded by the C codec.

    ReportLab encodes every name, number and key of the file through its
    Python codec ``extpdfdoc`` (~0.7 us a call, ~200 calls a one-page PDF);
    for ASCII text outside 0x18-0x1F that codec gives the same bytes.
    """
    if isinstance(value, str):
        if value.isascii() and not _PDFDOC_NOT_ASCII.search(value):
            return value.encode("ascii")
        return value.encode("extpdfdoc")
    return value


pdfdoc.pdfdocEnc = _pdfdoc_encode


def _cache_subsets(font: TTFont, flate: _MemoFlate = _MEMO_FLATE) -> None:
    """Memoize each glyph subset's font program and its compression.

    Building a subset parses and rewrites the TrueType tables (~1.5 ms a
    subset); a worker renders thousands of invoices that share subset 0.
    ``addSubsetObjects`` is ReportLab 4.4's, except for the filter.
    """
    face = font.face
    build = face.makeSubset
    get_table = face.get_table

    def get_table_lazily(tag: str) -> object:
        # makeSubset takes the whole glyf table (bytes: a copy, 5.7 MB for
        # IPAGothic, ~0.5 ms) to slice a few glyphs out of it.
        if tag == "glyf":
            return _TableSlicer(face._ttf_data, face.get_table_pos(tag)[0])
        return get_table(tag)

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
            font_file.filters = [flate]
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
    face.get_table = get_table_lazily


class _TableSlicer:
    """A font table that copies only the slices taken of it (``[a:b]``)."""

    __slots__ = ("data", "start")

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.start = start

    def __getitem__(self, key: slice) -> bytes:
        return self.data[self.start + key.start : self.start + key.stop]


def subset_tag(font_name: bytes, subset: Iterable[int], salt: int = 0) -> str:
    """Six capital letters derived from a subset's font and characters.

    ReportLab names subsets AAAAAA+, AAAAAB+... in every PDF; ISO 32000
    (9.6.4) wants different subsets to have different tags. The tag is a
    digest of the font name and of the subset's characters in code order
    (which fix its glyphs and encoding), so it is the same for the same subset
    in every process and differs, but for a 1 in 3e8 chance, between subsets.
    """
    digest = hashlib.sha256(font_name)
    digest.update(b"|%d|" % salt)
    digest.update(",".join(map(str, subset)).encode("ascii"))
    number = int.from_bytes(digest.digest()[:8], "big")
    letters = []
    for _ in range(6):
        number, rest = divmod(number, 26)
        letters.append(chr(65 + rest))
    return "".join(letters)


def _utf16(code: int) -> str:
    if code < 0x10000:
        return f"{code:04X}"
    return chr(code).encode("utf-16-be").hex().upper()


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """ReportLab 4.4's ToUnicode CMap, with characters beyond the BMP as
    UTF-16 surrogate pairs (ReportLab writes them as 5-6 hex digits).

    Remembered per subset, like the font programs: subset 0 of a Latin
    invoice is the same in every PDF.
    """
    key = (fontname, tuple(subset))
    cmap = _cmaps.get(key)
    if cmap is not None:
        return cmap
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{i:02X}> <{_utf16(code)}>" for i, code in enumerate(subset)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    cmap = "\n".join(lines)
    _evict(_cmaps)
    _cmaps[key] = cmap
    return cmap


class _Formatted(pdfdoc.PDFObject):
    """A PDF object already formatted (a subset's Widths array, ~1,000
    numbers a PDF that ReportLab would format one by one)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: pdfdoc.PDFDocument) -> bytes:
        return self.data


class EmbeddedFont(TTFont):
    """A TrueType font embedded as subsets with content-derived tags.

    ``addObjects`` is ReportLab 4.4's ``TTFont.addObjects`` except for the
    subset names (``subset_tag``), the ToUnicode CMap (``_to_unicode_cmap``)
    and the caching of what is the same for the same subset.
    """

    def addObjects(self, doc: pdfdoc.PDFDocument) -> None:
        state = self._assignState(doc)
        state.frozen = 1
        face = self.face
        postscript_name = face.name + face.subfontNameX
        # Tags already used in this document: on a digest collision between
        # two different subsets, the later one takes the next salt.
        tags: dict[str, tuple] = doc.__dict__.setdefault("_invoice_subset_tags", {})
        fonts_dict = doc.idToObject["BasicFonts"].dict
        for number, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(number, doc)[1:]
            key = (postscript_name, tuple(subset))
            known = _subset_parts.get(key)
            if known is None:
                widths = pdfdoc.PDFArray([face.getCharWidth(code) for code in subset])
                known = (subset_tag(postscript_name, subset), widths.format(doc))
                _evict(_subset_parts)
                _subset_parts[key] = known
            tag, widths_pdf = known
            salt = 0
            while tags.setdefault(tag, key) != key:
                salt += 1
                tag = subset_tag(postscript_name, subset, salt)
            base_font_name = f"{tag}+{postscript_name.decode('latin-1')}"
            pdf_font = pdfdoc.PDFTrueTypeFont()
            pdf_font.__Comment__ = f"Font {self.fontName} subset {number}"
            pdf_font.Name = internal_name
            pdf_font.BaseFont = base_font_name
            pdf_font.FirstChar = 0
            pdf_font.LastChar = len(subset) - 1
            pdf_font.Widths = _Formatted(widths_pdf)
            cmap = pdfdoc.PDFStream()
            cmap.content = _to_unicode_cmap(base_font_name, subset)
            if doc.compression:
                cmap.filters = [_MEMO_FLATE]
            pdf_font.ToUnicode = doc.Reference(cmap, "toUnicodeCMap:" + base_font_name)
            pdf_font.FontDescriptor = face.addSubsetObjects(doc, base_font_name, subset)
            doc.Reference(pdf_font, internal_name)
            fonts_dict[internal_name] = pdf_font
        del self.state[doc]


def _load(name: str, filename: str, cjk: bool) -> None:
    # The CJK fonts are not ASCII-readable: ASCII prints in DejaVu, so their
    # subset 0 need not reserve 95 codes (and embed 95 glyphs) for it.
    font = EmbeddedFont(name, str(FONT_DIR / filename), asciiReadable=not cjk)
    _cache_subsets(font, _MEMO_FLATE_FAST if cjk else _MEMO_FLATE)
    pdfmetrics.registerFont(font)
    _fonts[name] = font
    _covered[name] = frozenset(font.face.charToGlyph)


def register_fonts() -> None:
    """Register the DejaVu faces once per process (~40 ms)."""
    global _simple_re, _one_font_re, _segment_re
    if _simple_re is not None:
        return
    with _lock:
        if _simple_re is not None:
            return
        for name, filename in _FONT_FILES.items():
            _load(name, filename, cjk=False)
        both = _covered[REGULAR] & _covered[BOLD]
        _one_font_re = _char_class_re(
            c
            for c in sorted(both)
            if c >= 0x20
            and not 0x7F <= c < 0xA0
            and chr(c) not in _BIDI_CONTROLS
            and not _is_cjk(c)
        )
        # Runs of characters both DejaVu faces draw | runs of CJK | any other.
        cjk = "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK_RANGES)
        _segment_re = re.compile(f"({_one_font_re.pattern[:-1]}+)|([{cjk}]+)|(.)", re.DOTALL)
        _simple_re = _build_simple_re()


def register_cjk_fonts() -> None:
    """Load the CJK fonts (~90 ms, ~35 MB); done on the first character that needs them."""
    global _cjk_loaded
    if _cjk_loaded:
        return
    register_fonts()
    with _lock:
        if _cjk_loaded:
            return
        for name, filename in _CJK_FILES.items():
            _load(name, filename, cjk=True)
        _cjk_loaded = True


def _build_simple_re() -> re.Pattern[str]:
    """A character class of what both DejaVu faces draw left to right.

    Text made only of these characters (nearly all invoice text) skips the
    per-character script analysis.
    """
    both = _covered[REGULAR] & _covered[BOLD]
    wanted = [c for c in range(0x20, 0x0590) if c in both and not 0x7F <= c < 0xA0]
    wanted += [c for c in range(0x1E00, 0x2C00) if c in both and chr(c) not in _BIDI_CONTROLS]
    return _char_class_re(wanted)


def _char_class_re(codes: Iterable[int]) -> re.Pattern[str]:
    """``[...]*`` matching any string of the given (ascending) code points."""
    wanted = list(codes)
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
    if name not in _fonts and name in _CJK_FILES:
        register_cjk_fonts()
    return _fonts[name]


class _Scratch:
    """A stand-in document: ReportLab keys a font's per-document state by it."""


# Per DejaVu face: its subset 0 laid out with _PRESET (assignments, subsets,
# next code), as ``splitString`` leaves a new document's state.
_preset_layouts: dict[str, tuple[dict[int, int], list[list[int]], int]] = {}


def start_preset(name: str, doc: pdfdoc.PDFDocument) -> dict[int, int]:
    """Give ``doc`` font ``name``'s subset 0 laid out with the preset characters
    it has (see ``_PRESET``); return the document's code assignments.

    The layout is the same in every document: it is worked out once per
    process by ReportLab's ``splitString`` and copied into each new document's
    state, instead of splitting ~200 characters per font per PDF again.
    """
    ttf = font(name)
    layout = _preset_layouts.get(name)
    if layout is None:
        covered = "".join(c for c in _PRESET if ord(c) in ttf.face.charToGlyph)
        scratch = _Scratch()
        ttf.splitString(covered, scratch)
        done = ttf.state.pop(scratch)
        layout = (done.assignments, done.subsets, done.nextCode)
        _preset_layouts[name] = layout
    if doc in ttf.state:
        raise RuntimeError(f"{name} already has codes in this document")
    assignments, subsets, next_code = layout
    state = ttf.state[doc] = TTFont.State(ttf._asciiReadable, ttf)
    state.assignments = dict(assignments)
    state.subsets = [list(subset) for subset in subsets]
    state.nextCode = next_code
    return state.assignments


_cjk_presets: dict[tuple[str, str], str] = {}


def cjk_preset(name: str, order: tuple[str, ...]) -> str:
    """The characters of a CJK document's labels that CJK font ``name`` draws.

    On a document in Japanese or Chinese they go alone, in code point order,
    in the font's first subset: the same subset in every invoice of that
    language, built and compressed once per process; what the invoice adds
    (names, addresses) goes to the next subset. Empty on other documents.
    """
    lang = order[0]
    if _DOCUMENT_CJK_ORDERS.get(lang) != order or CJK_FONTS[lang] != name:
        return ""
    key = (name, lang)
    preset = _cjk_presets.get(key)
    if preset is None:
        from invoicing.pdf.locales import DAYS, LABELS  # Babel: not at import

        strings = [*LABELS.get(lang, {}).values(), *DAYS.get(lang, {}).values()]
        strings.append(_CJK_PRESET_EXTRA.get(lang, ""))
        chars = {char for string in strings for char in prepare(string)}
        covered = _covered[name]
        preset = "".join(
            sorted(c for c in chars if _char_class(c, False) == "cjk" and ord(c) in covered)
        )
        _cjk_presets[key] = preset
    return preset


def apply_preset(name: str, chunk: str, doc: pdfdoc.PDFDocument, order: tuple[str, ...]) -> bool:
    """Assign font ``name`` its preset codes in ``doc`` before ``chunk``'s
    new characters get theirs; False while it is too early to tell.

    A DejaVu face gets ``_RTL_PRESET`` (the characters it has) when the first
    right-to-left text comes; a CJK font its document's ``cjk_preset``, as a
    subset of its own, at its first use.
    """
    font = _fonts[name]
    if name in _CJK_FILES:
        preset = cjk_preset(name, order)
        if preset:
            font.splitString(preset, doc)
            state = font.state[doc]
            # Close the subset: the invoice's own characters start the next.
            state.nextCode = (state.nextCode + 255) & ~255
        return True
    if not _RTL_RE.search(chunk):
        return False
    covered = _covered[name]
    font.splitString("".join(c for c in _RTL_PRESET if ord(c) in covered), doc)
    return True


# -- cleaning and shaping ---------------------------------------------------


class _Sanitizer(dict):
    """``str.translate`` table, filled on demand: unassigned code points
    (noncharacters included) and surrogates become U+FFFD, the bidi isolates
    the embeddings python-bidi knows (FSI is resolved before)."""

    _LIMIT = 65_536  # distinct code points remembered

    def __missing__(self, code: int) -> int:
        char = chr(code)
        if unicodedata.category(char) in ("Cn", "Cs") or not unicodedata.bidirectional(char):
            value = 0xFFFD
        else:
            value = code
        if len(self) < self._LIMIT:
            self[code] = value
        return value


_SANITIZE = _Sanitizer({0x2066: ord(_LRE), 0x2067: ord(_RLE), 0x2069: ord(_PDF)})


def _first_strong_isolate(match: re.Match[str]) -> str:
    """FSI: an embedding in the direction of the first strong character."""
    for char in match.group(1):
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return _RLE + match.group(1)
        if kind == "L":
            break
    return _LRE + match.group(1)


def sanitize(text: str) -> str:
    """Make any string safe for NFC, shaping and the bidi algorithm.

    Unassigned code points, noncharacters and lone surrogates (``json``
    decodes ``"\\ud800"`` into one) have no bidi class and make python-bidi
    raise; they become U+FFFD. The isolates become embeddings.
    """
    if text.isascii():
        return text
    if "\u2068" in text:
        text = _FSI_RE.sub(_first_strong_isolate, text).replace("\u2068", _LRE)
    return text.translate(_SANITIZE)


class _FrozenConfig:
    """The reshaper's configuration read once: ``get`` and ``getboolean``."""

    def __init__(self, section: object) -> None:
        self._values = dict(section.items())  # type: ignore[attr-defined]
        self._booleans = {}
        for key in self._values:
            try:
                self._booleans[key] = section.getboolean(key)  # type: ignore[attr-defined]
            except ValueError:
                pass

    def get(self, key: str, default: object = None) -> object:
        return self._values.get(key, default)

    def getboolean(self, key: str) -> bool:
        return self._booleans[key]


class _Reshaper(arabic_reshaper.ArabicReshaper):
    """arabic_reshaper 3.0.0's reshaper with its ligature pattern built once.

    Its ``_ligatures_re`` property means to cache the pattern but checks the
    unmangled attribute name, so every ``reshape`` call re-reads ~290
    configuration entries and rebuilds the pattern: ~1.2 ms a line, 20 times a
    Latin page's time for an Arabic page. Built here once per process.
    """

    def __init__(self, configuration: dict[str, object]) -> None:
        super().__init__(configuration=configuration)
        self._pattern: re.Pattern[str] | None = None
        self._pattern = self._ligatures_re
        # ``reshape`` also reads six booleans through configparser (~50 us).
        self.configuration = _FrozenConfig(self.configuration)

    @property
    def _ligatures_re(self) -> re.Pattern[str]:
        pattern = self._pattern
        if pattern is None:
            # The parent's builder also sets the group -> forms table.
            build = arabic_reshaper.ArabicReshaper._ligatures_re
            pattern = self._pattern = build.fget(self)  # type: ignore[attr-defined]
        return pattern


# The default configuration, except the ALLAH ligature (U+FDF2): DejaVu has
# no glyph for it, so "عبد الله" printed as "عبد �".
_RESHAPER = _Reshaper({"arabic ligature allah": False})


def prepare(text: str | None) -> str:
    """Clean user text and shape Arabic; the result is still in logical order."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL_RE.sub("", text)
    if text.isascii():
        return text
    text = sanitize(text)
    # Composed forms: the embedded font has no mark positioning, so "e" +
    # U+0301 would print less well than the precomposed "é".
    text = unicodedata.normalize("NFC", text)
    if _ARABIC_RE.search(text):
        text = "\n".join(map(_shape, text.split("\n")))
    return text


def _shape(paragraph: str) -> str:
    shaped = _shaped.get(paragraph)
    if shaped is None:
        shaped = _RESHAPER.reshape(paragraph)
        _evict(_shaped, _TEXT_CACHE_SIZE)
        _shaped[paragraph] = shaped
    return shaped


# Bidi classes of a line that is right-to-left throughout: with at least one
# R or AL character (so the paragraph is right-to-left), its display order is
# its reverse (all at level 1, nothing to mirror).
_RTL_ONLY = frozenset(("R", "AL", "WS", "NSM"))
_STRONG_RTL = frozenset(("R", "AL"))


def visual(line: str) -> str:
    """Put one line in display order and drop the (invisible) bidi controls."""
    if not _RTL_RE.search(line):
        return line.translate(_STRIP_BIDI)
    shown = _visual.get(line)
    if shown is None:
        clean = sanitize(line)
        classes = set(map(unicodedata.bidirectional, clean))
        if classes <= _RTL_ONLY and classes & _STRONG_RTL:
            shown = clean[::-1]  # what get_display gives, 50 times faster
        else:
            shown = get_display(clean)
        shown = shown.translate(_STRIP_BIDI)
        _evict(_visual, _TEXT_CACHE_SIZE)
        _visual[line] = shown
    return shown


# -- fonts per character ----------------------------------------------------


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
    else:
        # CJK fonts also carry symbols DejaVu lacks (※, ①, ...).
        register_cjk_fonts()
        cls = "cjk" if any(code in _covered[name] for name in _CJK_FILES) else "?"
    if len(_class_cache) < 200_000:
        _class_cache[key] = cls
    return cls


def _encodable(text: str, lang: str) -> bool:
    try:
        text.encode(_CJK_CODECS[lang])
    except UnicodeEncodeError:
        return False
    return True


def _cjk_language(run: str, order: Iterable[str]) -> str:
    """The language a run of CJK characters is most likely in."""
    if _HANGUL_RE.search(run):
        return "ko"
    if _KANA_RE.search(run):
        return "ja"
    order = tuple(order)
    for lang in order:
        if _encodable(run, lang):
            return lang
    return order[0]


def _cjk_runs(run: str, face: str, order: Iterable[str]) -> list[tuple[str, str]]:
    """Font runs for a run of characters DejaVu does not draw.

    The language's font draws what it has; the other CJK font, then DejaVu,
    fill its gaps; what none has becomes U+FFFD.
    """
    register_cjk_fonts()
    preferred = CJK_FONTS[_cjk_language(run, order)]
    covered = _covered[preferred]
    if all(map(covered.__contains__, map(ord, run))):
        return [(preferred, run)]
    fallbacks = [name for name in _CJK_FILES if name != preferred] + [face, REGULAR]
    pieces: list[tuple[str, str]] = []
    for char in run:
        name = preferred
        if ord(char) not in covered:
            name = next((f for f in fallbacks if ord(char) in _covered[f]), face)
            if ord(char) not in _covered[name]:
                char = REPLACEMENT
        if pieces and pieces[-1][0] == name:
            pieces[-1] = (name, pieces[-1][1] + char)
        else:
            pieces.append((name, char))
    return pieces


def cjk_order(label_key: str) -> tuple[str, ...]:
    """Preferred CJK languages for a document language: its own first."""
    return _DOCUMENT_CJK_ORDERS.get(label_key, _DEFAULT_CJK_ORDER)


def runs(
    text: str, bold: bool, order: tuple[str, ...] = _DEFAULT_CJK_ORDER
) -> list[tuple[str, str]]:
    """Split text into ``(font name, text)`` runs, one font per run."""
    face = BOLD if bold else REGULAR
    assert _one_font_re is not None and _segment_re is not None, "register_fonts() first"
    if _one_font_re.fullmatch(text):
        # DejaVu draws it all in either weight (Hebrew and Arabic included).
        return [(face, text)]
    key = (text, bold, order)
    cached = _runs.get(key)
    if cached is None:
        cached = tuple(_mixed_runs(text, bold, face, order))
        _evict(_runs, _TEXT_CACHE_SIZE)
        _runs[key] = cached
    return list(cached)


def _mixed_runs(text: str, bold: bool, face: str, order: tuple[str, ...]) -> list[tuple[str, str]]:
    # (font or "cjk", text), by segments: the per-character look-up is only
    # for characters neither in both DejaVu faces nor in the CJK blocks.
    result: list[tuple[str, str]] = []
    for match in _segment_re.finditer(text):
        kind = match.lastindex
        piece = match.group(kind)  # type: ignore[arg-type]
        if kind == 1:
            cls = face
        elif kind == 2:
            cls = "cjk"
        else:
            cls = _char_class(piece, bold)
            if not cls:
                continue
            if cls == "?":
                cls, piece = face, REPLACEMENT
        if result and result[-1][0] == cls:
            result[-1] = (cls, result[-1][1] + piece)
        else:
            result.append((cls, piece))
    if not any(cls == "cjk" for cls, _ in result):
        return result
    merged: list[tuple[str, str]] = []
    for cls, chunk in result:
        for name, piece in _cjk_runs(chunk, face, order) if cls == "cjk" else [(cls, chunk)]:
            if merged and merged[-1][0] == name:
                merged[-1] = (name, merged[-1][1] + piece)
            else:
                merged.append((name, piece))
    return merged


def width(text: str, bold: bool, size: float, order: tuple[str, ...] = _DEFAULT_CJK_ORDER) -> float:
    """Width in points of ``text`` (logical or visual order: the same)."""
    assert _one_font_re is not None, "register_fonts() first"
    if _one_font_re.fullmatch(text):
        return _fonts[BOLD if bold else REGULAR].stringWidth(text, size)
    return sum(_fonts[name].stringWidth(chunk, size) for name, chunk in runs(text, bold, order))


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
