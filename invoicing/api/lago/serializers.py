"""The Lago face's input and output shapes (getlago/lago-openapi schemas)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

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
from invoicing.models import Invoice, VatCategory
from invoicing.money import MAX_AMOUNT_CENTS
from invoicing.pdf.locales import SUPPORTED_LOCALES
from invoicing.representations import lago
from invoicing.selectors import VISIBLE_INVOICE_STATUSES, CustomerFilters, InvoiceFilters

# Largest number of fees one invoice may carry (the renderer is measured up to
# 10,000 lines).
MAX_FEES = 10_000

# ---------------------------------------------------------------- input


def _refuse(field: str, code: str):
    """A validation error under ``field`` with Lago's error code as is."""
    return serializers.ValidationError({field: [ErrorDetail(code, code=code)]})


# E-invoicing identifiers: a Peppol electronic address scheme (4 digits, the
# EAS list), a UN/ECE Rec. 20 unit code, an IBAN and a BIC (ISO 13616, 9362).
EAS_PATTERN = r"^[0-9]{4}$"
UNIT_CODE_PATTERN = r"^[0-9A-Z]{2,3}$"
IBAN_PATTERN = r"^[A-Z]{2}[0-9]{2}[0-9A-Z]{10,30}$"
BIC_PATTERN = r"^[A-Z]{6}[0-9A-Z]{2}([0-9A-Z]{3})?$"


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


# lago-api's ``Currencies::ACCEPTED_CURRENCIES`` (app/models/concerns/
# currencies.rb): the currencies a customer, an add-on or an invoice may be
# in. An ISO 4217 code outside it is Lago's 422 ``value_is_invalid``.
LAGO_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR ISK JMD JOD JPY KES KGS
    KHR KMF KRW KWD KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRO MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SEK SGD SHP SLL SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
    """.split()
)


class LagoCurrencyField(CurrencyField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in LAGO_CURRENCIES:
            raise serializers.ValidationError("not a currency Lago accepts", code="invalid")
        return value


# lago-api's ``TimezoneValidator``: "UTC" or a zone of ``Timezones::MAPPING``
# (app/support/timezones.rb: the 134 zones of ActiveSupport's Rails names, Yangon,
# Kyiv and Nuuk as today's IANA names). Another IANA zone is Lago's 422
# ``invalid_timezone``.
LAGO_TIMEZONES = frozenset(
    """
    Pacific/Midway Pacific/Pago_Pago Pacific/Honolulu America/Juneau America/Los_Angeles
    America/Tijuana America/Denver America/Phoenix America/Chihuahua America/Mazatlan
    America/Chicago America/Regina America/Mexico_City America/Monterrey America/Guatemala
    America/New_York America/Indiana/Indianapolis America/Bogota America/Lima America/Halifax
    America/Caracas America/La_Paz America/Santiago America/St_Johns America/Sao_Paulo
    America/Argentina/Buenos_Aires America/Montevideo America/Guyana America/Puerto_Rico
    America/Nuuk Atlantic/South_Georgia Atlantic/Azores Atlantic/Cape_Verde Europe/Dublin
    Europe/London Europe/Lisbon Africa/Casablanca Africa/Monrovia Etc/UTC Europe/Belgrade
    Europe/Bratislava Europe/Budapest Europe/Ljubljana Europe/Prague Europe/Sarajevo
    Europe/Skopje Europe/Warsaw Europe/Zagreb Europe/Brussels Europe/Copenhagen Europe/Madrid
    Europe/Paris Europe/Amsterdam Europe/Berlin Europe/Zurich Europe/Rome Europe/Stockholm
    Europe/Vienna Africa/Algiers Europe/Bucharest Africa/Cairo Europe/Helsinki Europe/Kyiv
    Europe/Riga Europe/Sofia Europe/Tallinn Europe/Vilnius Europe/Athens Europe/Istanbul
    Europe/Minsk Asia/Jerusalem Africa/Harare Africa/Johannesburg Europe/Kaliningrad
    Europe/Moscow Europe/Volgograd Europe/Samara Asia/Kuwait Asia/Riyadh Africa/Nairobi
    Asia/Baghdad Asia/Tehran Asia/Muscat Asia/Baku Asia/Tbilisi Asia/Yerevan Asia/Kabul
    Asia/Yekaterinburg Asia/Karachi Asia/Tashkent Asia/Kolkata Asia/Kathmandu Asia/Dhaka
    Asia/Colombo Asia/Almaty Asia/Novosibirsk Asia/Yangon Asia/Bangkok Asia/Jakarta
    Asia/Krasnoyarsk Asia/Shanghai Asia/Chongqing Asia/Hong_Kong Asia/Urumqi Asia/Kuala_Lumpur
    Asia/Singapore Asia/Taipei Australia/Perth Asia/Irkutsk Asia/Ulaanbaatar Asia/Seoul
    Asia/Tokyo Asia/Yakutsk Australia/Darwin Australia/Adelaide Australia/Melbourne
    Australia/Sydney Australia/Brisbane Australia/Hobart Asia/Vladivostok Pacific/Guam
    Pacific/Port_Moresby Asia/Magadan Asia/Srednekolymsk Pacific/Guadalcanal Pacific/Noumea
    Pacific/Fiji Asia/Kamchatka Pacific/Majuro Pacific/Auckland Pacific/Tongatapu
    Pacific/Fakaofo Pacific/Chatham Pacific/Apia
    """.split()
) | {"UTC"}


class LagoTimezoneField(TimezoneField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and value not in LAGO_TIMEZONES:
            raise serializers.ValidationError(
                "not a time zone Lago accepts", code="invalid_timezone"
            )
        return value


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


class UncheckedChoiceField(serializers.ChoiceField):
    """Documents its choices in the schema but takes any text: the service
    refuses an unknown one, in the order lago-api refuses things."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid_choice", input=data)
        return str(data)


class ShippingAddressInput(InputSerializer):
    address_line1 = serializers.CharField(required=False, max_length=255, allow_blank=True,
                                          allow_null=True)  # fmt: skip
    address_line2 = serializers.CharField(required=False, max_length=255, allow_blank=True,
                                          allow_null=True)  # fmt: skip
    city = serializers.CharField(required=False, max_length=255, allow_blank=True, allow_null=True)
    zipcode = serializers.CharField(required=False, max_length=64, allow_blank=True,
                                    allow_null=True)  # fmt: skip
    state = serializers.CharField(required=False, max_length=255, allow_blank=True,
                                  allow_null=True)  # fmt: skip
    country = LagoCountryField(required=False, allow_null=True)


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
    currency = LagoCurrencyField(required=False)
    timezone = LagoTimezoneField(required=False, max_length=64, allow_blank=True)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    external_salesforce_id = serializers.CharField(
        required=False, max_length=255, allow_blank=True, allow_null=True
    )
    # An unknown value is lago-api's ``invalid_value`` (UpsertFromApiService).
    finalize_zero_amount_invoice = UncheckedChoiceField(
        required=False, choices=["inherit", "skip", "finalize"], allow_null=True
    )
    skip_invoice_custom_sections = serializers.BooleanField(required=False)
    # Beyond Lago: what EN 16931 e-invoices need of the buyer (BT-10, BT-49).
    buyer_reference = serializers.CharField(required=False, allow_blank=True, max_length=255)
    electronic_address = serializers.CharField(required=False, allow_blank=True, max_length=255)
    electronic_address_scheme = serializers.RegexField(
        EAS_PATTERN, required=False, allow_blank=True, max_length=4
    )
    shipping_address = ShippingAddressInput(required=False, allow_null=True)
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
        if attrs.get("finalize_zero_amount_invoice") not in (None, "inherit", "skip", "finalize"):
            raise _refuse("finalize_zero_amount_invoice", "invalid_value")
        # Lago keeps the shipping address in columns of the customer.
        for key, value in (attrs.pop("shipping_address", None) or {}).items():
            attrs[f"shipping_{key}"] = value
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
    # lago-api: `validates :amount_cents, numericality: {greater_than: 0}`.
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT_CENTS)
    amount_currency = LagoCurrencyField()
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )
    # Beyond Lago: the unit of its fees' quantities (UN/ECE Rec. 20, BT-130).
    unit_code = serializers.RegexField(UNIT_CODE_PATTERN, required=False, max_length=3)


class OrganizationBillingConfigurationInput(InputSerializer):
    invoice_footer = serializers.CharField(required=False, allow_blank=True, max_length=600)
    document_locale = serializers.ChoiceField(required=False, choices=DOCUMENT_LOCALES)


class OrganizationInput(InputSerializer):
    """What ``PUT /api/v1/organizations`` changes (lago-api's permitted
    parameters this service keeps), and the e-invoicing settings beside them."""

    country = LagoCountryField(required=False)
    default_currency = LagoCurrencyField(required=False)
    address_line1 = serializers.CharField(required=False, allow_blank=True, max_length=255)
    address_line2 = serializers.CharField(required=False, allow_blank=True, max_length=255)
    state = serializers.CharField(required=False, allow_blank=True, max_length=255)
    zipcode = serializers.CharField(required=False, allow_blank=True, max_length=64)
    email = LagoEmailField(required=False, allow_blank=True, max_length=254)
    city = serializers.CharField(required=False, allow_blank=True, max_length=255)
    legal_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    legal_number = serializers.CharField(required=False, allow_blank=True, max_length=255)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    tax_identification_number = serializers.CharField(
        required=False, allow_blank=True, max_length=255
    )
    timezone = LagoTimezoneField(required=False, max_length=64)
    billing_configuration = OrganizationBillingConfigurationInput(required=False)
    # Beyond Lago: e-invoicing (Factur-X PDFs and UBL XML) and the seller's
    # data it needs (BT-34, BT-84, BT-86).
    einvoicing_enabled = serializers.BooleanField(required=False)
    electronic_address = serializers.CharField(required=False, allow_blank=True, max_length=255)
    electronic_address_scheme = serializers.RegexField(
        EAS_PATTERN, required=False, allow_blank=True, max_length=4
    )
    iban = serializers.RegexField(IBAN_PATTERN, required=False, allow_blank=True, max_length=34)
    bic = serializers.RegexField(BIC_PATTERN, required=False, allow_blank=True, max_length=11)

    def validate(self, attrs):
        attrs = dict(attrs)
        attrs.update(attrs.pop("billing_configuration", None) or {})
        return attrs


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
    # Both optional here: lago-api looks the customer up, then the fees, and
    # answers 404 ``customer_not_found`` / ``fees_not_found`` for either
    # missing (Invoices::CreateOneOffService), not a validation error.
    external_customer_id = serializers.CharField(max_length=255, required=False)
    currency = LagoCurrencyField(required=False)
    status = serializers.ChoiceField(
        required=False, choices=[Invoice.Status.DRAFT, Invoice.Status.FINALIZED]
    )
    billing_entity_code = serializers.CharField(required=False, allow_blank=True, max_length=255)
    purchase_order_number = serializers.CharField(required=False, allow_blank=True, max_length=255)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    fees = InvoiceFeeInput(many=True, required=False, max_length=MAX_FEES)
    # Beyond lago-api's create (which takes none), under its update's rules.
    metadata = MetadataItemInput(many=True, required=False, max_length=50)


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
    tests the raw text, so over HTTP even ``false`` selects lost disputes;
    so it does here."""
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
        # lago-api hands the raw text to InvoicesQuery#with_payment_dispute_lost,
        # which tests it for truth: any value sent, "false" included, asks for
        # lost disputes. Followed as lago-api answers (its clients meet that).
        payment_dispute_lost=True if q.get("payment_dispute_lost") is not None else None,
        self_billed=_boolean("self_billed", q.get("self_billed"), contract=True),
        metadata=tuple(metadata),
        search_term=(q.get("search_term") or "").strip(),
        purchase_order_number=_last(q, "purchase_order_number") or None,
        partially_paid=_boolean("partially_paid", q.get("partially_paid"), contract=False),
    )


def _last(query, name: str) -> str | None:
    value = _query_value(query, name)
    return value[-1] if isinstance(value, list) else value


def customer_filters(query) -> CustomerFilters:
    """The customer list's query string as lago-api's
    ``CustomersController#index`` permits it: ``external_id``,
    ``customer_type`` and the booleans scalars, ``currencies[]``,
    ``countries[]``, ``states[]`` and ``zipcodes[]`` lists."""
    q = query
    return CustomerFilters(
        external_id=_last(q, "external_id") or None,
        currencies=_strings(_query_value(q, "currencies")),
        countries=_strings(_query_value(q, "countries")),
        states=_strings(_query_value(q, "states")),
        zipcodes=_strings(_query_value(q, "zipcodes")),
        customer_type=_last(q, "customer_type") or None,
        has_customer_type=_boolean("has_customer_type", q.get("has_customer_type"), contract=False),
        has_tax_identification_number=_boolean(
            "has_tax_identification_number", q.get("has_tax_identification_number"), contract=False
        ),
    )


def billing_entity_codes(query) -> list[str] | None:
    value = _query_value(query, "billing_entity_codes")
    if value in (None, "", []):
        return None
    return [value] if isinstance(value, str) else list(value)


class InvoiceVoidInput(serializers.Serializer):
    """Schema only: ``Invoices::VoidService``'s parameters, at the body's top level."""

    generate_credit_note = serializers.BooleanField(required=False)
    credit_amount = serializers.IntegerField(required=False)
    refund_amount = serializers.IntegerField(required=False)


# ---------------------------------------------------------------- output
#
# Each output shape is declared once, in invoicing/representations/lago.py;
# these are the serializer classes derived from the declarations, which the
# views name in the OpenAPI schema and which render through them.

TaxOutput = lago.TAX.serializer
TaxWithBillingEntitiesOutput = lago.TAX_WITH_BILLING_ENTITIES.serializer
AddOnOutput = lago.ADD_ON.serializer
OrganizationOutput = lago.ORGANIZATION.serializer
CustomerOutput = lago.CUSTOMER.serializer
CustomerWithTaxesOutput = lago.CUSTOMER_WITH_TAXES.serializer
CustomerDetailedOutput = lago.CUSTOMER_DETAILED.serializer
InvoiceBaseOutput = lago.INVOICE_BASE.serializer
FeeOutput = lago.FEE.serializer
CreditOutput = lago.CREDIT.serializer
InvoiceOutput = lago.INVOICE.serializer
InvoiceListItemOutput = lago.INVOICE_LIST_ITEM.serializer
WebhookEndpointOutput = lago.WEBHOOK_ENDPOINT.serializer
WebhookEndpointWithSecretOutput = lago.WEBHOOK_ENDPOINT_WITH_SECRET.serializer
WebhookHmacKeyOutput = lago.WEBHOOK_HMAC_KEY.serializer
WebhookPublicKeyOutput = lago.WEBHOOK_PUBLIC_KEY.serializer


# -------------------------------------------------------------- webhooks

# lago-api's webhook event types (config/webhook_event_types.yml): the names
# an endpoint may subscribe to. This service sends only the invoice ones it
# produces (README "Webhooks"); a subscription to another is kept and never
# fires, as a Lago endpoint subscribed to events of features it does not use.
LAGO_EVENT_TYPES = frozenset(
    """
    alert.triggered billable_metric.created billable_metric.updated billable_metric.deleted
    customer.created customer.updated customer.accounting_provider_created
    customer.accounting_provider_error customer.crm_provider_created
    customer.crm_provider_error customer.payment_provider_created
    customer.payment_provider_error customer.checkout_url_generated
    customer.tax_provider_error customer.vies_check credit_note.created
    credit_note.generated credit_note.provider_refund_failure dunning_campaign.finished
    event.error events.errors feature.created feature.updated feature.deleted fee.created
    fee.tax_provider_error invoice.created invoice.one_off_created invoice.paid_credit_added
    invoice.generated invoice.drafted invoice.ready_to_finalize invoice.voided
    invoice.deleted invoice.payment_dispute_lost invoice.payment_status_updated
    invoice.payment_overdue invoice.payment_failure invoice.resynced
    integration.provider_error order.created order.executed order_form.created
    order_form.signed order_form.expired order_form.voided payment.succeeded
    payment.requires_action payment_provider.error payment_receipt.created
    payment_receipt.generated payment_request.created payment_request.payment_failure
    payment_request.payment_status_updated plan.created plan.updated plan.deleted
    quote.created quote.approved quote.voided subscription.canceled subscription.incomplete
    subscription.terminated subscription.started subscription.updated
    subscription.termination_alert subscription.trial_ended
    subscription.usage_threshold_reached wallet.created wallet.depleted_ongoing_balance
    wallet.terminated wallet.updated wallet_transaction.created wallet_transaction.updated
    wallet_transaction.payment_failure
    """.split()
)


class WebhookEndpointInput(InputSerializer):
    webhook_url = serializers.CharField(max_length=1024)
    signature_algo = serializers.ChoiceField(
        required=False, choices=["jwt", "hmac", "standard"], default="jwt"
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True),
        required=False,
        allow_null=True,
        max_length=100,
    )

    def validate_event_types(self, value: list[str] | None) -> list[str] | None:
        """``WebhookEndpoint#normalize_event_types`` then
        ``#validate_event_types``: names stripped, lowercased, blanks and
        repeats dropped; an unknown one is 422 ``invalid_types``."""
        if value is None:
            return None
        names = list(dict.fromkeys(v.strip().lower() for v in value if v.strip()))
        if names == ["*"]:
            return None  # Lago's spelling of "every event", as null is
        if [n for n in names if n not in LAGO_EVENT_TYPES]:
            raise serializers.ValidationError("invalid types", code="invalid_types")
        return names
