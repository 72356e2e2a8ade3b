"""Label tables and locale resolution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import format_currency

from invoicing.pdf.locales import DAYS, LABEL_KEYS, LABELS, Formatter, resolve_locale

REQUIRED = ["en", "fr", "de", "es", "it", "nl", "nb", "sv", "pt_BR", "pl", "ja", "zh_TW"]


def test_every_locale_has_every_label() -> None:
    assert set(REQUIRED) <= set(LABELS)
    for key, labels in LABELS.items():
        assert set(labels) == set(LABEL_KEYS), key
        assert all(value.strip() for value in labels.values()), key
        assert {"{name}", "{rate}", "{base}"} <= set(_fields(labels["tax_line"]))
        assert {"{page}", "{pages}"} <= set(_fields(labels["page"]))
        assert "other" in DAYS[key]
        if key != "en":
            assert labels["invoice"] != LABELS["en"]["invoice"] or key in ("nb",), key


def _fields(template: str) -> list[str]:
    return [part.split("}")[0].join("{}") for part in template.split("{")[1:]]


@pytest.mark.parametrize(
    ("given", "labels", "babel"),
    [
        ("pt-BR", "pt_BR", "pt_BR"),
        ("pt_BR", "pt_BR", "pt_BR"),
        ("pt", "pt_BR", "pt"),
        ("zh-TW", "zh_TW", "zh_Hant_TW"),
        ("zh_Hant_TW", "zh_TW", "zh_Hant_TW"),
        ("zh-CN", "zh_CN", "zh_Hans_CN"),
        ("de-CH", "de", "de_CH"),
        ("en-US", "en", "en_US"),
        ("xx", "en", "en"),
        ("", "en", "en"),
        ("klingon!", "en", "en"),
    ],
)
def test_resolve_locale(given: str, labels: str, babel: str) -> None:
    key, locale = resolve_locale(given)
    assert key == labels
    assert str(locale) == babel


def test_formatter_uses_currency_digits() -> None:
    jpy = Formatter("ja", Locale.parse("ja"), "JPY")
    assert jpy.money(123456) == format_currency(Decimal(123456), "JPY", locale="ja")
    bhd = Formatter("en", Locale.parse("en"), "BHD")
    assert bhd.money(1234567) == format_currency(Decimal("1234.567"), "BHD", locale="en")
    assert bhd.money(1234567).endswith("1,234.567")
    eur = Formatter("en", Locale.parse("en"), "EUR")
    assert eur.unit_price(Decimal("0.0123")) == "€0.000123"
    assert eur.unit_price(Decimal("150.0000")) == "€1.50"
    assert eur.units(Decimal("2.500")) == "2.5"
    assert eur.percent(Decimal("20.00")) == "20%"
    assert eur.percent(Decimal("8.25")) == "8.25%"
    assert eur.days(1) == "1 day" and eur.days(30) == "30 days"
    assert Formatter("pl", Locale.parse("pl"), "PLN").days(3) == "3 dni"
    assert eur.period(dt.date(2025, 1, 1), None) == "Jan 1, 2025"
