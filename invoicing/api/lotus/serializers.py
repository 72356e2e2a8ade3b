"""The Lotus face's inputs (uselotus/lotus ``api/serializers/
model_serializers.py``, lotus-python 0.12.0's models), and the serializer
classes of its outputs, declared in ``invoicing/representations/lotus.py``."""

from __future__ import annotations

import json

from rest_framework import serializers

from invoicing.api.fields import CountryField, CurrencyField, InputSerializer, JsonObjectField
from invoicing.representations import lotus

# Lago metadata limits, which a customer's Lotus ``properties`` are stored as.
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 1000

# ---------------------------------------------------------------- input


class LotusAddressInput(InputSerializer):
    city = serializers.CharField(max_length=255)
    country = CountryField(allow_blank=False)
    line1 = serializers.CharField(max_length=255)
    line2 = serializers.CharField(required=False, max_length=255, allow_blank=True)
    postal_code = serializers.CharField(max_length=64)
    state = serializers.CharField(required=False, max_length=255, allow_blank=True)


class LotusCustomerCreateInput(InputSerializer):
    """What lotus-python's ``create_customer`` and upstream's
    ``CustomerCreateSerializer`` send. Unknown keys (lotus-python adds
    ``$type``, ``library``, ``sentAt``) are ignored."""

    customer_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=255)
    customer_name = serializers.CharField(required=False, max_length=255, allow_blank=True)
    payment_provider = serializers.ChoiceField(required=False, choices=["stripe", "braintree"])
    payment_provider_id = serializers.CharField(required=False, max_length=255)
    properties = JsonObjectField(required=False)
    default_currency_code = CurrencyField(required=False)
    address = LotusAddressInput(required=False)
    billing_address = LotusAddressInput(required=False)
    shipping_address = LotusAddressInput(required=False)
    tax_rate = serializers.DecimalField(
        required=False, max_digits=7, decimal_places=4, min_value=0, max_value=999
    )

    def validate_properties(self, value: dict) -> dict:
        if len(value) > MAX_PROPERTIES:
            raise serializers.ValidationError(f"At most {MAX_PROPERTIES} properties.")
        for key, item in value.items():
            text = item if isinstance(item, str) else json.dumps(item)
            if len(key) > MAX_PROPERTY_KEY or len(text) > MAX_PROPERTY_VALUE:
                raise serializers.ValidationError(f"Property {key[:40]!r} is too long.")
        return value

    def validate(self, attrs):
        if "payment_provider" in attrs or "payment_provider_id" in attrs:
            # Upstream's answer when the organization has no such integration;
            # this service has none.
            raise serializers.ValidationError(
                "Specified payment provider not connected to organization"
            )
        return attrs

    def to_customer_data(self) -> dict:
        """The validated body as ``customer_upsert``'s fields."""
        attrs = self.validated_data
        data: dict = {"email": attrs["email"]}
        if "customer_name" in attrs:
            data["name"] = attrs["customer_name"]
        if "default_currency_code" in attrs:
            data["currency"] = attrs["default_currency_code"]
        # Upstream: billing_address supersedes the deprecated address.
        address = attrs.get("billing_address") or attrs.get("address")
        if address:
            data.update(
                address_line1=address["line1"],
                address_line2=address.get("line2", ""),
                city=address["city"],
                state=address.get("state", ""),
                zipcode=address["postal_code"],
                country=address["country"],
            )
        if attrs.get("properties"):
            data["metadata"] = [
                {
                    "key": key,
                    "value": value if isinstance(value, str) else json.dumps(value),
                    "display_in_invoice": False,
                }
                for key, value in attrs["properties"].items()
            ]
        return data


class LotusInvoiceListFilters(serializers.Serializer):
    # A plain Serializer: it must receive the QueryDict itself, whose repeated
    # ``payment_status`` values MultipleChoiceField reads with getlist().
    payment_status = serializers.MultipleChoiceField(
        choices=["paid", "unpaid"],
        required=False,
        help_text="Repeat for both. Default: paid only, as upstream.",
    )
    customer_id = serializers.CharField(
        required=False, max_length=255, help_text="The customer's id (its external id)."
    )


# ---------------------------------------------------------------- output
#
# Each output shape is declared once, in invoicing/representations/lotus.py;
# these are the serializer classes derived from the declarations, which the
# views name in the OpenAPI schema.

LotusInvoiceOutput = lotus.INVOICE.serializer
LotusLightweightInvoiceOutput = lotus.LIGHTWEIGHT_INVOICE.serializer
LotusInvoicePdfUrlOutput = lotus.PDF_URL.serializer
LotusCustomerOutput = lotus.CUSTOMER.serializer
