"""Input fields and helpers shared by both faces."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from babel import Locale
from rest_framework import serializers

from invoicing.money import is_currency

# ISO 3166-1 alpha-2: CLDR's two-letter territories (Babel) without the codes
# that are not ISO 3166-1 countries (exceptionally reserved, user-assigned,
# CLDR's own: Ascension, Clipperton, Diego Garcia, Ceuta and Melilla, Canary
# Islands, Tristan da Cunha, Sark, the EU, the eurozone, the UN, outlying
# Oceania, pseudo-locales, Kosovo, unknown), so 249 codes.
_NOT_ISO_3166_1 = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"}
)
_COUNTRIES = (
    frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha())
    - _NOT_ISO_3166_1
)


class NullAsAbsentMixin:
    """Clients differ: lago-python-client leaves unset fields out, others send
    ``null``. Both mean "not given" (docs/lago.md)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
        return super().to_internal_value(data)


class InputSerializer(NullAsAbsentMixin, serializers.Serializer):
    pass


class CurrencyField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).upper()
        if not is_currency(value):
            raise serializers.ValidationError("unknown ISO 4217 currency", code="invalid")
        return value


class CountryField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).upper()
        if value and value not in _COUNTRIES:
            raise serializers.ValidationError("unknown ISO 3166 country", code="invalid")
        return value


class TimezoneField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise serializers.ValidationError("unknown time zone", code="invalid") from None
        return value


class FlexibleDecimalField(serializers.DecimalField):
    """A decimal sent as a JSON number or a string (Lago's OpenAPI types units
    as a string, lago-python-client sends a number)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class MinorUnitsField(FlexibleDecimalField):
    """An amount in minor units: an integer, however it is spelled (``100``,
    ``"100"``, ``100.0``). A fraction of a minor unit is refused rather than
    rounded, so 1.005 in a 0-decimal currency is a clear error, not a guess."""

    default_error_messages = {"not_integral": "must be a whole number of minor units"}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 30)
        kwargs.setdefault("decimal_places", 10)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value: Decimal = super().to_internal_value(data)
        if value != value.to_integral_value():
            raise serializers.ValidationError(
                self.error_messages["not_integral"], code="value_is_invalid"
            )
        return value.quantize(Decimal(1))


class JsonObjectField(serializers.DictField):
    """A free-form JSON object stored in a jsonb column. PostgreSQL's jsonb
    refuses ``\\u0000`` in keys and strings (a DataError at save, so a 500):
    refused here instead, wherever it is nested."""

    default_error_messages = {"null_characters_not_allowed": "Null characters are not allowed."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if any("\x00" in key for key in item):
                    self.fail("null_characters_not_allowed")
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and "\x00" in item:
                self.fail("null_characters_not_allowed")
        return value
