"""Helpers to read rendered PDFs back in tests.

pdftotext (poppler) is fast and handles the CID fonts; pdfplumber gives each
character with its position, for the few checks that need geometry or visual
order (it is slow: 1-2 page PDFs only).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from decimal import Decimal

import pypdf
from babel.numbers import format_currency, get_currency_precision

PDFTOTEXT = shutil.which("pdftotext")

_SPACE = re.compile(r"\s+")
_BIDI: dict[int, int | None] = dict.fromkeys(
    map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
# The Japanese CID font's Unicode CMap sends FULLWIDTH TILDE (what Babel
# writes in ja date ranges) to the wave-dash glyph, which text extraction
# reads back as WAVE DASH: the same mark on paper.
_BIDI[0x301C] = 0xFF5E


def pages_text(pdf: bytes) -> list[str]:
    """Text of each page, via pdftotext (reading order, not layout)."""
    assert PDFTOTEXT, "pdftotext (poppler-utils) is required"
    out = subprocess.run(
        [PDFTOTEXT, "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return pages


def squash(text: str) -> str:
    """Drop whitespace and bidi controls (wrapping only moves whitespace)."""
    return _SPACE.sub("", text.translate(_BIDI))


def page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def visual_lines(pdf: bytes, page: int = 0) -> list[tuple[float, str, list[dict]]]:
    """Characters grouped by baseline and sorted left to right: what a reader sees."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        chars = doc.pages[page].chars
    rows: dict[float, list[dict]] = {}
    for char in chars:
        rows.setdefault(round(char["bottom"], 0), []).append(char)
    lines = []
    for bottom in sorted(rows):
        row = sorted(rows[bottom], key=lambda c: c["x0"])
        lines.append((bottom, "".join(c["text"] for c in row), row))
    return lines


def nfkc(text: str) -> str:
    """Arabic presentation forms (what the PDF draws) back to plain letters."""
    return unicodedata.normalize("NFKC", text)


def money(minor: int, currency: str, locale: str) -> str:
    major = Decimal(minor).scaleb(-get_currency_precision(currency))
    return format_currency(major, currency, locale=locale)
