"""Credit note PDF: ``CreditNoteSnapshot`` in, PDF bytes out.

The invoice's renderer (``render.py``) draws it: the same fonts (every glyph
embedded), the same locales, pagination, page footer and deterministic
bytes. Only the content differs: titled as a credit note, it names the
invoice it amends (number and date, as Art. 219 of the VAT Directive wants
of an amending document), its reason, its items with their tax lines, and
how the total is returned: credited to the customer's balance, refunded.

Pure, like the rest of ``pdf/``: no ORM, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from invoicing.pdf import render as base
from invoicing.pdf import text as fonts
from invoicing.pdf.errors import SnapshotInconsistent
from invoicing.pdf.locales import LABELS, Formatter, resolve_locale
from invoicing.pdf.paper import PAPER_SIZES
from invoicing.pdf.snapshot import Party

REASONS = (
    "duplicated_charge",
    "product_unsatisfactory",
    "order_change",
    "order_cancellation",
    "fraudulent_charge",
    "other",
)

# Every locale the invoice has, every key (a test checks it).
CREDIT_NOTE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "credit_note": "Credit note",
        "credited_invoice": "Credited invoice",
        "invoice_date": "Invoice date",
        "reason": "Reason",
        "amends": "This credit note amends invoice {number} of {date}.",
        "items_total": "Credited items",
        "coupons_adjustment": "Coupons",
        "rounding": "Rounding",
        "total_credit_note": "Total credit note",
        "credit_amount": "Credited to the customer's balance",
        "refund_amount": "Refunded",
        "credit_voided": "The remaining credit was voided on {date}.",
        "duplicated_charge": "Duplicated charge",
        "product_unsatisfactory": "Product unsatisfactory",
        "order_change": "Order change",
        "order_cancellation": "Order cancellation",
        "fraudulent_charge": "Fraudulent charge",
        "other": "Other",
    },
    "fr": {
        "credit_note": "Avoir",
        "credited_invoice": "Facture rectifiée",
        "invoice_date": "Date de la facture",
        "reason": "Motif",
        "amends": "Cet avoir rectifie la facture {number} du {date}.",
        "items_total": "Éléments crédités",
        "coupons_adjustment": "Coupons",
        "rounding": "Arrondi",
        "total_credit_note": "Total de l'avoir",
        "credit_amount": "Crédité sur le solde du client",
        "refund_amount": "Remboursé",
        "credit_voided": "Le crédit restant a été annulé le {date}.",
        "duplicated_charge": "Facturation en double",
        "product_unsatisfactory": "Produit non satisfaisant",
        "order_change": "Modification de commande",
        "order_cancellation": "Annulation de commande",
        "fraudulent_charge": "Paiement frauduleux",
        "other": "Autre",
    },
    "de": {
        "credit_note": "Gutschrift",
        "credited_invoice": "Berichtigte Rechnung",
        "invoice_date": "Rechnungsdatum",
        "reason": "Grund",
        "amends": "Diese Gutschrift berichtigt die Rechnung {number} vom {date}.",
        "items_total": "Gutgeschriebene Positionen",
        "coupons_adjustment": "Gutscheine",
        "rounding": "Rundung",
        "total_credit_note": "Summe der Gutschrift",
        "credit_amount": "Dem Kundenguthaben gutgeschrieben",
        "refund_amount": "Erstattet",
        "credit_voided": "Das verbleibende Guthaben wurde am {date} storniert.",
        "duplicated_charge": "Doppelte Belastung",
        "product_unsatisfactory": "Produkt unbefriedigend",
        "order_change": "Bestelländerung",
        "order_cancellation": "Stornierung der Bestellung",
        "fraudulent_charge": "Betrügerische Belastung",
        "other": "Sonstiges",
    },
    "es": {
        "credit_note": "Nota de crédito",
        "credited_invoice": "Factura rectificada",
        "invoice_date": "Fecha de la factura",
        "reason": "Motivo",
        "amends": "Esta nota de crédito rectifica la factura {number} del {date}.",
        "items_total": "Conceptos abonados",
        "coupons_adjustment": "Cupones",
        "rounding": "Redondeo",
        "total_credit_note": "Total de la nota de crédito",
        "credit_amount": "Abonado al saldo del cliente",
        "refund_amount": "Reembolsado",
        "credit_voided": "El crédito restante se anuló el {date}.",
        "duplicated_charge": "Cargo duplicado",
        "product_unsatisfactory": "Producto insatisfactorio",
        "order_change": "Cambio de pedido",
        "order_cancellation": "Cancelación del pedido",
        "fraudulent_charge": "Cargo fraudulento",
        "other": "Otro",
    },
    "it": {
        "credit_note": "Nota di credito",
        "credited_invoice": "Fattura rettificata",
        "invoice_date": "Data della fattura",
        "reason": "Motivo",
        "amends": "Questa nota di credito rettifica la fattura {number} del {date}.",
        "items_total": "Voci accreditate",
        "coupons_adjustment": "Coupon",
        "rounding": "Arrotondamento",
        "total_credit_note": "Totale nota di credito",
        "credit_amount": "Accreditato sul saldo del cliente",
        "refund_amount": "Rimborsato",
        "credit_voided": "Il credito residuo è stato annullato il {date}.",
        "duplicated_charge": "Addebito duplicato",
        "product_unsatisfactory": "Prodotto insoddisfacente",
        "order_change": "Modifica dell'ordine",
        "order_cancellation": "Annullamento dell'ordine",
        "fraudulent_charge": "Addebito fraudolento",
        "other": "Altro",
    },
    "nl": {
        "credit_note": "Creditnota",
        "credited_invoice": "Gecorrigeerde factuur",
        "invoice_date": "Factuurdatum",
        "reason": "Reden",
        "amends": "Deze creditnota corrigeert factuur {number} van {date}.",
        "items_total": "Gecrediteerde posten",
        "coupons_adjustment": "Kortingsbonnen",
        "rounding": "Afronding",
        "total_credit_note": "Totaal creditnota",
        "credit_amount": "Bijgeschreven op het saldo van de klant",
        "refund_amount": "Terugbetaald",
        "credit_voided": "Het resterende tegoed is op {date} vervallen verklaard.",
        "duplicated_charge": "Dubbele afschrijving",
        "product_unsatisfactory": "Product onvoldoende",
        "order_change": "Wijziging van bestelling",
        "order_cancellation": "Annulering van bestelling",
        "fraudulent_charge": "Frauduleuze afschrijving",
        "other": "Overig",
    },
    "nb": {
        "credit_note": "Kreditnota",
        "credited_invoice": "Korrigert faktura",
        "invoice_date": "Fakturadato",
        "reason": "Årsak",
        "amends": "Denne kreditnotaen korrigerer faktura {number} av {date}.",
        "items_total": "Krediterte linjer",
        "coupons_adjustment": "Kuponger",
        "rounding": "Avrunding",
        "total_credit_note": "Sum kreditnota",
        "credit_amount": "Godskrevet kundens saldo",
        "refund_amount": "Refundert",
        "credit_voided": "Gjenværende kreditt ble annullert {date}.",
        "duplicated_charge": "Dobbel belastning",
        "product_unsatisfactory": "Produktet var ikke tilfredsstillende",
        "order_change": "Endret bestilling",
        "order_cancellation": "Kansellert bestilling",
        "fraudulent_charge": "Svindelbelastning",
        "other": "Annet",
    },
    "sv": {
        "credit_note": "Kreditnota",
        "credited_invoice": "Krediterad faktura",
        "invoice_date": "Fakturadatum",
        "reason": "Orsak",
        "amends": "Denna kreditnota ändrar faktura {number} från {date}.",
        "items_total": "Krediterade poster",
        "coupons_adjustment": "Kuponger",
        "rounding": "Avrundning",
        "total_credit_note": "Summa kreditnota",
        "credit_amount": "Krediterat kundens saldo",
        "refund_amount": "Återbetalat",
        "credit_voided": "Den återstående krediten makulerades {date}.",
        "duplicated_charge": "Dubbeldebitering",
        "product_unsatisfactory": "Produkten var inte tillfredsställande",
        "order_change": "Ändrad beställning",
        "order_cancellation": "Avbeställning",
        "fraudulent_charge": "Bedräglig debitering",
        "other": "Övrigt",
    },
    "pt_BR": {
        "credit_note": "Nota de crédito",
        "credited_invoice": "Fatura retificada",
        "invoice_date": "Data da fatura",
        "reason": "Motivo",
        "amends": "Esta nota de crédito retifica a fatura {number} de {date}.",
        "items_total": "Itens creditados",
        "coupons_adjustment": "Cupons",
        "rounding": "Arredondamento",
        "total_credit_note": "Total da nota de crédito",
        "credit_amount": "Creditado no saldo do cliente",
        "refund_amount": "Reembolsado",
        "credit_voided": "O crédito restante foi anulado em {date}.",
        "duplicated_charge": "Cobrança duplicada",
        "product_unsatisfactory": "Produto insatisfatório",
        "order_change": "Alteração do pedido",
        "order_cancellation": "Cancelamento do pedido",
        "fraudulent_charge": "Cobrança fraudulenta",
        "other": "Outro",
    },
    "pl": {
        "credit_note": "Faktura korygująca",
        "credited_invoice": "Korygowana faktura",
        "invoice_date": "Data faktury",
        "reason": "Przyczyna korekty",
        "amends": "Ta faktura korygująca koryguje fakturę {number} z dnia {date}.",
        "items_total": "Pozycje skorygowane",
        "coupons_adjustment": "Kupony",
        "rounding": "Zaokrąglenie",
        "total_credit_note": "Razem korekta",
        "credit_amount": "Zaliczone na saldo klienta",
        "refund_amount": "Zwrócono",
        "credit_voided": "Pozostały kredyt anulowano dnia {date}.",
        "duplicated_charge": "Podwójne obciążenie",
        "product_unsatisfactory": "Produkt niezadowalający",
        "order_change": "Zmiana zamówienia",
        "order_cancellation": "Anulowanie zamówienia",
        "fraudulent_charge": "Obciążenie oszukańcze",
        "other": "Inna",
    },
    "ja": {
        "credit_note": "クレジットノート",
        "credited_invoice": "対象請求書",
        "invoice_date": "請求書発行日",
        "reason": "理由",
        "amends": "本クレジットノートは{date}付け請求書{number}を訂正するものです。",
        "items_total": "返金対象明細",
        "coupons_adjustment": "クーポン",
        "rounding": "端数調整",
        "total_credit_note": "クレジットノート合計",
        "credit_amount": "顧客残高へのクレジット",
        "refund_amount": "返金額",
        "credit_voided": "残りのクレジットは{date}に無効化されました。",
        "duplicated_charge": "二重請求",
        "product_unsatisfactory": "製品の不具合",
        "order_change": "注文の変更",
        "order_cancellation": "注文の取消",
        "fraudulent_charge": "不正請求",
        "other": "その他",
    },
    "zh_TW": {
        "credit_note": "折讓單",
        "credited_invoice": "被更正發票",
        "invoice_date": "發票日期",
        "reason": "原因",
        "amends": "本折讓單更正 {date} 開立之發票 {number}。",
        "items_total": "折讓項目",
        "coupons_adjustment": "優惠券",
        "rounding": "尾數調整",
        "total_credit_note": "折讓單總額",
        "credit_amount": "計入客戶餘額",
        "refund_amount": "已退款",
        "credit_voided": "剩餘額度已於 {date} 作廢。",
        "duplicated_charge": "重複收費",
        "product_unsatisfactory": "產品不滿意",
        "order_change": "訂單變更",
        "order_cancellation": "訂單取消",
        "fraudulent_charge": "詐欺收費",
        "other": "其他",
    },
    "zh_CN": {
        "credit_note": "红字发票",
        "credited_invoice": "被冲红发票",
        "invoice_date": "发票日期",
        "reason": "原因",
        "amends": "本红字发票更正 {date} 开具的发票 {number}。",
        "items_total": "冲红项目",
        "coupons_adjustment": "优惠券",
        "rounding": "尾数调整",
        "total_credit_note": "红字发票合计",
        "credit_amount": "计入客户余额",
        "refund_amount": "已退款",
        "credit_voided": "剩余额度已于 {date} 作废。",
        "duplicated_charge": "重复收费",
        "product_unsatisfactory": "产品不满意",
        "order_change": "订单变更",
        "order_cancellation": "订单取消",
        "fraudulent_charge": "欺诈收费",
        "other": "其他",
    },
    "ar": {
        "credit_note": "إشعار دائن",
        "credited_invoice": "الفاتورة المعدلة",
        "invoice_date": "تاريخ الفاتورة",
        "reason": "السبب",
        "amends": "يعدّل هذا الإشعار الدائن الفاتورة {number} بتاريخ {date}.",
        "items_total": "البنود المدينة",
        "coupons_adjustment": "القسائم",
        "rounding": "التقريب",
        "total_credit_note": "إجمالي الإشعار الدائن",
        "credit_amount": "مقيد في رصيد العميل",
        "refund_amount": "مسترد",
        "credit_voided": "أُلغي الرصيد المتبقي في {date}.",
        "duplicated_charge": "رسوم مكررة",
        "product_unsatisfactory": "منتج غير مرضٍ",
        "order_change": "تغيير الطلب",
        "order_cancellation": "إلغاء الطلب",
        "fraudulent_charge": "رسوم احتيالية",
        "other": "أخرى",
    },
}


@dataclass(frozen=True)
class CreditNoteLine:
    """One item: the part of one fee given back, before tax."""

    display_name: str
    description: str = ""
    amount_cents: int = 0
    taxes_rate: Decimal = Decimal("0")  # the fee's rates, summed


@dataclass(frozen=True)
class CreditNoteTax:
    name: str
    code: str
    rate: Decimal
    base_amount_cents: int
    amount_cents: int


@dataclass(frozen=True)
class CreditNoteSnapshot:
    id: str
    number: str
    invoice_number: str
    invoice_issuing_date: dt.date
    reason: str  # one of REASONS
    currency: str
    issuing_date: dt.date
    # Fixes the PDF's creation date so two renders give identical bytes.
    created_at: dt.datetime
    locale: str
    organization: Party
    customer: Party
    description: str = ""
    purchase_order_number: str = ""
    logo_png: bytes | None = None
    invoice_footer: str = ""
    items: tuple[CreditNoteLine, ...] = ()
    applied_taxes: tuple[CreditNoteTax, ...] = ()
    coupons_adjustment_amount_cents: int = 0
    sub_total_excluding_taxes_amount_cents: int = 0
    taxes_amount_cents: int = 0
    total_amount_cents: int = 0
    credit_amount_cents: int = 0
    refund_amount_cents: int = 0
    # The day the credit left was voided (a new PDF version says so).
    credit_voided_on: dt.date | None = None
    paper_size: str = "A4"
    # What the invoice renderer's drawing reads of a snapshot: a credit note
    # is never drawn as a voided or draft invoice.
    status: str = field(default="finalized")
    is_voided: bool = False
    is_draft: bool = False


def check_credit_note_totals(s: CreditNoteSnapshot) -> None:
    """Refuse a snapshot whose printed lines would not add up: the items,
    their coupons and rounding give the sub total; the sub total and the
    taxes give the total; the credit and the refund share the total. Only
    the per-rate tax lines may differ from the total tax by their roundings
    (at most half a minor unit each)."""
    problems = []
    if s.reason not in REASONS:
        problems.append(f"reason {s.reason!r} is not one of Lago's")
    if s.total_amount_cents != s.sub_total_excluding_taxes_amount_cents + s.taxes_amount_cents:
        problems.append(
            f"total_amount_cents is {s.total_amount_cents}, sub total and taxes give "
            f"{s.sub_total_excluding_taxes_amount_cents + s.taxes_amount_cents}"
        )
    if s.total_amount_cents != s.credit_amount_cents + s.refund_amount_cents:
        problems.append(
            f"credit {s.credit_amount_cents} and refund {s.refund_amount_cents} do not make "
            f"the total {s.total_amount_cents}"
        )
    if s.applied_taxes:
        by_rate = sum(t.amount_cents for t in s.applied_taxes)
        if abs(by_rate - s.taxes_amount_cents) > (len(s.applied_taxes) + 1) // 2:
            problems.append(f"tax lines add up to {by_rate}, total tax is {s.taxes_amount_cents}")
    if problems:
        raise SnapshotInconsistent(problems)


class CreditNoteFormatter(Formatter):
    """The invoice's formatter with the credit note's labels; the document's
    title (the layout's and the drawing's ``invoice`` label) is the credit
    note's."""

    def __init__(self, label_key, locale, currency) -> None:
        super().__init__(label_key, locale, currency)
        own = CREDIT_NOTE_LABELS[label_key]
        self.labels = {**LABELS[label_key], **own, "invoice": own["credit_note"]}


class _CreditNoteLayout(base._Layout):
    """The credit note's blocks, made with the invoice layout's cells."""

    def blocks(self) -> list[base.Block]:
        s = self.s
        out = [self.title_block(), base._spacer(16), self.info_block(), base._spacer(14)]
        out += [self.amends_block(), base._spacer(16)]
        if s.items:
            out += self.item_blocks()
            out.append(base._spacer(14))
        out.append(self.totals_block())
        if s.invoice_footer.strip():
            out += [base._spacer(18), self.footer_block()]
        return out

    def info_block(self) -> base.Block:
        s, fmt = self.s, self.fmt
        col_w = (base.CONTENT_W - 20) / 3
        label_w, value_w = 80.0, col_w - 84.0
        labels: list = []
        values: list = []
        pairs = [
            ("issue_date", fmt.date(s.issuing_date)),
            ("credited_invoice", s.invoice_number),
            ("invoice_date", fmt.date(s.invoice_issuing_date)),
        ]
        if s.purchase_order_number:
            pairs.append(("purchase_order", s.purchase_order_number))
        pairs.append(("reason", fmt.label(s.reason)))
        for key, value in pairs:
            label_lines = self.cell(fmt.label(key), label_w, 7.5, color=base.MUTED)
            value_lines = self.cell(value, value_w, 8)
            base._pad(label_lines, value_lines)
            labels += label_lines
            values += value_lines
        x2 = base.LEFT + col_w + 10
        x3 = x2 + col_w + 10
        return base.Block(
            self.stack(
                [
                    (base.LEFT, label_w, "l", labels),
                    (base.LEFT + 84.0, value_w, "l", values),
                    (x2, col_w, "l", self.party(fmt.label("from"), s.organization, col_w, True)),
                    (x3, col_w, "l", self.party(fmt.label("bill_to"), s.customer, col_w, False)),
                ]
            ),
            keep=True,
        )

    def amends_block(self) -> base.Block:
        """The reference to the amended invoice, the description, and whether
        the credit left was voided, in a band."""
        s, fmt = self.s, self.fmt
        width = base.CONTENT_W - 20
        text = fmt.label("amends").format(
            number=s.invoice_number, date=fmt.date(s.invoice_issuing_date)
        )
        lines = self.cell(text, width, 10, bold=True, color=base.ACCENT)
        if s.description.strip():
            lines += self.cell(s.description, width, 8)
        if s.credit_voided_on:
            voided = fmt.label("credit_voided").format(date=fmt.date(s.credit_voided_on))
            lines += self.cell(voided, width, 9, bold=True, color=base.VOID_RED)
        return base.Block(
            self.stack([(base.LEFT + 10, width, "l", lines)], 7, 7, base.BAND), keep=True
        )

    def item_blocks(self) -> list[base.Block]:
        fmt = self.fmt
        desc_w = base.RATE_X - base.DESC_X - 2 * base.CELL_PAD
        numeric = base._NUMERIC[-2:]  # tax rate, amount
        columns = [
            (
                base.DESC_X + base.CELL_PAD,
                desc_w,
                "l",
                self.cell(fmt.label("description"), desc_w, 7.5, True, base.MUTED),
            )
        ]
        for key, (x, w) in zip(("tax_rate", "amount"), numeric, strict=True):
            inner = w - 2 * base.CELL_PAD
            columns.append(
                (x + base.CELL_PAD, inner, "r", self.label_cell(fmt.label(key), inner, 7.5))
            )
        header = self.grid(columns, pad_top=5, pad_bottom=4, background=base.HEADER_BG)
        self.header_lines = header
        blocks = [base.Block(header, keep=True, keep_with_next=True)]
        for item in self.s.items:
            desc = self.cell(item.display_name or item.description, desc_w, 8, bold=True)
            if item.display_name and item.description:
                desc += self.cell(item.description, desc_w, 7.5, color=base.MUTED)
            row = [(base.DESC_X + base.CELL_PAD, desc_w, "l", desc)]
            for value, (x, w) in zip(
                (fmt.percent(item.taxes_rate), fmt.money(item.amount_cents)), numeric, strict=True
            ):
                inner = w - 2 * base.CELL_PAD
                row.append((x + base.CELL_PAD, inner, "r", self.number_cell(value, inner, 8)))
            blocks.append(
                base.Block(
                    self.grid(row, pad_top=4, pad_bottom=4, rule_below=base.RULE),
                    keep=True,
                    table=True,
                )
            )
        return blocks

    def totals_block(self) -> base.Block:
        """Items, their coupons (and the rounding of the items' precise
        amounts, if any), sub total excl. tax, one line per tax rate, total
        tax, total; then how the total is returned."""
        s, fmt = self.s, self.fmt
        items = sum(i.amount_cents for i in s.items)
        rows: list[tuple[str, str, int]] = [("", fmt.label("items_total"), items)]
        if s.coupons_adjustment_amount_cents:
            rows.append(("", fmt.label("coupons_adjustment"), -s.coupons_adjustment_amount_cents))
        # lago-api rounds the items' precise sum once; each item is rounded on
        # its own: a cent may separate the two, printed so the column adds up.
        rounding = (
            s.sub_total_excluding_taxes_amount_cents - items + s.coupons_adjustment_amount_cents
        )
        if rounding:
            rows.append(("", fmt.label("rounding"), rounding))
        rows.append(("rule", fmt.label("subtotal_excl"), s.sub_total_excluding_taxes_amount_cents))
        rows.append(("", fmt.label("total_taxes"), s.taxes_amount_cents))
        for tax in s.applied_taxes:
            label = fmt.tax_line(tax.name, tax.rate, tax.base_amount_cents)
            rows.append(("detail", label, tax.amount_cents))
        rows.append(("strong", fmt.label("total_credit_note"), s.total_amount_cents))
        if s.credit_amount_cents:
            rows.append(("", fmt.label("credit_amount"), s.credit_amount_cents))
        if s.refund_amount_cents:
            rows.append(("", fmt.label("refund_amount"), s.refund_amount_cents))
        return base.Block(self.amount_rows(rows), keep=True)

    def amount_rows(self, rows) -> list[base.Line]:
        label_x, value_w = base.LEFT + base.CONTENT_W * 0.42, 96.0
        label_w = base.RIGHT - value_w - 10 - label_x
        lines: list[base.Line] = []
        for style, label, amount in rows:
            strong = style == "strong"
            rule = style in ("rule", "strong")
            detail = style == "detail"
            size = 10.0 if strong else 7.5 if detail else 8.5
            color = base.MUTED if detail else base.INK
            indent = 8.0 if detail else 0.0
            row = self.grid(
                [
                    (label_x + indent, label_w - indent, "l",
                     self.cell(label, label_w - indent, size, strong, color)),
                    (base.RIGHT - value_w - (value_w / 2 if detail else 0), value_w, "r",
                     self.number_cell(self.fmt.money(amount), value_w, size, strong, color)),
                ],
                pad_top=6 if rule else 2.5,
                pad_bottom=2.5,
            )  # fmt: skip
            if rule and row:
                height, ops = row[0]
                line = ("h", label_x, base.RIGHT, 1.5, base.INK if strong else base.RULE,
                        1.0 if strong else 0.5)  # fmt: skip
                row[0] = (height, [line, *ops])
            lines += row
        return lines


def render_credit_note_pdf(snapshot: CreditNoteSnapshot) -> bytes:
    """Render a credit note snapshot to PDF bytes (deterministic).

    Raises ``SnapshotInconsistent`` when its lines would not add up."""
    check_credit_note_totals(snapshot)
    fonts.register_fonts()
    label_key, babel_locale = resolve_locale(snapshot.locale)
    fmt = CreditNoteFormatter(label_key, babel_locale, snapshot.currency)
    order = fonts.cjk_order(label_key)
    layout = _CreditNoteLayout(snapshot, fmt, order)
    blocks = layout.blocks()
    _, page_h = PAPER_SIZES.get(snapshot.paper_size, base.A4)
    pages = base.paginate(blocks, layout.header_lines, base.BOTTOM + (base.PAGE_H - page_h))
    return base._draw(snapshot, fmt, order, pages)
