"""Amounts as operators read them: minor units shown in major units with the
currency's own number of decimals (Babel, as the PDFs), and its code: "300.00
EUR" for 30000 EUR, "285.600 BHD" for 285600 BHD, "1,200 JPY". One format for
every currency, so that a column of mixed currencies reads alike."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal
from django.contrib import admin

from invoicing.money import currency_exponent


def admin_money(minor, currency: str) -> str:
    if minor is None or not currency:
        return "–"
    digits = currency_exponent(currency)
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    number = format_decimal(Decimal(minor).scaleb(-digits), format=pattern, locale="en_US")
    return f"{number} {currency}"


def money_column(field: str, label: str, currency_of):
    """A read-only admin column showing ``field`` (minor units) formatted in
    the currency ``currency_of(obj)`` gives, sorted by the stored amount."""

    @admin.display(description=label, ordering=field)
    def column(self, obj):
        return admin_money(getattr(obj, field), currency_of(obj))

    column.__name__ = f"{field}_formatted"
    return column
