"""The Lago face's input and output shapes (getlago/lago-openapi schemas)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from invoicing.api.fields import (
    CountryField,
    CurrencyField,
    FlexibleDecimalField,
    InputSerializer,
    MinorUnitsField,
    TimezoneField,
)
from invoicing.errors import ValidationFailed
from invoicing.models import Customer, Invoice, Organization, VatCategory
from invoicing.money import MAX_AMOUNT_CENTS, currency_exponent
from invoicing.pdf.locales import SUPPORTED_LOCALES
from invoicing.selectors import VISIBLE_INVOICE_STATUSES, InvoiceFilters

# Largest number of fees one invoice may carry (the renderer is measured up to
# 10,000 lines).
MAX_FEES = 10_000

# ---------------------------------------------------------------- input


def _refuse(field: str, code: str):
    """A validation error under ``field`` with Lago's error code as is."""
    return serializers.ValidationError({field: [ErrorDetail(code, code=code)]})


class MetadataItemInput(InputSerializer):
    """A metadata item, read as sent: its rules (presence, lengths, unique
    keys) are lago-api's, checked where lago-api checks them, with its error
    bodies (``CustomerInput.validate``, the invoice services)."""

    id = serializers.CharField(required=False, max_length=64)
    key = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    value = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    display_in_invoice = serializers.BooleanField(required=False)


# lago-api's ``config.i18n.available_locales`` (config/application.rb): the
# document locales it accepts, exactly as spelled there.
LAGO_DOCUMENT_LOCALES = ("en", "fr", "nb", "de", "it", "es", "sv", "pt-BR", "zh-TW")
# Beyond Lago: the other languages this service's PDFs are written in
# (invoicing/pdf/locales.py), spelled the same way.
DOCUMENT_LOCALES = LAGO_DOCUMENT_LOCALES + tuple(
    sorted({key.replace("_", "-") for key in SUPPORTED_LOCALES} - set(LAGO_DOCUMENT_LOCALES))
)


def _invalid(code: str) -> serializers.ValidationError:
    return serializers.ValidationError(ErrorDetail(code, code=code))


class LagoCountryField(CountryField):
    """lago-api's ``CountryCodeValidator`` (ISO 3166-1 alpha-2, upcased first)
    and its error code."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise _invalid("not_a_valid_country_code") from None


# lago-api's ``Regex::EMAIL`` (RFC 5322, with Unicode letters, marks and
# numbers in the local part): the quoted local part and the domain, in
# ASCII; the unquoted local part is checked character by character below
# (Python's ``re`` has no ``\p{M}``).
_EMAIL_QUOTED = (
    r'"(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x21\x23-\x5b\x5d-\x7f]'
    r'|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*"'
)
_EMAIL_DOMAIN = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"|\[(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?"
    r"|[a-zA-Z0-9-]*[a-zA-Z0-9]:(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x21-\x5a\x53-\x7f]"
    r"|\\[\x01-\x09\x0b\x0c\x0e-\x7f])+)\])\Z"
)
_EMAIL_SPECIALS = frozenset("!#$%&'*+/=?^_`{|}~-")
# ``EmailSanitizer``: dash look-alikes become "-", invisible characters go.
_DASH_LOOKALIKES = re.compile("[\u2012\u2013\u2014\u2015\u2043\u2212]")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u00a0\u200e\u200f\ufeff]")


def _email_local_ok(local: str) -> bool:
    if re.fullmatch(_EMAIL_QUOTED, local):
        return True
    atoms = local.split(".")
    return all(
        atom and all(ch in _EMAIL_SPECIALS or unicodedata.category(ch)[0] in "LMN" for ch in atom)
        for atom in atoms
    )


def lago_email_ok(address: str) -> bool:
    """One address as lago-api's ``EmailValidator`` accepts it."""
    local, at, domain = address.rpartition("@")
    return bool(at) and _email_local_ok(local) and bool(_EMAIL_DOMAIN.match(domain))


class LagoEmailField(serializers.CharField):
    """A customer's email as lago-api takes it: sanitized (``EmailSanitizer``),
    then each comma-separated address checked (``EmailValidator``); an empty
    one is no email and not checked."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        value = _INVISIBLE.sub("", _DASH_LOOKALIKES.sub("-", value)).strip()
        if value and not all(lago_email_ok(a.strip()) for a in value.split(",")):
            raise _invalid("invalid_email_format")
        return value


class BillingConfigurationInput(InputSerializer):
    # Checked with the customer's own fields (its error is the customer's
    # ``document_locale``, as lago-api's model validation reports it).
    document_locale = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=16
    )


# lago-api's ``Metadata::CustomerMetadata``: at most five items, keys of up to
# 20 characters and values of up to 100, both present.
CUSTOMER_METADATA_MAX_ITEMS = 5
CUSTOMER_METADATA_MAX_KEY = 20
CUSTOMER_METADATA_MAX_VALUE = 100


class CustomerInput(InputSerializer):
    external_id = serializers.CharField(max_length=255)
    billing_entity_code = serializers.CharField(required=False, allow_blank=True, max_length=255)
    name = serializers.CharField(required=False, max_length=255, allow_blank=True)
    firstname = serializers.CharField(required=False, max_length=255, allow_blank=True)
    lastname = serializers.CharField(required=False, max_length=255, allow_blank=True)
    customer_type = serializers.ChoiceField(
        required=False, choices=["company", "individual"], allow_blank=True
    )
    legal_name = serializers.CharField(required=False, max_length=255, allow_blank=True)
    legal_number = serializers.CharField(required=False, max_length=255, allow_blank=True)
    tax_identification_number = serializers.CharField(
        required=False, max_length=255, allow_blank=True
    )
    email = LagoEmailField(required=False, max_length=255, allow_blank=True)
    phone = serializers.CharField(required=False, max_length=64, allow_blank=True)
    url = serializers.CharField(required=False, max_length=255, allow_blank=True)
    address_line1 = serializers.CharField(required=False, max_length=255, allow_blank=True)
    address_line2 = serializers.CharField(required=False, max_length=255, allow_blank=True)
    city = serializers.CharField(required=False, max_length=255, allow_blank=True)
    state = serializers.CharField(required=False, max_length=255, allow_blank=True)
    zipcode = serializers.CharField(required=False, max_length=64, allow_blank=True)
    country = LagoCountryField(required=False)
    currency = CurrencyField(required=False)
    timezone = TimezoneField(required=False, max_length=64, allow_blank=True)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    metadata = MetadataItemInput(many=True, required=False)
    billing_configuration = BillingConfigurationInput(required=False)
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )

    def validate_metadata(self, items):
        """lago-api's rules, with its error bodies: the count under
        ``metadata`` (``UpsertFromApiService``), an item's own errors under
        ``key`` / ``value`` (the item is the record that fails)."""
        if len(items) > CUSTOMER_METADATA_MAX_ITEMS:
            raise _invalid("invalid_count")
        return items

    def validate(self, attrs):
        billing = attrs.pop("billing_configuration", None) or {}
        if "document_locale" in billing:
            # lago-api's ``LanguageCodeValidator``: one of the supported
            # locales as spelled (``pt-BR``, not ``pt_BR``); "" is none.
            if billing["document_locale"] not in DOCUMENT_LOCALES:
                raise _refuse("document_locale", "not_a_valid_language_code")
            attrs["document_locale"] = billing["document_locale"]
        attrs.pop("billing_entity_code", None)  # checked by the view, first
        seen: set[str] = set()
        for item in attrs.get("metadata") or ():
            key, value = item.get("key") or "", item.get("value") or ""
            if not key.strip():
                raise _refuse("key", "value_is_mandatory")
            if len(key) > CUSTOMER_METADATA_MAX_KEY:
                raise _refuse("key", "value_is_too_long")
            if key in seen:
                raise _refuse("key", "value_already_exist")
            seen.add(key)
            if not value.strip():
                raise _refuse("value", "value_is_mandatory")
            if len(value) > CUSTOMER_METADATA_MAX_VALUE:
                raise _refuse("value", "value_is_too_long")
        return attrs


# EN 16931's VAT exemption reason codes (CEF VATEX list): "VATEX-EU-AE",
# "VATEX-EU-132-1A", "VATEX-FR-FRANCHISE".
VATEX_PATTERN = r"^VATEX-[A-Z]{2}(-[A-Z0-9]+)+$"


class TaxInput(InputSerializer):
    code = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255)
    rate = FlexibleDecimalField(
        max_digits=9, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1000)
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    applied_to_organization = serializers.BooleanField(required=False)
    # Beyond Lago: the tax's EN 16931 VAT category and exemption reason.
    vat_category_code = serializers.ChoiceField(required=False, choices=VatCategory.values)
    vat_exemption_reason = serializers.CharField(required=False, allow_blank=True, max_length=255)
    vat_exemption_reason_code = serializers.RegexField(
        VATEX_PATTERN, required=False, allow_blank=True, max_length=64
    )


class AddOnInput(InputSerializer):
    code = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255)
    invoice_display_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    amount_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    amount_currency = CurrencyField()
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )


class InvoiceFeeInput(InputSerializer):
    add_on_code = serializers.CharField(max_length=255)
    # Zero is a fee of nothing, which lago-api accepts (``Fee`` validates
    # ``units >= 0``).
    units = FlexibleDecimalField(
        required=False, max_digits=22, decimal_places=10, min_value=Decimal(0)
    )
    unit_amount_cents = MinorUnitsField(
        required=False, min_value=Decimal(0), max_value=Decimal(MAX_AMOUNT_CENTS)
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    invoice_display_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    # ISO 8601, both or neither: checked with lago-api's ``boundaries`` error
    # once the add-ons are found (``invoice_create``).
    from_datetime = serializers.CharField(required=False, max_length=128)
    to_datetime = serializers.CharField(required=False, max_length=128)
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )


class InvoiceCreateInput(InputSerializer):
    external_customer_id = serializers.CharField(max_length=255)
    currency = CurrencyField(required=False)
    status = serializers.ChoiceField(
        required=False, choices=[Invoice.Status.DRAFT, Invoice.Status.FINALIZED]
    )
    billing_entity_code = serializers.CharField(required=False, allow_blank=True, max_length=255)
    purchase_order_number = serializers.CharField(required=False, allow_blank=True, max_length=255)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    fees = InvoiceFeeInput(many=True, allow_empty=False, max_length=MAX_FEES)
    # Beyond lago-api's create (which takes none), under its update's rules.
    metadata = MetadataItemInput(many=True, required=False, max_length=50)


class UncheckedChoiceField(serializers.ChoiceField):
    """Documents its choices in the schema but takes any text: the service
    refuses an unknown one, in the order lago-api refuses things."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid_choice", input=data)
        return str(data)


class InvoiceUpdateInput(InputSerializer):
    payment_status = UncheckedChoiceField(required=False, choices=Invoice.PaymentStatus.values)
    metadata = MetadataItemInput(many=True, required=False, max_length=50)


# ------------------------------------------------------- list parameters

PAYMENT_STATUSES = ("pending", "succeeded", "failed")
# dry-types' ``Params::Bool``, which lago-api's filter contract checks with...
_BOOL_TRUE = frozenset("1 on On ON t true True TRUE T y yes Yes YES Y".split())
_BOOL_FALSE = frozenset("0 off Off OFF f false False FALSE F n no No NO N".split())
# ...and ActiveModel's boolean cast, which its query applies: only these are
# false (so "no" passes the contract as false and filters as true).
_CAST_FALSE = frozenset("0 f F false FALSE off OFF".split())


def _query_value(query, name: str) -> str | list[str] | None:
    """A query parameter as Rails reads it: ``name[]=a&name[]=b`` is a list,
    ``name=a`` a string (the last one sent)."""
    if f"{name}[]" in query:
        return query.getlist(f"{name}[]")
    return query.get(name)


def _one_of(name: str, value, allowed) -> tuple[str, ...] | None:
    """A string or a list of strings among ``allowed``, refused with
    dry-validation's messages as lago-api answers them."""
    listed = ", ".join(allowed)
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        if value not in allowed:
            raise ValidationFailed({name: [f"must be one of: {listed} or must be an array"]})
        return (value,)
    wrong = {str(i): [f"must be one of: {listed}"] for i, v in enumerate(value) if v not in allowed}
    if wrong:
        raise ValidationFailed({name: wrong})
    return tuple(value)


def _boolean(name: str, value, *, contract: bool) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, list):
        value = value[-1]
    if contract and value not in _BOOL_TRUE | _BOOL_FALSE:
        raise ValidationFailed({name: ["must be boolean"]})
    return value not in _CAST_FALSE


def _amount(name: str, value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(value if isinstance(value, str) else value[-1])
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if amount is None or not amount.is_finite():
        # lago-api casts it in SQL (``?::numeric``) and fails with a 500.
        raise ValidationFailed({name: ["value_is_invalid"]})
    return amount


def _query_date(value) -> dt.date | None:
    """``Date.iso8601`` or nothing: lago-api ignores a date it cannot read."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _strings(value) -> tuple[str, ...] | None:
    if value in (None, "", []):
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def invoice_filters(query, *, customer_external_id: str | None = None) -> InvoiceFilters:
    """The invoice list's query string as lago-api's ``InvoiceIndex`` and
    ``InvoicesQueryFiltersContract`` read it. Scalars take the last value
    sent, ``name[]`` parameters are lists, unreadable dates are ignored;
    statuses and booleans outside the contract are a 422 with its messages.

    ``payment_dispute_lost`` is not in lago-api's contract and its query
    tests the raw text, so over HTTP even ``false`` selects lost disputes
    there; here it is cast like the other booleans, as its query's own tests
    and the API reference mean it."""
    q = query
    status = _query_value(q, "status") or _query_value(q, "statuses")
    payment_status = _query_value(q, "payment_status") or _query_value(q, "payment_statuses")
    if customer_external_id is None:
        customer_external_id = q.get("external_customer_id") or q.get("customer_external_id")
    metadata = []
    for name in q:
        match = re.fullmatch(r"metadata\[([^\[\]]+)\]", name)
        if match:
            metadata.append((match.group(1), q.get(name)))
    return InvoiceFilters(
        statuses=_one_of("status", status, VISIBLE_INVOICE_STATUSES),
        payment_statuses=_one_of("payment_status", payment_status, PAYMENT_STATUSES),
        currencies=_strings(_query_value(q, "currency")),
        invoice_types=_strings(_query_value(q, "invoice_type")),
        customer_external_id=customer_external_id or None,
        issuing_date_from=_query_date(q.get("issuing_date_from")),
        issuing_date_to=_query_date(q.get("issuing_date_to")),
        amount_from=_amount("amount_from", _query_value(q, "amount_from")),
        amount_to=_amount("amount_to", _query_value(q, "amount_to")),
        payment_overdue=_boolean("payment_overdue", q.get("payment_overdue"), contract=True),
        payment_dispute_lost=_boolean(
            "payment_dispute_lost", q.get("payment_dispute_lost"), contract=False
        ),
        self_billed=_boolean("self_billed", q.get("self_billed"), contract=True),
        metadata=tuple(metadata),
        search_term=(q.get("search_term") or "").strip(),
    )


def billing_entity_codes(query) -> list[str] | None:
    value = _query_value(query, "billing_entity_codes")
    if value in (None, "", []):
        return None
    return [value] if isinstance(value, str) else list(value)


# ---------------------------------------------------------------- output


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
    return ruby_decimal(Decimal(amount).scaleb(-currency_exponent(currency)))


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


class LagoDateTimeField(serializers.DateTimeField):
    """A timestamp in Lago's form (``lago_datetime``)."""

    def to_representation(self, value):
        return lago_datetime(value)


class RailsJsonDateTimeField(serializers.DateTimeField):
    def to_representation(self, value):
        return rails_json_datetime(value)


class BlankAsNullField(serializers.CharField):
    """Text that Lago sends as null when unset: lago-api's customer columns
    are nullable with no default, where this service stores "" for unset."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return super().get_attribute(instance) or None


class TaxOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    rate = serializers.FloatField()
    description = serializers.CharField(allow_null=True)
    applied_to_organization = serializers.BooleanField()
    add_ons_count = serializers.SerializerMethodField()
    customers_count = serializers.SerializerMethodField()
    plans_count = serializers.SerializerMethodField()
    charges_count = serializers.SerializerMethodField()
    commitments_count = serializers.SerializerMethodField()
    created_at = LagoDateTimeField()
    vat_category_code = serializers.ChoiceField(choices=VatCategory.values)
    vat_exemption_reason = serializers.SerializerMethodField()
    vat_exemption_reason_code = serializers.SerializerMethodField()

    def get_vat_exemption_reason(self, tax) -> str | None:
        return tax.vat_exemption_reason or None

    def get_vat_exemption_reason_code(self, tax) -> str | None:
        return tax.vat_exemption_reason_code or None

    def get_add_ons_count(self, tax) -> int:
        return 0

    get_customers_count = get_plans_count = get_charges_count = get_add_ons_count
    get_commitments_count = get_add_ons_count

    def to_representation(self, instance):
        return render_tax(instance)


class AddOnOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    created_at = LagoDateTimeField()
    taxes = TaxOutput(many=True, source="taxes.all")


class MetadataOutput(serializers.Serializer):
    """A customer's or an invoice's metadata item (schema only)."""

    lago_id = serializers.CharField()
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField()
    created_at = LagoDateTimeField()


class BillingConfigurationOutput(serializers.Serializer):
    """lago-api's customer ``billing_configuration`` with no payment provider:
    what this service does not keep is null, as lago-api's unset columns."""

    invoice_grace_period = serializers.SerializerMethodField()
    payment_provider = serializers.SerializerMethodField()
    payment_provider_code = serializers.SerializerMethodField()
    document_locale = serializers.SerializerMethodField()
    subscription_invoice_issuing_date_anchor = serializers.SerializerMethodField()
    subscription_invoice_issuing_date_adjustment = serializers.SerializerMethodField()

    def get_invoice_grace_period(self, customer) -> int | None:
        return None

    def get_payment_provider(self, customer) -> str | None:
        return None

    def get_payment_provider_code(self, customer) -> str | None:
        return None

    def get_document_locale(self, customer) -> str | None:
        return customer.document_locale or None

    def get_subscription_invoice_issuing_date_anchor(self, customer) -> str | None:
        return None

    def get_subscription_invoice_issuing_date_adjustment(self, customer) -> str | None:
        return None

    def to_representation(self, instance):
        return render_customer(instance)["billing_configuration"]


# The output classes below declare their fields for the OpenAPI schema and
# render with these functions: DRF deep-copies every declared field per
# instance (about 150 for an invoice with one fee), which cost more than the
# rest of a request. Each function keeps the declared field order and DRF's
# formatting (tests/invoicing/api/test_lago_output_shapes.py compares both).


def _str(value) -> str | None:
    return None if value is None else str(value)


def _int(value) -> int | None:
    return None if value is None else int(value)


def _float(value) -> float | None:
    return None if value is None else float(value)


def _date(value) -> str | None:
    return value.isoformat() if value else None


_datetime = lago_datetime


def render_tax(tax) -> dict:
    """``V1::TaxSerializer``, plus the EN 16931 category and exemption reason.
    lago-api writes every ``*_count`` as 0 (it stopped counting them); so do
    we, which also keeps a list of taxes at one query."""
    return {
        "lago_id": str(tax.id),
        "name": _str(tax.name),
        "code": _str(tax.code),
        "rate": _float(tax.rate),
        "description": _str(tax.description),
        "applied_to_organization": bool(tax.applied_to_organization),
        "add_ons_count": 0,
        "customers_count": 0,
        "plans_count": 0,
        "charges_count": 0,
        "commitments_count": 0,
        "created_at": _datetime(tax.created_at),
        "vat_category_code": tax.vat_category_code,
        "vat_exemption_reason": tax.vat_exemption_reason or None,
        "vat_exemption_reason_code": tax.vat_exemption_reason_code or None,
    }


def render_customer(customer, with_taxes: bool = False) -> dict:
    """``V1::CustomerSerializer``; ``with_taxes`` adds the customer's taxes, as
    Lago's customer endpoints do (an invoice's customer carries none)."""
    data = _render_customer(customer)
    if with_taxes:
        data["taxes"] = [render_tax(t) for t in customer.taxes.all()]
    return data


def _render_customer(customer) -> dict:
    """Every text column unset here is "" and Lago's null (its columns are
    nullable with no default): rendered as null."""
    return {
        "lago_id": str(customer.id),
        "billing_entity_code": customer.organization.billing_entity_code,
        "external_id": _str(customer.external_id),
        "account_type": "customer",
        "name": customer.name or None,
        "firstname": customer.firstname or None,
        "lastname": customer.lastname or None,
        "customer_type": customer.customer_type or None,
        "sequential_id": _int(customer.sequential_id),
        "slug": customer.slug or None,
        "created_at": _datetime(customer.created_at),
        "updated_at": _datetime(customer.updated_at),
        "country": customer.country or None,
        "address_line1": customer.address_line1 or None,
        "address_line2": customer.address_line2 or None,
        "state": customer.state or None,
        "zipcode": customer.zipcode or None,
        "email": customer.email or None,
        "city": customer.city or None,
        "url": customer.url or None,
        "phone": customer.phone or None,
        "logo_url": None,
        "legal_name": customer.legal_name or None,
        "legal_number": customer.legal_number or None,
        "currency": customer.currency or None,
        "tax_identification_number": customer.tax_identification_number or None,
        "timezone": customer.timezone or None,
        "applicable_timezone": _str(customer.applicable_timezone),
        "net_payment_term": _int(customer.net_payment_term),
        "billing_configuration": {
            "invoice_grace_period": None,
            "payment_provider": None,
            "payment_provider_code": None,
            "document_locale": customer.document_locale or None,
            "subscription_invoice_issuing_date_anchor": None,
            "subscription_invoice_issuing_date_adjustment": None,
        },
        "metadata": render_customer_metadata(customer),
    }


def render_customer_metadata(customer) -> list[dict]:
    """``V1::Customers::MetadataSerializer``."""
    return [
        {
            "lago_id": m["id"],
            "key": m["key"],
            "value": m["value"],
            "display_in_invoice": m.get("display_in_invoice", False),
            "created_at": lago_datetime(m.get("created_at")) or _datetime(customer.created_at),
        }
        for m in customer.metadata
    ]


def _payment_overdue(invoice) -> bool:
    """Past its due date, unpaid: the due date is a day in the customer's time
    zone, so it is compared with the customer's today, not UTC's."""
    if invoice.status != Invoice.Status.FINALIZED:
        return False
    if invoice.payment_status == Invoice.PaymentStatus.SUCCEEDED:
        return False
    return invoice.payment_due_date < invoice.customer.today()


# The invoice columns ``render_invoice_base`` reads: the download endpoint
# reads only these for a stored PDF (the others, metadata among them, are
# deferred; reading one would cost a query, and
# tests/invoicing/api/test_lago_output_shapes.py counts them).
INVOICE_BASE_COLUMNS = (
    (Invoice, ("sequential_id", "number", "purchase_order_number", "issuing_date",
               "payment_due_date", "net_payment_term", "invoice_type", "status", "payment_status",
               "payment_dispute_lost_at", "currency", "fees_amount_cents", "taxes_amount_cents",
               "progressive_billing_credit_amount_cents", "coupons_amount_cents",
               "credit_notes_amount_cents", "sub_total_excluding_taxes_amount_cents",
               "sub_total_including_taxes_amount_cents", "total_amount_cents",
               "total_paid_amount_cents", "prepaid_credit_amount_cents",
               "prepaid_granted_credit_amount_cents", "prepaid_purchased_credit_amount_cents",
               "version_number", "created_at", "updated_at", "voided_at")),
    # payment_overdue compares the due date with the customer's today.
    (Customer, ("timezone",)),
    (Organization, ("timezone", "billing_entity_code")),
)  # fmt: skip


def render_invoice_base(invoice, file_url: str | None = None) -> dict:
    return {
        "lago_id": str(invoice.id),
        # The organization's one billing entity (read through the customer,
        # whose organization every caller has loaded).
        "billing_entity_code": invoice.customer.organization.billing_entity_code,
        "sequential_id": _int(invoice.sequential_id),
        # Lago gives drafts a provisional number too; its clients require one.
        "number": invoice.number or f"DRAFT-{invoice.id.hex[:8].upper()}",
        "purchase_order_number": invoice.purchase_order_number or None,
        "issuing_date": _date(invoice.issuing_date),
        "payment_due_date": _date(invoice.payment_due_date),
        "net_payment_term": _int(invoice.net_payment_term),
        "invoice_type": _str(invoice.invoice_type),
        "status": _str(invoice.status),
        "payment_status": _str(invoice.payment_status),
        "payment_dispute_lost_at": rails_json_datetime(invoice.payment_dispute_lost_at),
        "payment_overdue": _payment_overdue(invoice),
        "currency": _str(invoice.currency),
        "fees_amount_cents": _int(invoice.fees_amount_cents),
        "taxes_amount_cents": _int(invoice.taxes_amount_cents),
        "progressive_billing_credit_amount_cents": _int(
            invoice.progressive_billing_credit_amount_cents
        ),
        "coupons_amount_cents": _int(invoice.coupons_amount_cents),
        "credit_notes_amount_cents": _int(invoice.credit_notes_amount_cents),
        "sub_total_excluding_taxes_amount_cents": _int(
            invoice.sub_total_excluding_taxes_amount_cents
        ),
        "sub_total_including_taxes_amount_cents": _int(
            invoice.sub_total_including_taxes_amount_cents
        ),
        "total_amount_cents": _int(invoice.total_amount_cents),
        "total_due_amount_cents": _int(invoice.total_due_amount_cents),
        "total_paid_amount_cents": _int(invoice.total_paid_amount_cents),
        "total_offsetted_credit_note_amount_cents": 0,
        "prepaid_credit_amount_cents": _int(invoice.prepaid_credit_amount_cents),
        "prepaid_granted_credit_amount_cents": _int(invoice.prepaid_granted_credit_amount_cents),
        "prepaid_purchased_credit_amount_cents": _int(
            invoice.prepaid_purchased_credit_amount_cents
        ),
        "file_url": file_url,
        "xml_url": None,
        "web_url": None,
        "version_number": _int(invoice.version_number),
        "self_billed": False,
        "created_at": _datetime(invoice.created_at),
        "updated_at": _datetime(invoice.updated_at),
        "voided_at": _datetime(invoice.voided_at),
    }


def _boundary(value, fee) -> str:
    """A fee's period bound as lago-api writes it (``Fee#from_date``:
    ``to_datetime.iso8601``): UTC, whole seconds, ``+00:00``. A fee sent
    without a period spans the moment it was made, Lago's default
    (``Fees::OneOffService#from_datetime``); the row keeps "no period", so
    the PDF and the Lotus face print none."""
    value = value or fee.created_at
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def _vat_category(applied) -> dict:
    """Beyond Lago: the EN 16931 category the tax had when the invoice was made."""
    return {
        "vat_category_code": applied.vat_category_code,
        "vat_exemption_reason": applied.vat_exemption_reason or None,
        "vat_exemption_reason_code": applied.vat_exemption_reason_code or None,
    }


def render_fee_applied_tax(applied, currency: str) -> dict:
    return {
        "lago_id": str(applied.id),
        "lago_fee_id": str(applied.fee_id),
        "lago_tax_id": _str(applied.tax_id),
        "tax_name": _str(applied.tax_name),
        "tax_code": _str(applied.tax_code),
        "tax_rate": _float(applied.tax_rate),
        "tax_description": _str(applied.tax_description),
        "amount_cents": _int(applied.amount_cents),
        "amount_currency": currency,
        "created_at": _datetime(applied.created_at),
        **_vat_category(applied),
    }


def render_fee(fee, invoice, external_customer_id: str) -> dict:
    """``invoice`` is the fee's (already loaded): its currency, customer and
    payment status are the fee's."""
    currency = invoice.currency
    return {
        "lago_id": str(fee.id),
        "lago_charge_id": None,
        "lago_invoice_id": str(fee.invoice_id),
        "lago_subscription_id": None,
        "external_subscription_id": fee.external_subscription_id or None,
        "lago_customer_id": str(invoice.customer_id),
        "external_customer_id": external_customer_id,
        "item": {
            "type": _str(fee.item_type),
            "code": _str(fee.item_code),
            "name": _str(fee.item_name),
            "invoice_display_name": _str(fee.display_name),
            "filter_invoice_display_name": None,
            "lago_item_id": _str(fee.add_on_id),
            "item_type": "AddOn" if fee.item_type == "add_on" else fee.item_type,
            "grouped_by": {},
        },
        "pay_in_advance": fee.billing_type == "in_advance",
        "invoiceable": True,
        "amount_cents": _int(fee.amount_cents),
        "amount_currency": currency,
        "precise_amount": precise_major(fee.precise_amount_cents, currency),
        "precise_total_amount": precise_major(fee.precise_total_amount_cents, currency),
        "taxes_amount_cents": _int(fee.taxes_amount_cents),
        "taxes_precise_amount": precise_major(fee.taxes_precise_amount_cents, currency),
        "taxes_rate": _float(fee.taxes_rate),
        # lago-api fills it for charges only; an add-on fee's is null.
        "total_aggregated_units": None,
        "total_amount_cents": _int(fee.total_amount_cents),
        "total_amount_currency": currency,
        "units": ruby_decimal(fee.units),
        "description": _str(fee.description),
        "precise_unit_amount": precise_major(fee.unit_amount_cents, currency),
        "precise_coupons_amount_cents": ruby_decimal(fee.precise_coupons_amount_cents),
        "sub_total_excluding_taxes_amount_cents": fee.sub_total_excluding_taxes_amount_cents,
        "sub_total_excluding_taxes_precise_amount_cents": ruby_decimal(
            fee.sub_total_excluding_taxes_precise_amount_cents
        ),
        "events_count": 0,
        "payment_status": invoice.payment_status,
        "created_at": _datetime(fee.created_at),
        "succeeded_at": None,
        "failed_at": None,
        "refunded_at": None,
        "amount_details": {},
        "self_billed": False,
        "from_date": _boundary(fee.from_datetime, fee),
        "to_date": _boundary(fee.to_datetime, fee),
        "applied_taxes": [render_fee_applied_tax(a, currency) for a in fee.applied_taxes.all()],
    }


_CREDIT_ITEM_TYPES = {"coupon": "coupon", "credit_note": "credit_note", "prepaid": "wallet"}


def render_credit(credit, invoice) -> dict:
    return {
        "lago_id": str(credit.id),
        "amount_cents": _int(credit.amount_cents),
        "amount_currency": invoice.currency,
        "before_taxes": bool(credit.before_taxes),
        "item": {
            "lago_item_id": None,
            "type": _CREDIT_ITEM_TYPES[credit.kind],
            "code": credit.code or None,
            "name": credit.name or None,
        },
        "invoice": {"lago_id": str(credit.invoice_id), "payment_status": invoice.payment_status},
    }


def render_invoice_applied_tax(applied, invoice) -> dict:
    return {
        "lago_id": str(applied.id),
        "lago_invoice_id": str(applied.invoice_id),
        "lago_tax_id": _str(applied.tax_id),
        "tax_name": _str(applied.tax_name),
        "tax_code": _str(applied.tax_code),
        "tax_rate": _float(applied.tax_rate),
        "tax_description": _str(applied.tax_description),
        "amount_cents": _int(applied.amount_cents),
        "amount_currency": invoice.currency,
        "fees_amount_cents": _int(applied.fees_amount_cents),
        "created_at": _datetime(applied.created_at),
        **_vat_category(applied),
    }


def render_invoice_metadata(invoice) -> list[dict]:
    """``V1::Invoices::MetadataSerializer``, plus ``display_in_invoice``."""
    return [
        {
            "lago_id": m["id"],
            "key": m["key"],
            "value": m["value"],
            "display_in_invoice": m.get("display_in_invoice", True),
            "created_at": lago_datetime(m.get("created_at")) or _datetime(invoice.created_at),
        }
        for m in invoice.metadata
    ]


def render_invoice(invoice, file_url: str | None = None) -> dict:
    """The full invoice: fees, taxes and credits loaded beforehand
    (``selectors.invoice_load_details``); ``file_url`` when its PDF is stored."""
    data = render_invoice_base(invoice, file_url)
    customer = render_customer(invoice.customer)
    external_customer_id = customer["external_id"]
    data["customer"] = customer
    data["fees"] = [render_fee(f, invoice, external_customer_id) for f in invoice.fees.all()]
    data["credits"] = [render_credit(c, invoice) for c in invoice.credits.all()]
    data["metadata"] = render_invoice_metadata(invoice)
    data["applied_taxes"] = [
        render_invoice_applied_tax(a, invoice) for a in invoice.applied_taxes.all()
    ]
    return data


def render_invoice_list_item(invoice, file_url: str | None = None) -> dict:
    data = render_invoice_base(invoice, file_url)
    data["customer"] = render_customer(invoice.customer)
    data["metadata"] = render_invoice_metadata(invoice)
    data["applied_taxes"] = [
        render_invoice_applied_tax(a, invoice) for a in invoice.applied_taxes.all()
    ]
    return data


class CustomerOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    billing_entity_code = serializers.CharField(source="organization.billing_entity_code")
    external_id = serializers.CharField()
    account_type = serializers.SerializerMethodField()
    name = BlankAsNullField()
    firstname = BlankAsNullField()
    lastname = BlankAsNullField()
    customer_type = BlankAsNullField()
    sequential_id = serializers.IntegerField(allow_null=True)
    slug = BlankAsNullField()
    created_at = LagoDateTimeField()
    updated_at = LagoDateTimeField()
    country = BlankAsNullField()
    address_line1 = BlankAsNullField()
    address_line2 = BlankAsNullField()
    state = BlankAsNullField()
    zipcode = BlankAsNullField()
    email = BlankAsNullField()
    city = BlankAsNullField()
    url = BlankAsNullField()
    phone = BlankAsNullField()
    logo_url = serializers.SerializerMethodField()
    legal_name = BlankAsNullField()
    legal_number = BlankAsNullField()
    currency = BlankAsNullField()
    tax_identification_number = BlankAsNullField()
    timezone = BlankAsNullField()
    applicable_timezone = serializers.CharField()
    net_payment_term = serializers.IntegerField(allow_null=True)
    billing_configuration = BillingConfigurationOutput(source="*")
    metadata = serializers.SerializerMethodField()

    def get_account_type(self, customer) -> str:
        return "customer"

    def get_logo_url(self, customer) -> str | None:
        return None

    @extend_schema_field(MetadataOutput(many=True))
    def get_metadata(self, customer):
        return render_customer_metadata(customer)

    def to_representation(self, instance):
        return render_customer(instance)


class CustomerWithTaxesOutput(CustomerOutput):
    """The customer endpoints' customer: with its taxes (``tax_codes``)."""

    taxes = TaxOutput(many=True, source="taxes.all")

    def to_representation(self, instance):
        return render_customer(instance, with_taxes=True)


class InvoiceBaseOutput(serializers.Serializer):
    """``V1::InvoiceSerializer`` without its includes, field order kept."""

    lago_id = serializers.UUIDField(source="id")
    billing_entity_code = serializers.CharField(source="customer.organization.billing_entity_code")
    sequential_id = serializers.IntegerField(allow_null=True)
    number = serializers.SerializerMethodField()
    purchase_order_number = serializers.SerializerMethodField()
    issuing_date = serializers.DateField()
    payment_due_date = serializers.DateField()
    net_payment_term = serializers.IntegerField()
    invoice_type = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_dispute_lost_at = RailsJsonDateTimeField(allow_null=True)
    payment_overdue = serializers.SerializerMethodField()
    currency = serializers.CharField()
    fees_amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    progressive_billing_credit_amount_cents = serializers.IntegerField()
    coupons_amount_cents = serializers.IntegerField()
    credit_notes_amount_cents = serializers.IntegerField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    sub_total_including_taxes_amount_cents = serializers.IntegerField()
    total_amount_cents = serializers.IntegerField()
    total_due_amount_cents = serializers.IntegerField()
    total_paid_amount_cents = serializers.IntegerField()
    total_offsetted_credit_note_amount_cents = serializers.SerializerMethodField()
    prepaid_credit_amount_cents = serializers.IntegerField()
    prepaid_granted_credit_amount_cents = serializers.IntegerField()
    prepaid_purchased_credit_amount_cents = serializers.IntegerField()
    file_url = serializers.SerializerMethodField()
    xml_url = serializers.SerializerMethodField()
    web_url = serializers.SerializerMethodField()
    version_number = serializers.IntegerField()
    self_billed = serializers.SerializerMethodField()
    created_at = LagoDateTimeField()
    updated_at = LagoDateTimeField()
    voided_at = LagoDateTimeField(allow_null=True)

    def get_number(self, invoice) -> str:
        # Lago gives drafts a provisional number too; its clients require one.
        return invoice.number or f"DRAFT-{invoice.id.hex[:8].upper()}"

    def get_purchase_order_number(self, invoice) -> str | None:
        return invoice.purchase_order_number or None

    def get_payment_overdue(self, invoice) -> bool:
        return _payment_overdue(invoice)

    def get_total_offsetted_credit_note_amount_cents(self, invoice) -> int:
        return 0

    def get_file_url(self, invoice) -> str | None:
        return self.context.get("file_url")

    def get_xml_url(self, invoice) -> str | None:
        return None

    def get_web_url(self, invoice) -> str | None:
        return None

    def get_self_billed(self, invoice) -> bool:
        return False

    def to_representation(self, instance):
        return render_invoice_base(instance, self.context.get("file_url"))


class FeeAppliedTaxOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_fee_id = serializers.UUIDField(source="fee_id")
    lago_tax_id = serializers.UUIDField(source="tax_id", allow_null=True)
    tax_name = serializers.CharField()
    tax_code = serializers.CharField()
    tax_rate = serializers.FloatField()
    tax_description = serializers.CharField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField(source="fee.invoice.currency")
    created_at = LagoDateTimeField()
    vat_category_code = serializers.ChoiceField(choices=VatCategory.values)
    vat_exemption_reason = serializers.SerializerMethodField()
    vat_exemption_reason_code = serializers.SerializerMethodField()

    def get_vat_exemption_reason(self, applied) -> str | None:
        return applied.vat_exemption_reason or None

    def get_vat_exemption_reason_code(self, applied) -> str | None:
        return applied.vat_exemption_reason_code or None

    def to_representation(self, instance):
        return render_fee_applied_tax(instance, instance.fee.invoice.currency)


class FeeItemOutput(serializers.Serializer):
    type = serializers.CharField(source="item_type")
    code = serializers.CharField(source="item_code")
    name = serializers.CharField(source="item_name")
    invoice_display_name = serializers.CharField(source="display_name")
    filter_invoice_display_name = serializers.SerializerMethodField()
    lago_item_id = serializers.UUIDField(source="add_on_id", allow_null=True)
    item_type = serializers.SerializerMethodField()
    grouped_by = serializers.SerializerMethodField()

    def get_filter_invoice_display_name(self, fee) -> str | None:
        return None

    def get_item_type(self, fee) -> str:
        return "AddOn" if fee.item_type == "add_on" else fee.item_type

    def get_grouped_by(self, fee) -> dict:
        return {}

    def to_representation(self, instance):
        return render_fee(instance, instance.invoice, "")["item"]


class FeeOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_charge_id = serializers.SerializerMethodField()
    lago_invoice_id = serializers.UUIDField(source="invoice_id")
    lago_subscription_id = serializers.SerializerMethodField()
    external_subscription_id = serializers.SerializerMethodField()
    lago_customer_id = serializers.UUIDField(source="invoice.customer_id")
    external_customer_id = serializers.CharField(source="invoice.customer.external_id")
    item = FeeItemOutput(source="*")
    pay_in_advance = serializers.SerializerMethodField()
    invoiceable = serializers.SerializerMethodField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField(source="invoice.currency")
    precise_amount = serializers.SerializerMethodField()
    precise_total_amount = serializers.SerializerMethodField()
    taxes_amount_cents = serializers.IntegerField()
    taxes_precise_amount = serializers.SerializerMethodField()
    taxes_rate = serializers.FloatField()
    total_aggregated_units = serializers.SerializerMethodField()
    total_amount_cents = serializers.IntegerField()
    total_amount_currency = serializers.CharField(source="invoice.currency")
    units = serializers.SerializerMethodField()
    description = serializers.CharField()
    precise_unit_amount = serializers.SerializerMethodField()
    precise_coupons_amount_cents = serializers.SerializerMethodField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    sub_total_excluding_taxes_precise_amount_cents = serializers.SerializerMethodField()
    events_count = serializers.SerializerMethodField()
    payment_status = serializers.CharField(source="invoice.payment_status")
    created_at = LagoDateTimeField()
    succeeded_at = serializers.SerializerMethodField()
    failed_at = serializers.SerializerMethodField()
    refunded_at = serializers.SerializerMethodField()
    amount_details = serializers.SerializerMethodField()
    self_billed = serializers.SerializerMethodField()
    from_date = serializers.SerializerMethodField()
    to_date = serializers.SerializerMethodField()
    applied_taxes = FeeAppliedTaxOutput(many=True, source="applied_taxes.all")

    def get_lago_charge_id(self, fee) -> str | None:
        return None

    def get_lago_subscription_id(self, fee) -> str | None:
        return None

    def get_external_subscription_id(self, fee) -> str | None:
        return fee.external_subscription_id or None

    def get_pay_in_advance(self, fee) -> bool:
        return fee.billing_type == "in_advance"

    def get_invoiceable(self, fee) -> bool:
        return True

    def get_precise_amount(self, fee) -> str:
        return precise_major(fee.precise_amount_cents, fee.invoice.currency)

    def get_precise_total_amount(self, fee) -> str:
        return precise_major(fee.precise_total_amount_cents, fee.invoice.currency)

    def get_taxes_precise_amount(self, fee) -> str:
        return precise_major(fee.taxes_precise_amount_cents, fee.invoice.currency)

    def get_total_aggregated_units(self, fee) -> str | None:
        return None

    def get_units(self, fee) -> str:
        return ruby_decimal(fee.units)

    def get_precise_unit_amount(self, fee) -> str:
        return precise_major(fee.unit_amount_cents, fee.invoice.currency)

    def get_precise_coupons_amount_cents(self, fee) -> str:
        return ruby_decimal(fee.precise_coupons_amount_cents)

    def get_sub_total_excluding_taxes_precise_amount_cents(self, fee) -> str:
        return ruby_decimal(fee.sub_total_excluding_taxes_precise_amount_cents)

    def get_events_count(self, fee) -> int:
        return 0

    def get_succeeded_at(self, fee) -> str | None:
        return None

    def get_failed_at(self, fee) -> str | None:
        return None

    def get_refunded_at(self, fee) -> str | None:
        return None

    def get_amount_details(self, fee) -> dict:
        return {}

    def get_self_billed(self, fee) -> bool:
        return False

    def get_from_date(self, fee) -> str:
        return _boundary(fee.from_datetime, fee)

    def get_to_date(self, fee) -> str:
        return _boundary(fee.to_datetime, fee)

    def to_representation(self, instance):
        invoice = instance.invoice
        return render_fee(instance, invoice, _str(invoice.customer.external_id))


class CreditOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField(source="invoice.currency")
    before_taxes = serializers.BooleanField()
    item = serializers.SerializerMethodField()
    invoice = serializers.SerializerMethodField()

    def get_item(self, credit) -> dict:
        item_type = {"coupon": "coupon", "credit_note": "credit_note", "prepaid": "wallet"}
        return {
            "lago_item_id": None,
            "type": item_type[credit.kind],
            "code": credit.code or None,
            "name": credit.name or None,
        }

    def get_invoice(self, credit) -> dict:
        return {"lago_id": str(credit.invoice_id), "payment_status": credit.invoice.payment_status}

    def to_representation(self, instance):
        return render_credit(instance, instance.invoice)


class InvoiceAppliedTaxOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_invoice_id = serializers.UUIDField(source="invoice_id")
    lago_tax_id = serializers.UUIDField(source="tax_id", allow_null=True)
    tax_name = serializers.CharField()
    tax_code = serializers.CharField()
    tax_rate = serializers.FloatField()
    tax_description = serializers.CharField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField(source="invoice.currency")
    fees_amount_cents = serializers.IntegerField()
    created_at = LagoDateTimeField()
    vat_category_code = serializers.ChoiceField(choices=VatCategory.values)
    vat_exemption_reason = serializers.SerializerMethodField()
    vat_exemption_reason_code = serializers.SerializerMethodField()

    get_vat_exemption_reason = FeeAppliedTaxOutput.get_vat_exemption_reason
    get_vat_exemption_reason_code = FeeAppliedTaxOutput.get_vat_exemption_reason_code

    def to_representation(self, instance):
        return render_invoice_applied_tax(instance, instance.invoice)


class InvoiceOutput(InvoiceBaseOutput):
    """The full invoice of show, create, finalize, void and update."""

    customer = CustomerOutput()
    fees = FeeOutput(many=True, source="fees.all")
    credits = CreditOutput(many=True, source="credits.all")
    metadata = serializers.SerializerMethodField()
    applied_taxes = InvoiceAppliedTaxOutput(many=True, source="applied_taxes.all")

    @extend_schema_field(MetadataOutput(many=True))
    def get_metadata(self, invoice):
        return render_invoice_metadata(invoice)

    def to_representation(self, instance):
        return render_invoice(instance, self.context.get("file_url"))


class InvoiceListItemOutput(InvoiceBaseOutput):
    customer = CustomerOutput()
    metadata = serializers.SerializerMethodField()
    applied_taxes = InvoiceAppliedTaxOutput(many=True, source="applied_taxes.all")

    get_metadata = InvoiceOutput.get_metadata

    def to_representation(self, instance):
        return render_invoice_list_item(instance, self.context.get("file_url"))


# -------------------------------------------------------------- webhooks

# Lago's event names are "<object>.<action>" in snake case; a name this service never
# produces is accepted (a client may subscribe ahead) and simply never fires.
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class WebhookEndpointInput(InputSerializer):
    webhook_url = serializers.CharField(max_length=1024)
    signature_algo = serializers.ChoiceField(
        required=False, choices=["jwt", "hmac", "standard"], default="jwt"
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    event_types = serializers.ListField(
        child=serializers.RegexField(EVENT_TYPE_PATTERN, max_length=64),
        required=False,
        max_length=100,
    )


class WebhookEndpointOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_organization_id = serializers.UUIDField(source="organization_id")
    webhook_url = serializers.CharField()
    signature_algo = serializers.CharField()
    name = serializers.SerializerMethodField()
    event_types = serializers.SerializerMethodField()
    created_at = LagoDateTimeField()

    def get_name(self, endpoint) -> str | None:
        return endpoint.name or None

    def get_event_types(self, endpoint) -> list[str] | None:
        # Lago's null: every event type.
        return list(endpoint.event_types) or None


class WebhookEndpointWithSecretOutput(WebhookEndpointOutput):
    """Create and rotate only: the Standard Webhooks secret, shown this once."""

    secret = serializers.SerializerMethodField()

    def get_secret(self, endpoint) -> str | None:
        return endpoint.standard_secret or None


class WebhookHmacKeyOutput(serializers.Serializer):
    hmac_key = serializers.CharField(help_text="Key of HMAC-SHA256 `hmac` webhook signatures")


class WebhookPublicKeyOutput(serializers.Serializer):
    public_key = serializers.CharField(help_text="Base64 of the RSA public key's PEM")
