"""How each face writes numbers, amounts and times."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

from babel.numbers import get_currency_name, get_currency_symbol
from django.utils.dateparse import parse_datetime

from invoicing.money import currency_exponent

# ------------------------------------------------------------------ Lago


def ruby_decimal(value) -> str:
    """A decimal as lago-api's JSON writes a ``BigDecimal``: plain digits,
    trailing zeros dropped, at least one decimal ("10.0", "0.333", "0.0")."""
    text = format(Decimal(value).normalize(), "f")
    if "." not in text:
        text += ".0"
    return "0.0" if text == "-0.0" else text


def precise_major(amount, currency: str) -> str:
    """A minor-unit amount as a major-unit decimal string (Lago's ``precise_*``,
    ``precise_amount_cents.fdiv(subunit_to_unit)``)."""
    return ruby_decimal(Decimal(amount).scaleb(-exponent(currency)))


def lago_datetime(value) -> str | None:
    """A timestamp as lago-api writes one (``Time#iso8601``): UTC, whole
    seconds, ``Z``. Stored metadata timestamps are text, read first."""
    if not value:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()[:-6] + "Z"


def rails_json_datetime(value) -> str | None:
    """A timestamp lago-api's serializer leaves to Rails' JSON encoder
    (``payment_dispute_lost_at``): UTC with milliseconds and ``Z``."""
    if not value:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def iso_date(value) -> str | None:
    return value.isoformat() if value else None


def text(value) -> str | None:
    return None if value is None else str(value)


def integer(value) -> int | None:
    return None if value is None else int(value)


def number(value) -> float | None:
    return None if value is None else float(value)


def blank_as_null(value) -> str | None:
    """Text this service stores as "" when unset, where Lago's nullable
    columns with no default send null."""
    return value or None


# ----------------------------------------------------------------- Lotus

_TEN_DECIMALS = Decimal("1e-10")


@functools.cache
def exponent(currency: str) -> int:
    return currency_exponent(currency)


def major(amount_cents, currency: str) -> float:
    """Minor units as a JSON number in major units (``10500`` EUR -> ``105.0``)."""
    return float(Decimal(amount_cents).scaleb(-exponent(currency)))


def major_string(amount_cents, currency: str) -> str:
    """Minor units as major units with 10 decimals (Lotus's adjustment amounts)."""
    return format(Decimal(amount_cents).scaleb(-exponent(currency)).quantize(_TEN_DECIMALS), "f")


@functools.cache
def currency_block(code: str) -> dict:
    return {
        "code": code,
        "name": get_currency_name(code, locale="en"),
        "symbol": get_currency_symbol(code, locale="en"),
    }


def zoned_datetime(value: dt.datetime, tz: dt.tzinfo) -> str:
    """Lotus's timestamps: in the customer's time zone, with its offset."""
    return value.astimezone(tz).isoformat(timespec="seconds")
