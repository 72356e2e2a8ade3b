"""Low-level PDF content writer on top of a ReportLab canvas.

ReportLab's ``drawString`` re-splits every string into font subsets in Python
(``TTFont.splitString``) and builds a text object per call: ~12 us a string,
most of a 10,000-fee invoice's time. This writer encodes text against the
document's subset assignments directly, writes plain content-stream operators
through ``canvas.addLiteral`` and tracks the font and colour already set, so a
string costs a few microseconds. ReportLab still owns fonts, subsetting,
images, transparency and the file structure.
"""

from __future__ import annotations

import math
from typing import Protocol

from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf import text as fonts


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


class PdfWriter:
    """Buffers one page's operators; ``flush`` hands them to the canvas."""

    def __init__(self, canvas: Canvas, cjk_order: tuple[str, ...]) -> None:
        self.canvas = canvas
        self.doc = canvas._doc
        self.cjk_order = cjk_order
        self._parts: list[str] = []
        self._names: dict[tuple[str, int], str] = {}
        self._encoded: dict[tuple[str, str], list[tuple[str, str]]] = {}
        # Lines repeat within a document: their runs are worked out once.
        self._chunks: dict[tuple[str, bool], list[tuple[str, str]]] = {}
        self._font: tuple[str, float] | None = None
        self._fill: str | None = None
        self._assignments: dict[str, dict[int, int]] = {}
        self._preset_done: set[str] = set()
        for name in (fonts.REGULAR, fonts.BOLD):
            # Fix subset 0's layout before any real text (see text._PRESET).
            self._assignments[name] = fonts.start_preset(name, self.doc)

    def new_page(self) -> None:
        # Each page's content stream starts from the default graphics state.
        self._font = None
        self._fill = None

    def flush(self, signature: Digest | None = None) -> None:
        """Write the buffered operators; feed them to the document ID digest."""
        if self._parts:
            content = "\n".join(self._parts)
            self._parts.clear()
            self.canvas.addLiteral(content)
            if signature is not None:
                signature.update(content.encode("latin-1"))

    def forget_state(self) -> None:
        """Call after a ReportLab call that may have changed font or colour."""
        self._font = None
        self._fill = None

    def _set_fill(self, color: str) -> None:
        if color != self._fill:
            self._parts.append(f"{color} rg")
            self._fill = color

    def rect(self, x: float, y: float, w: float, h: float, color: str) -> None:
        self._set_fill(color)
        self._parts.append(f"{x:.2f} {y:.2f} {w:.2f} {h:.2f} re f")

    def hline(self, x1: float, x2: float, y: float, color: str, line_width: float) -> None:
        self._parts.append(f"{color} RG {line_width:.2f} w {x1:.2f} {y:.2f} m {x2:.2f} {y:.2f} l S")

    def text(
        self,
        x: float,
        y: float,
        line: str,
        bold: bool,
        size: float,
        color: str,
        angle: float = 0.0,
    ) -> None:
        """Draw one prepared line (logical order) with its left end at x, y."""
        chunks = self._chunks.get((line, bold))
        if chunks is None:
            chunks = self._chunks[(line, bold)] = self._split(line, bold)
        if not chunks:
            return
        parts = self._parts
        self._set_fill(color)
        if angle:
            cos, sin = math.cos(angle), math.sin(angle)
            matrix = f"{cos:.5f} {sin:.5f} {-sin:.5f} {cos:.5f}"
        else:
            matrix = "1 0 0 1"
        parts.append(f"BT {matrix} {x:.2f} {y:.2f} Tm")
        for name, chunk in chunks:
            if bold and name in fonts.FAKE_BOLD:
                # The CJK fonts have no bold face: stroke the outline as well
                # as filling it (text render mode 2), in the same colour.
                # Capped so a huge translucent mark does not show a darker
                # outline.
                parts.append(f"{color} RG {min(size * 0.04, 1.0):.2f} w 2 Tr")
                self._ttf(name, size, chunk)
                parts.append("0 Tr")
            else:
                self._ttf(name, size, chunk)
        parts.append("ET")

    def _split(self, line: str, bold: bool) -> list[tuple[str, str]]:
        """The (font, text) runs that draw ``line``, in visual order."""
        if fonts.is_simple(line):
            # Left-to-right text DejaVu draws whole: the common case.
            return [(fonts.BOLD if bold else fonts.REGULAR, line)] if line else []
        shown = fonts.visual(line)
        return fonts.runs(shown, bold, self.cjk_order) if shown else []

    def _select(self, internal_name: str, size: float) -> None:
        key = (internal_name, size)
        if key != self._font:
            self._parts.append(f"{internal_name} {size:.2f} Tf")
            self._font = key

    def _ttf(self, name: str, size: float, chunk: str) -> None:
        # A document repeats most of its strings (rates, units, labels, dates):
        # once encoded, a string's codes stay the same for the document.
        encoded = self._encoded.get((name, chunk))
        if encoded is None:
            encoded = self._encode(name, chunk)
            self._encoded[(name, chunk)] = encoded
        for internal, data in encoded:
            self._select(internal, size)
            self._parts.append(data)

    def _encode(self, name: str, chunk: str) -> list[tuple[str, str]]:
        """``(subset's internal font name, "(...) Tj")`` for each subset run."""
        assignments = self._assignments.get(name)
        if assignments is None:
            # A CJK font's first use in this document.
            assignments = fonts.font(name)._assignState(self.doc).assignments
            self._assignments[name] = assignments
        chunk = chunk.replace("\xa0", " ")
        try:
            codes = [assignments[c] for c in map(ord, chunk)]
        except KeyError:
            # First use of a character in this document: let ReportLab
            # assign it a code (it may open a new subset).
            font = fonts.font(name)
            if name not in self._preset_done and fonts.apply_preset(
                name, chunk, self.doc, self.cjk_order
            ):
                # Subsets that are the same in many invoices (see
                # text.apply_preset): their font programs are cached.
                self._preset_done.add(name)
            pieces = font.splitString(chunk, self.doc)
        else:
            if max(codes) < 256:
                pieces = [(0, bytes(codes))]
            else:
                pieces = _group_by_subset(codes)
        encoded = []
        for subset, data in pieces:
            internal = self._names.get((name, subset))
            if internal is None:
                internal = fonts.font(name).getSubsetInternalName(subset, self.doc)
                self._names[(name, subset)] = internal
            encoded.append((internal, f"({escapePDF(data)}) Tj"))
        return encoded


def _group_by_subset(codes: list[int]) -> list[tuple[int, bytes]]:
    pieces: list[tuple[int, bytes]] = []
    current = -1
    run: list[int] = []
    for code in codes:
        subset = code >> 8
        if subset != current and run:
            pieces.append((current, bytes(run)))
            run = []
        current = subset
        run.append(code & 0xFF)
    if run:
        pieces.append((current, bytes(run)))
    return pieces
