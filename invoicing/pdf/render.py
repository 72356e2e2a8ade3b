"""Invoice PDF renderer: ``InvoiceSnapshot`` in, PDF bytes out.

Pure: no ORM, no Django, no clock, no randomness. The same snapshot gives the
same bytes (the PDF creation date comes from ``snapshot.created_at`` and the
document ID from the content).

It works in two passes so "Page X of Y" is known before anything is drawn:

1. layout: every piece of content becomes a ``Block`` of ``Line`` objects
   (height + drawing operations relative to the line's top), with text
   already wrapped to its column; pagination then assigns each line a page
   and a position, repeating the fee table's header row on every page the
   table continues on;
2. drawing: the lines are written page by page through ``PdfWriter`` on a
   ReportLab canvas, with the page footer ("Page X of Y") and, for a voided
   invoice, the VOID mark.

The low-level canvas (not platypus) keeps a 10,000-fee invoice in about a
second: platypus re-measures its tables at every page split.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import math
from collections.abc import Iterable

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf import text as fonts
from invoicing.pdf.addresses import address_lines
from invoicing.pdf.errors import SnapshotInconsistent
from invoicing.pdf.locales import Formatter, resolve_locale
from invoicing.pdf.paper import PAPER_SIZES
from invoicing.pdf.snapshot import AppliedTax, FeeLine, InvoiceSnapshot, Party
from invoicing.pdf.writer import Digest, PdfWriter

RENDERER_VERSION = "2.0.0"

logger = logging.getLogger("invoicing.pdf")

# The layout is made on an A4 frame; a Letter page centres that frame's width
# (Letter is 17 pt wider) and ends the content higher (it is 50 pt shorter).
PAGE_W, PAGE_H = A4
MARGIN_X = 42.0
LEFT = MARGIN_X
RIGHT = PAGE_W - MARGIN_X
CONTENT_W = RIGHT - LEFT
TOP = PAGE_H - 40.0
CONT_TOP = TOP - 24.0  # continuation pages start below the running header
BOTTOM = 58.0  # content stops here; the page footer sits below
# How much higher content stops on the shortest paper (Letter).
MAX_LIFT = PAGE_H - min(h for _, h in PAPER_SIZES.values())

INK = "0.12 0.13 0.16"
MUTED = "0.40 0.43 0.48"
ACCENT = "0.10 0.27 0.55"
RULE = "0.82 0.84 0.88"
BAND = "0.94 0.95 0.97"
HEADER_BG = "0.90 0.92 0.95"
VOID_RED = "0.80 0.08 0.08"

# Fee table columns, left edges. Numbers are right-aligned inside a padding.
DESC_X = LEFT
UNITS_X = DESC_X + 210.0
PRICE_X = UNITS_X + 60.0
RATE_X = PRICE_X + 86.0
AMOUNT_X = RATE_X + 70.0
AMOUNT_W = RIGHT - AMOUNT_X
CELL_PAD = 4.0
DESC_W = UNITS_X - DESC_X - 2 * CELL_PAD
_NUMERIC = (
    (UNITS_X, PRICE_X - UNITS_X),
    (PRICE_X, RATE_X - PRICE_X),
    (RATE_X, AMOUNT_X - RATE_X),
    (AMOUNT_X, AMOUNT_W),
)

LOGO_MAX_W, LOGO_MAX_H = 150.0, 48.0

# Document languages written right to left: their pages are mirrored.
RTL_LOCALES = frozenset({"ar"})

# Parties whose tax ID is a VAT number: the EU, the EEA, the UK and
# Switzerland (the ID's label says so in the document's language).
VAT_ID_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK "
    "IS LI NO GB CH".split()
)
# The Japanese qualified-invoice issuer number (T + 13 digits).
JCT_COUNTRIES = frozenset({"JP"})
# EN 16931 categories whose tax lines carry a legal mention (EU VAT Directive
# Art. 226 (11) and (11a)); the tax's own exemption text wins when it has one.
VAT_NOTES = {"AE": "vat_note_AE", "K": "vat_note_K", "G": "vat_note_G",
             "E": "vat_note_E", "O": "vat_note_O"}  # fmt: skip

# A drawing operation, relative to the top of its line:
#   ("t", x, baseline_dy, text, bold, size, color)
#   ("r", x, top_dy, w, h, color)            filled rectangle
#   ("h", x1, x2, dy, color, line_width)      horizontal rule
#   ("i", image, x, top_dy, w, h)
Op = tuple
Line = tuple[float, list[Op]]
# A line of one cell: (prepared text, bold, size, leading, color).
CellLine = tuple[str, bool, float, float, str]


class Block:
    """Consecutive lines laid out together.

    keep: move the whole block to the next page when it does not fit here
    (unless it is taller than a page); keep_with_next: never end a page with
    this block (headings); table: lines inside the fee table, so a page break
    repeats the header row first; spacer: vertical space dropped at a page top.
    """

    __slots__ = ("height", "keep", "keep_with_next", "lines", "spacer", "table")

    def __init__(
        self,
        lines: list[Line],
        keep: bool = False,
        table: bool = False,
        keep_with_next: bool = False,
        spacer: bool = False,
    ) -> None:
        self.lines = lines
        self.keep = keep
        self.table = table
        self.keep_with_next = keep_with_next
        self.spacer = spacer
        self.height = sum(line[0] for line in lines)


def _spacer(height: float) -> Block:
    return Block([(height, [])], spacer=True)


def _leading(size: float) -> float:
    return round(size * 1.32, 2)


def _baseline(leading: float, size: float) -> float:
    # Centres the glyphs' visual mass within the line (DejaVu ascent ~0.76 em
    # for capitals, descent ~0.24 em).
    return (leading - size) / 2 + size * 0.84


class _Layout:
    """Builds the blocks of one invoice."""

    def __init__(self, snapshot: InvoiceSnapshot, fmt: Formatter, order: tuple[str, ...]) -> None:
        self.s = snapshot
        self.fmt = fmt
        self.order = order
        self.header_lines: list[Line] = []
        # Fee tables repeat the same cells (rates, units, periods,
        # descriptions): wrap each distinct one once.
        self._cells: dict[tuple, list[CellLine]] = {}

    # -- text helpers -----------------------------------------------------

    def cell(
        self,
        text: str | None,
        width: float,
        size: float,
        bold: bool = False,
        color: str = INK,
    ) -> list[CellLine]:
        """Wrap text into cell lines; empty text gives no line."""
        key = (text, width, size, bold, color)
        cached = self._cells.get(key)
        if cached is not None:
            return list(cached)  # callers extend the list they get
        value = fonts.prepare(text)
        if not value.strip():
            lines: list[CellLine] = []
        else:
            leading = _leading(size)
            lines = [
                (line, bold, size, leading, color)
                for line in fonts.wrap(value, bold, size, width, self.order)
            ]
        self._cells[key] = lines
        return list(lines)

    def number_cell(
        self, text: str, width: float, size: float, bold: bool = False, color: str = INK
    ) -> list[CellLine]:
        """A figure: shrink it (down to 6 pt) to stay on one line before wrapping.

        A wrapped amount ("1,234." / "56") reads wrong; a smaller one does not.
        The line keeps the nominal leading so rows stay even.
        """
        key = (text, width, size, bold, color, "n")
        cached = self._cells.get(key)
        if cached is not None:
            return list(cached)
        value = fonts.prepare(text)
        natural = fonts.width(value, bold, size, self.order)
        if natural <= width or not value:
            lines = self.cell(text, width, size, bold, color)
        else:
            fitted = math.floor(size * width / natural * 10) / 10
            if fitted >= 6.0:
                lines = [(value, bold, fitted, _leading(size), color)]
            else:
                lines = [
                    (line, bold, 6.0, _leading(size), color)
                    for line in fonts.wrap(value, bold, 6.0, width, self.order)
                ]
        self._cells[key] = lines
        return list(lines)

    def label_cell(self, text: str, width: float, size: float) -> list[CellLine]:
        """A column heading: wrapped between words, never inside one.

        If its longest word is wider than the column ("Belastingtarief" in a
        narrow rate column) the whole heading gets smaller, down to 5.5 pt.
        """
        prepared = fonts.prepare(text)
        widest = max(
            (fonts.width(word, True, size, self.order) for word in prepared.split()),
            default=0.0,
        )
        if widest > width:
            size = max(5.5, math.floor(size * width / widest * 10) / 10)
        return self.cell(text, width, size, True, MUTED)

    def stack(
        self,
        columns: list[tuple[float, float, str, list[CellLine]]],
        pad_top: float = 0.0,
        pad_bottom: float = 0.0,
        background: str | None = None,
    ) -> list[Line]:
        """Columns side by side, each flowing on its own: one line as tall as
        the tallest column. Falls back to ``grid`` (splittable at every row)
        when that would not fit on a page."""
        ops: list[Op] = []
        height = 0.0
        for x, w, align, cells in columns:
            dy = pad_top
            for text, bold, size, leading, color in cells:
                if text:
                    tx = x + w - fonts.width(text, bold, size, self.order) if align == "r" else x
                    ops.append(("t", tx, dy + _baseline(leading, size), text, bold, size, color))
                dy += leading
            height = max(height, dy)
        height += pad_bottom
        if height > CONT_TOP - BOTTOM - MAX_LIFT - 40:
            return self.grid(columns, pad_top, pad_bottom, background)
        if background:
            ops.insert(0, ("r", LEFT, 0.0, CONTENT_W, height, background))
        return [(height, ops)]

    def grid(
        self,
        columns: Iterable[tuple[float, float, str, list[CellLine]]],
        pad_top: float = 0.0,
        pad_bottom: float = 0.0,
        background: str | None = None,
        rule_below: str | None = None,
        bg_x: float = LEFT,
        bg_w: float = CONTENT_W,
    ) -> list[Line]:
        """Lay cells side by side: line i of every column shares a row.

        columns: (x, width, align "l"|"r", cell lines). The row height is the
        tallest leading among the columns at that index, so a wrapped cell
        pushes the following rows down and nothing overlaps.
        """
        columns = list(columns)
        count = max((len(col[3]) for col in columns), default=0)
        if count == 0:
            return []
        lines: list[Line] = []
        order = self.order
        for i in range(count):
            height = 0.0
            ops: list[Op] = []
            top = pad_top if i == 0 else 0.0
            for x, w, align, cells in columns:
                if i >= len(cells):
                    continue
                text, bold, size, leading, color = cells[i]
                height = max(height, leading)
                if not text:
                    continue
                if align == "r":
                    tx = x + w - fonts.width(text, bold, size, order)
                else:
                    tx = x
                ops.append(("t", tx, top + _baseline(leading, size), text, bold, size, color))
            height += top
            if i == count - 1:
                height += pad_bottom
                if rule_below:
                    ops.append(("h", bg_x, bg_x + bg_w, height, rule_below, 0.5))
            if background:
                ops.insert(0, ("r", bg_x, 0.0, bg_w, height, background))
            lines.append((height, ops))
        return lines

    # -- blocks -----------------------------------------------------------

    def blocks(self) -> list[Block]:
        s = self.s
        out = [self.title_block(), _spacer(16), self.info_block(), _spacer(14)]
        if s.metadata:
            out += [self.metadata_block(), _spacer(12)]
        out += [self.amount_due_block(), _spacer(16)]
        if s.fees:
            out += self.fee_blocks()
            out.append(_spacer(14))
        out.append(self.totals_block())
        if s.invoice_footer.strip():
            out += [_spacer(18), self.footer_block()]
        return out

    def logo(self) -> tuple[ImageReader, float, float] | None:
        if not self.s.logo_png:
            return None
        try:
            reader = ImageReader(io.BytesIO(self.s.logo_png))
            width, height = reader.getSize()
        except Exception:
            # An unreadable logo must not block the invoice: render without
            # it, and say so, or nobody learns that every PDF lacks it.
            logger.warning("invoice %s: the logo is unreadable; rendered without it",
                           self.s.id, exc_info=True)  # fmt: skip
            return None
        if width <= 0 or height <= 0:
            logger.warning("invoice %s: the logo has no size; rendered without it", self.s.id)
            return None
        scale = min(LOGO_MAX_W / width, LOGO_MAX_H / height)
        return reader, width * scale, height * scale

    def title_block(self) -> Block:
        fmt = self.fmt
        org = self.s.organization
        left_w = CONTENT_W * 0.58
        right_w = CONTENT_W - left_w - 12
        title = self.cell(fmt.label("invoice"), right_w, 22, bold=True, color=ACCENT)
        # The number on one line: shrunk rather than wrapped mid-number (a
        # 30-character number, longer than Lago's, keeps 11 pt).
        title += self.number_cell(self.s.number, right_w, 11, bold=True)
        if self.s.is_voided:
            title += self.cell(fmt.label("void"), right_w, 12, bold=True, color=VOID_RED)
        elif self.s.is_draft:
            title += self.cell(fmt.label("draft"), right_w, 12, bold=True, color=VOID_RED)
        left = self.cell(org.name or org.legal_name, left_w, 13, bold=True)
        logo = self.logo()
        if logo:
            reader, w, h = logo
            # An empty cell as tall as the logo pushes the name below it.
            left = [("", False, 1.0, h + 8, INK), *left]
        lines = self.stack([(LEFT, left_w, "l", left), (RIGHT - right_w, right_w, "r", title)])
        if logo:
            height, ops = lines[0]
            lines[0] = (height, [("i", reader, LEFT, 0.0, w, h), *ops])
        return Block(lines, keep=True)

    def info_block(self) -> Block:
        s, fmt = self.s, self.fmt
        col_w = (CONTENT_W - 20) / 3
        label_w, value_w = 80.0, col_w - 84.0
        labels: list[CellLine] = []
        values: list[CellLine] = []
        pairs = []
        if s.purchase_order_number:
            pairs.append(("purchase_order", s.purchase_order_number))
        pairs.append(("issue_date", fmt.date(s.issuing_date)))
        # Art. 226 (7): the date of supply, where it differs from the issue
        # date. Lines with a period carry theirs; the others were supplied
        # when the invoice was issued.
        if any(not (fee.from_date or fee.to_date) for fee in s.fees):
            pairs.append(("supply_date", fmt.date(s.issuing_date)))
        pairs += [
            ("due_date", fmt.date(s.payment_due_date)),
            ("payment_term", fmt.days(s.net_payment_term)),
        ]
        for key, value in pairs:
            label_lines = self.cell(fmt.label(key), label_w, 7.5, color=MUTED)
            value_lines = self.cell(value, value_w, 8)
            _pad(label_lines, value_lines)
            labels += label_lines
            values += value_lines
        x2 = LEFT + col_w + 10
        x3 = x2 + col_w + 10
        return Block(
            self.stack(
                [
                    (LEFT, label_w, "l", labels),
                    (LEFT + 84.0, value_w, "l", values),
                    (x2, col_w, "l", self.party(fmt.label("from"), s.organization, col_w, True)),
                    (x3, col_w, "l", self.party(fmt.label("bill_to"), s.customer, col_w, False)),
                ]
            ),
            keep=True,
        )

    def party(self, heading: str, party: Party, width: float, seller: bool) -> list[CellLine]:
        fmt = self.fmt
        lines = self.cell(heading, width, 7.5, bold=True, color=MUTED)
        if seller:
            lines += self.cell(party.legal_name or party.name, width, 9, bold=True)
        else:
            lines += self.cell(party.name or party.legal_name, width, 9, bold=True)
            if party.legal_name and party.name and party.legal_name != party.name:
                lines += self.cell(party.legal_name, width, 8)
        if party.legal_number:
            lines += self.cell(f"{fmt.label('legal_number')}: {party.legal_number}", width, 7.5)
        address = party.address
        for part in address_lines(address):
            lines += self.cell(part, width, 8)
        lines += self.cell(fmt.country(address.country), width, 8)
        lines += self.cell(party.email, width, 8)
        if seller:
            lines += self.cell(party.phone, width, 8)
        if party.tax_identification_number:
            label = fmt.label(_tax_id_label(party.address.country))
            lines += self.cell(f"{label}: {party.tax_identification_number}", width, 7.5)
        return lines

    def metadata_block(self) -> Block:
        keys: list[CellLine] = []
        values: list[CellLine] = []
        key_w = 150.0
        value_w = CONTENT_W - key_w - 10
        for item in self.s.metadata:
            key_lines = self.cell(item.key, key_w, 7.5, bold=True, color=MUTED)
            value_lines = self.cell(item.value, value_w, 8)
            if not key_lines and not value_lines:
                continue
            _pad(key_lines, value_lines)
            keys += key_lines
            values += value_lines
        return Block(
            self.grid([(LEFT, key_w, "l", keys), (LEFT + key_w + 10, value_w, "l", values)]),
            keep=True,
        )

    def amount_due_block(self) -> Block:
        s, fmt = self.s, self.fmt
        if s.is_voided:
            notice = self.cell(fmt.label("void_notice"), CONTENT_W - 20, 11, True, VOID_RED)
            return Block(
                self.stack([(LEFT + 10, CONTENT_W - 20, "l", notice)], 8, 8, BAND), keep=True
            )
        half = CONTENT_W / 2 - 14
        left = self.cell(fmt.label("amount_due"), half, 8, color=MUTED)
        left += self.number_cell(fmt.money(s.total_due_amount_cents), half, 18, True, ACCENT)
        right = self.cell(fmt.label("due_date"), half, 8, color=MUTED)
        right += self.cell(fmt.date(s.payment_due_date), half, 12, bold=True)
        return Block(
            self.stack(
                [(LEFT + 10, half, "l", left), (RIGHT - 10 - half, half, "r", right)],
                pad_top=7,
                pad_bottom=7,
                background=BAND,
            ),
            keep=True,
        )

    def table_header(self) -> list[Line]:
        fmt = self.fmt
        columns = [
            (
                DESC_X + CELL_PAD,
                DESC_W,
                "l",
                self.cell(fmt.label("description"), DESC_W, 7.5, True, MUTED),
            )
        ]
        for key, (x, w) in zip(
            ("units", "unit_price", "tax_rate", "amount"), _NUMERIC, strict=True
        ):
            inner = w - 2 * CELL_PAD
            columns.append((x + CELL_PAD, inner, "r", self.label_cell(fmt.label(key), inner, 7.5)))
        return self.grid(columns, pad_top=5, pad_bottom=4, background=HEADER_BG)

    def fee_blocks(self) -> list[Block]:
        header = self.table_header()
        self.header_lines = header
        blocks = [Block(header, keep=True, keep_with_next=True)]
        # Fees without a plan come first: placed after a plan's fees they would
        # read as part of that plan. Plans keep their first-appearance order.
        groups: dict[str, list[FeeLine]] = {"": []}
        for fee in self.s.fees:
            groups.setdefault(fee.plan_name, []).append(fee)
        for plan, fees in groups.items():
            if plan:
                heading = self.cell(plan, CONTENT_W - 2 * CELL_PAD, 8.5, bold=True, color=ACCENT)
                blocks.append(
                    Block(
                        self.grid(
                            [(LEFT + CELL_PAD, CONTENT_W - 2 * CELL_PAD, "l", heading)],
                            pad_top=6,
                            pad_bottom=3,
                            rule_below=RULE,
                        ),
                        keep=True,
                        table=True,
                        keep_with_next=True,
                    )
                )
            blocks += [self.fee_row(fee) for fee in fees]
        return blocks

    def fee_row(self, fee: FeeLine) -> Block:
        fmt = self.fmt
        desc = self.cell(fee.display_name or fee.description, DESC_W, 8, bold=True)
        if fee.display_name and fee.description:
            desc += self.cell(fee.description, DESC_W, 7.5, color=MUTED)
        if fee.from_date or fee.to_date:
            desc += self.cell(fmt.period(fee.from_date, fee.to_date), DESC_W, 7, color=MUTED)
        columns = [(DESC_X + CELL_PAD, DESC_W, "l", desc)]
        values = (
            fmt.units(fee.units),
            fmt.unit_price(fee.unit_amount_cents),
            fmt.percent(fee.taxes_rate),
            fmt.money(fee.amount_cents),
        )
        for value, (x, w) in zip(values, _NUMERIC, strict=True):
            inner = w - 2 * CELL_PAD
            columns.append((x + CELL_PAD, inner, "r", self.number_cell(value, inner, 8)))
        return Block(
            self.grid(columns, pad_top=4, pad_bottom=4, rule_below=RULE),
            keep=True,
            table=True,
        )

    def totals_block(self) -> Block:
        """The totals column, in the order the amounts apply (as Lago's own
        template prints them): fees, coupons, sub total excl. tax, one line
        per tax rate (with its legal mention), total tax, sub total incl.
        tax, credit notes, prepaid credits, total. ``check_totals`` has made
        sure these lines add up."""
        s, fmt = self.s, self.fmt
        rows: list[tuple[str, str, int | None]] = []  # (style, label, amount)
        coupons = [c for c in s.credits if c.kind == "coupon"]
        if coupons or s.coupons_amount_cents:
            rows.append(("", fmt.label("fees_total"), s.fees_amount_cents))
            rows += _credit_rows(coupons, fmt.label("coupons"), s.coupons_amount_cents)
        rows.append(("rule", fmt.label("subtotal_excl"), s.sub_total_excluding_taxes_amount_cents))
        if s.applied_taxes or s.taxes_amount_cents:
            rows.append(("", fmt.label("total_taxes"), s.taxes_amount_cents))
        # The breakdown by rate, under the total it details: Lago rounds each
        # rate and the total separately, so the rates may differ from the
        # total by a cent; the column itself adds up through the total.
        for tax in s.applied_taxes:
            label = fmt.tax_line(tax.name, tax.rate, tax.fees_amount_cents)
            rows.append(("detail", label, tax.amount_cents))
            note = _vat_note(tax, fmt)
            if note:
                rows.append(("note", note, None))
        rows.append(("rule", fmt.label("subtotal_incl"), s.sub_total_including_taxes_amount_cents))
        for kind, key, total in (
            ("credit_note", "credit_notes", s.credit_notes_amount_cents),
            ("prepaid", "prepaid_credits", s.prepaid_credit_amount_cents),
        ):
            rows += _credit_rows([c for c in s.credits if c.kind == kind], fmt.label(key), total)
        if s.is_voided:
            rows.append(("strong", fmt.label("total"), s.total_amount_cents))
        elif s.total_paid_amount_cents:
            rows.append(("rule", fmt.label("total"), s.total_amount_cents))
            rows.append(("", fmt.label("amount_paid"), -s.total_paid_amount_cents))
            rows.append(("strong", fmt.label("total_due"), s.total_due_amount_cents))
        else:
            rows.append(("strong", fmt.label("total_due"), s.total_due_amount_cents))

        label_x, value_w = LEFT + CONTENT_W * 0.42, 96.0
        label_w = RIGHT - value_w - 10 - label_x
        lines: list[Line] = []
        for style, label, amount in rows:
            if style == "note":
                note = self.cell(label, CONTENT_W * 0.58 - 16, 7, color=MUTED)
                lines += self.grid([(label_x + 16, CONTENT_W * 0.58 - 16, "l", note)], pad_bottom=2)
                continue
            strong = style == "strong"
            rule = style in ("rule", "strong")
            detail = style == "detail"
            size = 10.0 if strong else 7.5 if detail else 8.5
            color = MUTED if detail else INK
            indent = 8.0 if detail else 0.0
            money = fmt.money(amount or 0)
            row = self.grid(
                [
                    (
                        label_x + indent,
                        label_w - indent,
                        "l",
                        self.cell(label, label_w - indent, size, strong, color),
                    ),
                    (
                        RIGHT - value_w - (value_w / 2 if detail else 0),
                        value_w,
                        "r",
                        self.number_cell(money, value_w, size, strong, color),
                    ),
                ],
                pad_top=6 if rule else 2.5,
                pad_bottom=2.5,
            )
            if rule and row:
                height, ops = row[0]
                weight = 1.0 if strong else 0.5
                row[0] = (
                    height,
                    [("h", label_x, RIGHT, 1.5, INK if strong else RULE, weight), *ops],
                )
            lines += row
        return Block(lines, keep=True)

    def footer_block(self) -> Block:
        return Block(
            self.grid(
                [
                    (
                        LEFT,
                        CONTENT_W,
                        "l",
                        self.cell(self.s.invoice_footer, CONTENT_W, 7.5, color=MUTED),
                    )
                ]
            ),
            # Legal footers (capital, bank details) read as one: never split
            # one across pages unless it is longer than a page.
            keep=True,
        )


def _credit_rows(credits, generic: str, total: int) -> list[tuple[str, str, int | None]]:
    """One line per credit (negative), or one generic line for a total that
    comes without its credits."""
    if credits:
        return [("", c.label or generic, -c.amount_cents) for c in credits]
    return [("", generic, -total)] if total else []


def _vat_note(tax: AppliedTax, fmt: Formatter) -> str:
    """The legal mention of a tax line that charges no VAT (Art. 226 (11),
    (11a)): the tax's own exemption text, else the category's wording."""
    if tax.vat_exemption_reason.strip():
        return tax.vat_exemption_reason
    key = VAT_NOTES.get(tax.vat_category_code)
    return fmt.label(key) if key else ""


def _tax_id_label(country: str) -> str:
    """The label of a party's tax ID follows the party's country, not the
    document's language: a French VAT number on a Polish invoice is not a NIP."""
    country = (country or "").upper()
    if country in VAT_ID_COUNTRIES:
        return "vat_id"
    if country in JCT_COUNTRIES:
        return "jct_registration"
    return "tax_id"


def check_totals(s: InvoiceSnapshot) -> None:
    """Refuse a snapshot whose printed lines would not add up to its totals.

    Each line of the totals column follows from the ones above it, exactly;
    only the per-rate tax lines may differ from the total tax by their
    roundings (Lago rounds each rate and the total separately: at most half
    a minor unit each, so (rates + 1) // 2 in all).
    """
    problems = []

    def expect(name: str, printed: int, computed: int) -> None:
        if printed != computed:
            problems.append(f"{name} is {printed}, its lines give {computed}")

    expect("fees_amount_cents", s.fees_amount_cents, sum(f.amount_cents for f in s.fees))
    for kind, total in (
        ("coupon", s.coupons_amount_cents),
        ("credit_note", s.credit_notes_amount_cents),
        ("prepaid", s.prepaid_credit_amount_cents),
    ):
        listed = [c.amount_cents for c in s.credits if c.kind == kind]
        if listed:
            expect(f"{kind} credits", total, sum(listed))
    expect(
        "sub_total_excluding_taxes_amount_cents",
        s.sub_total_excluding_taxes_amount_cents,
        s.fees_amount_cents - s.coupons_amount_cents,
    )
    expect(
        "sub_total_including_taxes_amount_cents",
        s.sub_total_including_taxes_amount_cents,
        s.sub_total_excluding_taxes_amount_cents + s.taxes_amount_cents,
    )
    if s.applied_taxes:
        by_rate = sum(t.amount_cents for t in s.applied_taxes)
        if abs(by_rate - s.taxes_amount_cents) > (len(s.applied_taxes) + 1) // 2:
            problems.append(f"tax lines add up to {by_rate}, total tax is {s.taxes_amount_cents}")
    expect(
        "total_amount_cents",
        s.total_amount_cents,
        s.sub_total_including_taxes_amount_cents
        - s.credit_notes_amount_cents
        - s.prepaid_credit_amount_cents,
    )
    if not s.is_voided:
        expect(
            "total_due_amount_cents",
            s.total_due_amount_cents,
            max(s.total_amount_cents - s.total_paid_amount_cents, 0),
        )
    if problems:
        raise SnapshotInconsistent(problems)


def _pad(a: list[CellLine], b: list[CellLine]) -> None:
    """Make two paired columns (label, value) line up line by line.

    Both get the same number of lines and, line by line, the larger leading,
    so the next pair starts at the same height in both columns.
    """
    for short, long in ((a, b), (b, a)):
        while len(short) < len(long):
            _, _, size, leading, _ = long[len(short)]
            short.append(("", False, size, leading, INK))
    for i, (left, right) in enumerate(zip(a, b, strict=True)):
        leading = max(left[3], right[3])
        a[i] = (*left[:3], leading, left[4])
        b[i] = (*right[:3], leading, right[4])


def paginate(
    blocks: list[Block], table_header: list[Line], bottom: float = BOTTOM
) -> list[list[tuple[float, Line]]]:
    """Assign every line a page and the y of its top edge (A4 frame; a
    shorter paper raises ``bottom``)."""
    pages: list[list[tuple[float, Line]]] = [[]]
    y = TOP
    at_top = True
    header_h = sum(line[0] for line in table_header)

    def new_page(in_table: bool) -> None:
        nonlocal y, at_top
        pages.append([])
        y = CONT_TOP
        if in_table:
            for line in table_header:
                pages[-1].append((y, line))
                y -= line[0]
        at_top = True

    blocks = [block for block in blocks if block.lines]
    for index, block in enumerate(blocks):
        if block.spacer:
            if not at_top and y - block.height >= bottom:
                y -= block.height
            continue
        capacity = CONT_TOP - bottom - (header_h if block.table else 0.0)
        need = block.height if block.keep else block.lines[0][0]
        if block.keep_with_next and index + 1 < len(blocks):
            following = blocks[index + 1]
            if following.keep and following.height <= capacity - need:
                need += following.height
            else:
                need += following.lines[0][0]
        if y - need < bottom and not at_top and (not block.keep or need <= capacity):
            new_page(block.table)
        for line in block.lines:
            if y - line[0] < bottom and not at_top:
                new_page(block.table)
            pages[-1].append((y, line))
            y -= line[0]
            at_top = False
    return pages


class _FixedTimeStamp:
    """Stands in for ReportLab's TimeStamp: the PDF dates come from the snapshot."""

    def __init__(self, when: dt.datetime) -> None:
        minutes = int((when.utcoffset() or dt.timedelta(0)).total_seconds() // 60)
        hours, rest = divmod(abs(minutes), 60)
        self.YMDhms = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        self.dhh = hours if minutes >= 0 else -hours
        self.dmm = rest
        self.t = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _ellipsize(text: str, bold: bool, size: float, max_width: float, order: tuple[str, ...]) -> str:
    """Shorten a running header/footer line; the full text is on page 1."""
    if fonts.width(text, bold, size, order) <= max_width:
        return text
    while text and fonts.width(text + "…", bold, size, order) > max_width:
        text = text[: max(len(text) * 9 // 10, len(text) - 1)]
    return text + "…"


def render_invoice_pdf(snapshot: InvoiceSnapshot) -> bytes:
    """Render an invoice snapshot to PDF bytes (deterministic).

    Raises ``SnapshotInconsistent`` when its lines would not add up.
    """
    check_totals(snapshot)
    fonts.register_fonts()
    label_key, babel_locale = resolve_locale(snapshot.locale)
    fmt = Formatter(label_key, babel_locale, snapshot.currency)
    order = fonts.cjk_order(label_key)
    layout = _Layout(snapshot, fmt, order)
    blocks = layout.blocks()
    page_w, page_h = PAPER_SIZES.get(snapshot.paper_size, A4)
    pages = paginate(blocks, layout.header_lines, BOTTOM + (PAGE_H - page_h))
    return _draw(snapshot, fmt, order, pages)


def _draw(
    snapshot: InvoiceSnapshot,
    fmt: Formatter,
    order: tuple[str, ...],
    pages: list[list[tuple[float, Line]]],
) -> bytes:
    buffer = io.BytesIO()
    page_w, page_h = PAPER_SIZES.get(snapshot.paper_size, A4)
    # The A4 frame's content, moved to the page's centre and top.
    shift = f"1 0 0 1 {(page_w - PAGE_W) / 2:.2f} {page_h - PAGE_H:.2f} cm"
    foot_x = (page_w - PAGE_W) / 2
    canvas = Canvas(
        buffer,
        pagesize=(page_w, page_h),
        invariant=1,
        pageCompression=1,
        initialFontName=fonts.REGULAR,
        lang=fmt.key.replace("_", "-"),
    )
    doc = canvas._doc
    doc._timeStamp = _FixedTimeStamp(snapshot.created_at)
    # The document ID: a digest of the invoice identity and of every page's
    # content, so it is stable across renders and differs between invoices.
    signature = hashlib.md5(usedforsecurity=False)
    signature.update(
        f"{RENDERER_VERSION}|{snapshot.id}|{snapshot.number}|{snapshot.status}|"
        f"{snapshot.created_at.isoformat()}".encode()
    )
    doc.signature = signature
    title = f"{fmt.label('invoice')} {snapshot.number}"
    canvas.setTitle(title)
    canvas.setAuthor(snapshot.organization.legal_name or snapshot.organization.name)
    canvas.setSubject(snapshot.id)
    canvas.setCreator(f"invoicing.pdf {RENDERER_VERSION}")

    writer = PdfWriter(canvas, order)
    org_name = fonts.prepare(snapshot.organization.name or snapshot.organization.legal_name)
    running_right = fonts.prepare(title)
    mark = "void" if snapshot.is_voided else "draft" if snapshot.is_draft else ""
    mark_text = fonts.prepare(fmt.label(mark)) if mark else ""
    total = len(pages)
    half = CONTENT_W / 2 - 10
    # Right-to-left documents are laid out as a mirror image: the seller's
    # name on the right, descriptions in the right-hand column, amounts and
    # the totals on the left. Each drawing is mirrored about the page's
    # centre line; the text itself is already in visual order.
    rtl = fmt.key in RTL_LOCALES

    def x_of(x: float, w: float, axis: float = LEFT + RIGHT) -> float:
        return axis - x - w if rtl else x

    def mirrored_text(x, y, text, bold, size, color, axis=LEFT + RIGHT):
        w = fonts.width(text, bold, size, order)
        writer.text(axis - x - w, y, text, bold, size, color)

    # Left-to-right pages draw straight through the writer (a 10,000-line
    # invoice draws ~75,000 strings).
    text_at = mirrored_text if rtl else writer.text

    def foot_text(x, y, text, bold, size, color):
        # The footer's frame is the paper's, not the A4 content frame's.
        if rtl:
            mirrored_text(x, y, text, bold, size, color, foot_axis)
        else:
            writer.text(x, y, text, bold, size, color)

    def hline_at(x1, x2, y, color, weight, axis=LEFT + RIGHT):
        writer.hline(x_of(x1, x2 - x1, axis), x_of(x1, x2 - x1, axis) + x2 - x1, y, color, weight)

    foot_axis = 2 * foot_x + LEFT + RIGHT
    for number, page in enumerate(pages, start=1):
        writer.new_page()
        canvas.addLiteral(f"q {shift}")
        if number > 1:
            name = _ellipsize(org_name, True, 8, half, order)
            text_at(LEFT, TOP - 8, name, True, 8, MUTED)
            right = _ellipsize(running_right, False, 8, half, order)
            text_at(RIGHT - fonts.width(right, False, 8, order), TOP - 8, right, False, 8, MUTED)
            writer.hline(LEFT, RIGHT, TOP - 14, RULE, 0.5)
        for top, (_height, ops) in page:
            for op in ops:
                kind = op[0]
                if kind == "t":
                    text_at(op[1], top - op[2], op[3], op[4], op[5], op[6])
                elif kind == "r":
                    writer.rect(x_of(op[1], op[3]), top - op[2] - op[4], op[3], op[4], op[5])
                elif kind == "h":
                    hline_at(op[1], op[2], top - op[3], op[4], op[5])
                else:
                    writer.flush(signature)
                    _, reader, x, dy, w, h = op
                    canvas.drawImage(reader, x_of(x, w), top - dy - h, w, h, mask="auto")
                    writer.forget_state()
        writer.flush(signature)
        canvas.addLiteral("Q")
        writer.forget_state()
        # The footer keeps its place above the paper's bottom edge.
        writer.hline(foot_x + LEFT, foot_x + RIGHT, 44, RULE, 0.5)
        footer_left = _ellipsize(running_right, False, 7.5, half, order)
        foot_text(foot_x + LEFT, 32, footer_left, False, 7.5, MUTED)
        page_label = fonts.prepare(fmt.page(number, total))
        page_x = foot_x + RIGHT - fonts.width(page_label, False, 7.5, order)
        foot_text(page_x, 32, page_label, False, 7.5, MUTED)
        if mark_text:
            writer.flush(signature)
            _diagonal_mark(canvas, writer, mark_text, order, signature, page_w, page_h)
        writer.flush(signature)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _diagonal_mark(
    canvas: Canvas,
    writer: PdfWriter,
    text: str,
    order: tuple[str, ...],
    signature: Digest,
    page_w: float,
    page_h: float,
) -> None:
    """A large translucent diagonal VOID (or DRAFT) across the page, over the content."""
    angle = math.atan2(page_h - 2 * BOTTOM, page_w - 2 * MARGIN_X)
    diagonal = math.hypot(page_w - 2 * MARGIN_X, page_h - 2 * BOTTOM)
    size = min(140.0, diagonal * 0.7 / max(fonts.width(text, True, 1.0, order), 0.01))
    w = fonts.width(text, True, size, order)
    cos, sin = math.cos(angle), math.sin(angle)
    cap = size * 0.72
    x = page_w / 2 - cos * w / 2 + sin * cap / 2
    y = page_h / 2 - sin * w / 2 - cos * cap / 2
    canvas.saveState()
    canvas.setFillAlpha(0.22)
    canvas.setStrokeAlpha(0.22)  # CJK "bold" also strokes the outline
    writer.forget_state()
    writer.text(x, y, text, True, size, VOID_RED, angle=angle)
    writer.flush(signature)
    canvas.restoreState()
    writer.forget_state()


def warm_up(locales: Iterable[str] = ("en",)) -> None:
    """Register the fonts and load the given locales' data: ~50 ms for "en".

    Call once per worker process at start, so the first invoice does not pay
    for it. Renders one small invoice per locale, which also primes the
    embedded-font subset cache. Each extra locale costs ~10 ms and ~1 MB of
    Babel data (CJK ones more); pass the locales the worker will serve.
    """
    from invoicing.pdf.samples import sample_snapshot

    fonts.register_fonts()
    for locale in locales:
        render_invoice_pdf(sample_snapshot(1, locale=locale))
