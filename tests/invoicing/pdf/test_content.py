"""Every value of the snapshot is printed, formatted for the document's locale.

Expected strings are rebuilt here from the snapshot with Babel directly, not
with the renderer's own formatter, so a formatting slip in the renderer fails.
"""

from __future__ import annotations

import functools
import unicodedata
from decimal import Decimal

import arabic_reshaper
import pytest
from babel import Locale
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_precision
from bidi.algorithm import get_display

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf.locales import DAYS, LABELS
from invoicing.pdf.samples import sample_bhd_invoice, sample_eur_invoice, sample_jpy_invoice
from invoicing.pdf.snapshot import InvoiceSnapshot
from tests.invoicing.pdf.pdftools import money, nfkc, pages_text, squash, visual_lines

LOCALES = ["en", "fr", "de", "es", "it", "nl", "nb", "sv", "pt-BR", "pl", "ja", "zh-TW", "zh-CN"]


@functools.cache
def _render(kind: str, locale: str) -> bytes:
    builders = {"eur": sample_eur_invoice}
    return render_invoice_pdf(builders[kind](locale))


def expected_strings(s: InvoiceSnapshot, babel_locale: str, labels_key: str) -> list[str]:
    """What a reader must find on the invoice, formatted independently."""
    loc = Locale.parse(babel_locale)
    labels = LABELS[labels_key]
    precision = get_currency_precision(s.currency)

    def amount(minor: int) -> str:
        return money(minor, s.currency, babel_locale)

    def percent(rate: Decimal) -> str:
        return format_percent((rate / 100).normalize(), locale=loc, decimal_quantization=False)

    org, customer = s.organization, s.customer
    days = DAYS[labels_key]
    term = days.get(Locale.parse(labels_key).plural_form(s.net_payment_term), days["other"])
    out = [
        labels["invoice"],
        s.number,
        labels["purchase_order"],
        s.purchase_order_number,
        labels["issue_date"],
        format_date(s.issuing_date, "long", locale=loc),
        labels["due_date"],
        format_date(s.payment_due_date, "long", locale=loc),
        labels["payment_term"],
        term.format(n=s.net_payment_term),
        labels["from"],
        labels["bill_to"],
        org.name,
        org.legal_name,
        f"{labels['legal_number']}: {org.legal_number}",
        # Both parties are in the EU: their tax IDs are VAT numbers, and
        # their posts want the city in capitals after the postal code.
        f"{labels['vat_id']}: {org.tax_identification_number}",
        org.email,
        org.phone,
        org.address.line1,
        f"{org.address.zipcode} {org.address.city.upper()}",
        loc.territories[org.address.country],
        customer.name,
        customer.legal_name,
        f"{labels['legal_number']}: {customer.legal_number}",
        f"{labels['vat_id']}: {customer.tax_identification_number}",
        customer.email,
        customer.address.line1,
        customer.address.line2,
        f"{customer.address.zipcode} {customer.address.city.upper()}",
        loc.territories[customer.address.country],
        labels["amount_due"],
        labels["description"],
        labels["units"],
        labels["unit_price"],
        labels["tax_rate"],
        labels["amount"],
        labels["fees_total"],
        amount(s.fees_amount_cents),
        labels["subtotal_excl"],
        amount(s.sub_total_excluding_taxes_amount_cents),
        labels["total_taxes"],
        amount(s.taxes_amount_cents),
        labels["supply_date"],
        labels["subtotal_incl"],
        amount(s.sub_total_including_taxes_amount_cents),
        labels["total_due"],
        amount(s.total_due_amount_cents),
        labels["page"].format(page=1, pages=1),
    ]
    for item in s.metadata:
        out += [item.key, item.value]
    for fee in s.fees:
        out += [
            fee.display_name,
            fee.description,
            format_decimal(fee.units.normalize(), locale=loc, decimal_quantization=False),
            format_currency(
                fee.unit_amount_cents.scaleb(-precision).normalize(),
                s.currency,
                locale=loc,
                decimal_quantization=False,
            ),
            percent(fee.taxes_rate),
            amount(fee.amount_cents),
        ]
        if fee.from_date and fee.to_date:
            out.append(format_interval(fee.from_date, fee.to_date, skeleton="yMMMd", locale=loc))
    for tax in s.applied_taxes:
        out.append(
            labels["tax_line"].format(
                name=tax.name, rate=percent(tax.rate), base=amount(tax.fees_amount_cents)
            )
        )
        out.append(amount(tax.amount_cents))
    for credit in s.credits:
        out += [credit.label, amount(-credit.amount_cents)]
    out += s.invoice_footer.split("\n")
    return [text for text in out if text]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_value_is_printed_in_the_locale(locale: str) -> None:
    snapshot = sample_eur_invoice(locale)
    pdf = _render("eur", locale)
    pages = pages_text(pdf)
    assert len(pages) == 1
    text = squash(pages[0])
    key = locale.replace("-", "_")
    missing = [e for e in expected_strings(snapshot, key, key) if squash(e) not in text]
    assert not missing, f"{locale}: not found in the PDF: {missing}"


def test_labels_really_change_with_the_locale() -> None:
    # Guards the test above against a renderer that prints English everywhere
    # while the English strings happen to match.
    english = squash(pages_text(_render("eur", "en"))[0])
    for locale in ("fr", "de", "ja"):
        text = squash(pages_text(_render("eur", locale))[0])
        assert squash(LABELS[locale.replace("-", "_")]["total_due"]) in text
        assert squash(LABELS["en"]["total_due"]) not in text
        assert squash(LABELS[locale]["subtotal_excl"]) not in english


def test_arabic_invoice_shows_every_value_in_visual_order() -> None:
    snapshot = sample_eur_invoice("ar")
    pdf = render_invoice_pdf(snapshot)
    shown = squash(nfkc("".join(line for _, line, _ in visual_lines(pdf))))

    def visual(text: str) -> str:
        return squash(nfkc(get_display(arabic_reshaper.reshape(text))))

    expected = expected_strings(snapshot, "ar", "ar")
    assert len([e for e in expected if len(e) < 40]) > 80
    # Values that wrap onto two lines in the Arabic layout are checked by the
    # other locales; single-line ones must appear exactly as displayed.
    missing = [e for e in expected if visual(e) not in shown and len(e) < 40]
    assert not missing, missing


@pytest.mark.parametrize(
    ("builder", "digits"),
    [(sample_jpy_invoice, 0), (sample_bhd_invoice, 3), (sample_eur_invoice, 2)],
)
def test_currency_digits(builder, digits: int) -> None:
    snapshot = builder()
    assert get_currency_precision(snapshot.currency) == digits
    text = squash("".join(pages_text(render_invoice_pdf(snapshot))))
    locale = snapshot.locale.replace("-", "_")
    for minor in (
        snapshot.total_due_amount_cents,
        snapshot.sub_total_excluding_taxes_amount_cents,
        *(fee.amount_cents for fee in snapshot.fees),
        *(tax.amount_cents for tax in snapshot.applied_taxes),
    ):
        formatted = money(minor, snapshot.currency, locale)
        assert squash(formatted) in text
        decimals = formatted.rsplit(".", 1)[-1] if digits else ""
        if digits:
            assert len("".join(ch for ch in decimals if ch.isdigit())) == digits, formatted
        else:
            assert "." not in unicodedata.normalize("NFKC", formatted).replace(",", "")
