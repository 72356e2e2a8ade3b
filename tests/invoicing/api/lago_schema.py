"""JSON Schemas (draft 2020-12) of every body the Lago face answers, written
from Lago's published OpenAPI document (getlago/lago-openapi,
``src/schemas/*.yaml``) and from what lago-api actually writes
(``app/serializers/v1/*``, ``app/controllers/api/v1/*``,
``app/controllers/concerns/api_errors.rb``). Where the two disagree lago-api
wins; each such place says so in a comment ("lago-api wins").

How the schemas are built:

- ``required`` is what the OpenAPI document requires of the object. Where the
  document requires nothing of it (billing configuration, invoice metadata)
  or the object is named for an include (the customer endpoints' ``taxes``,
  the full invoice's ``customer``, ``fees``, ``credits``, ``metadata``,
  ``applied_taxes``), the keys lago-api always writes there are required.
  Other keys lago-api always writes are listed in ``LAGO_API_KEYS`` and
  checked apart, so that one missing key fails one precise test rather than
  every body that carries the object.
- Objects are closed (``additionalProperties: false``). The OpenAPI document
  leaves them open, but a key that neither the document nor lago-api's
  serializer writes is one no Lago client knows; closing them is what finds
  an invented or misspelled key. The only keys allowed beyond Lago's are
  those README.md documents as this service's own: the EN 16931 VAT category
  and exemption reason of taxes and applied taxes, the ``standard``
  signature algorithm with its ``secret``, and the ``webhooks/hmac_key``
  endpoint.
- ``type: [..., "null"]`` wherever lago-api writes null, even where the
  document says otherwise.
- Formats ``date``, ``date-time``, ``uuid`` and ``email`` are checked
  (``FORMAT_CHECKER``) wherever Lago declares them.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Only the formats Lago declares and this module relies on; any other format
# keyword would be an annotation nobody checks, so none is used.
FORMAT_CHECKER = FormatChecker(formats=("date", "date-time", "uuid", "email"))


def errors(instance, schema: dict) -> list[str]:
    """Every way ``instance`` breaks ``schema``, one line each, empty if none."""
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    found = sorted(validator.iter_errors(instance), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message}" for e in found]


def closed(properties: dict, required: list[str] | tuple[str, ...] = ()) -> dict:
    """An object with exactly these keys allowed, ``required`` of them present."""
    missing = [name for name in required if name not in properties]
    if missing:
        raise ValueError(f"required but not declared: {missing}")
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def array_of(item: dict) -> dict:
    return {"type": "array", "items": item}


def envelope(root: str, schema: dict) -> dict:
    """A whole answer: lago-api wraps every object in its root name."""
    return {"$schema": DIALECT, **closed({root: schema}, [root])}


def page(root: str, item: dict) -> dict:
    """A list answer: ``CollectionSerializer`` with its ``meta`` block."""
    return {
        "$schema": DIALECT,
        **closed({root: array_of(item), "meta": PAGINATION_META}, [root, "meta"]),
    }


# ------------------------------------------------------------------ scalars

STRING = {"type": "string"}
STRING_OR_NULL = {"type": ["string", "null"]}
INTEGER = {"type": "integer"}
INTEGER_OR_NULL = {"type": ["integer", "null"]}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
UUID = {"type": "string", "format": "uuid"}
UUID_OR_NULL = {"type": ["string", "null"], "format": "uuid"}
DATE = {"type": "string", "format": "date"}
DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
DATE_TIME = {"type": "string", "format": "date-time"}
DATE_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
# A BigDecimal as Rails' JSON encoder writes it (``BigDecimal#to_s``): plain
# digits with a decimal point, e.g. "10.0", "0.5555".
DECIMAL_STRING = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]+$"}
DECIMAL_STRING_OR_NULL = {"type": ["string", "null"], "pattern": r"^-?[0-9]+\.[0-9]+$"}
# ``Invoice#file_url`` is ``File.join(LAGO_API_URL, blob_path)``: absolute.
ABSOLUTE_URL_OR_NULL = {"type": ["string", "null"], "pattern": r"^https?://[^\s]+$"}
STRINGS = array_of(STRING)

# lago-api's ``Currencies::ACCEPTED_CURRENCIES`` (app/models/concerns/currencies.rb).
# lago-api wins: the OpenAPI ``Currency`` enum lacks BHD, IRR, JOD and KWD,
# which lago-api accepts.
LAGO_CURRENCIES = tuple(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR
    ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
    MKD MMK MNT MOP MRO MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLL SOS SRD STD SZL
    THB TJS TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VND VUV WST XAF XCD XOF XPF YER
    ZAR ZMW
    """.split()
)
CURRENCY = {"type": "string", "enum": list(LAGO_CURRENCIES)}
CURRENCY_OR_NULL = {"type": ["string", "null"], "enum": [*LAGO_CURRENCIES, None]}

# The OpenAPI ``Country`` enum (ISO 3166-1 alpha-2), which is what lago-api's
# ``CountryCodeValidator`` (``ISO3166::Country``) accepts.
LAGO_COUNTRIES = tuple(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
    BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX
    CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG
    GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV
    LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE
    NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF
    WS YE YT ZA ZM ZW
    """.split()
)
COUNTRY_OR_NULL = {"type": ["string", "null"], "enum": [*LAGO_COUNTRIES, None]}

# lago-api's ``TimezoneValidator``: "UTC" or a value of ``Timezones::MAPPING``
# (ActiveSupport's mapping with Asia/Yangon, Europe/Kyiv and America/Nuuk), as
# the OpenAPI ``Timezone`` enum lists them. lago-api wins on the one entry the
# document spells "GMT+12": the mapping's value is "Etc/GMT+12".
LAGO_TIMEZONES = tuple(
    """
    UTC Africa/Algiers Africa/Cairo Africa/Casablanca Africa/Harare
    Africa/Johannesburg Africa/Monrovia Africa/Nairobi America/Argentina/Buenos_Aires
    America/Bogota America/Caracas America/Chicago America/Chihuahua America/Denver
    America/Guatemala America/Guyana America/Halifax America/Indiana/Indianapolis
    America/Juneau America/La_Paz America/Lima America/Los_Angeles America/Mazatlan
    America/Mexico_City America/Monterrey America/Montevideo America/New_York
    America/Nuuk America/Phoenix America/Puerto_Rico America/Regina America/Santiago
    America/Sao_Paulo America/St_Johns America/Tijuana Asia/Almaty Asia/Baghdad
    Asia/Baku Asia/Bangkok Asia/Chongqing Asia/Colombo Asia/Dhaka Asia/Hong_Kong
    Asia/Irkutsk Asia/Jakarta Asia/Jerusalem Asia/Kabul Asia/Kamchatka Asia/Karachi
    Asia/Kathmandu Asia/Kolkata Asia/Krasnoyarsk Asia/Kuala_Lumpur Asia/Kuwait
    Asia/Magadan Asia/Muscat Asia/Novosibirsk Asia/Riyadh Asia/Seoul Asia/Shanghai
    Asia/Singapore Asia/Srednekolymsk Asia/Taipei Asia/Tashkent Asia/Tbilisi
    Asia/Tehran Asia/Tokyo Asia/Ulaanbaatar Asia/Urumqi Asia/Vladivostok Asia/Yakutsk
    Asia/Yangon Asia/Yekaterinburg Asia/Yerevan Atlantic/Azores Atlantic/Cape_Verde
    Atlantic/South_Georgia Australia/Adelaide Australia/Brisbane Australia/Darwin
    Australia/Hobart Australia/Melbourne Australia/Perth Australia/Sydney
    Europe/Amsterdam Europe/Athens Europe/Belgrade Europe/Berlin Europe/Bratislava
    Europe/Brussels Europe/Bucharest Europe/Budapest Europe/Copenhagen Europe/Dublin
    Europe/Helsinki Europe/Istanbul Europe/Kaliningrad Europe/Kyiv Europe/Lisbon
    Europe/Ljubljana Europe/London Europe/Madrid Europe/Minsk Europe/Moscow
    Europe/Paris Europe/Prague Europe/Riga Europe/Rome Europe/Samara Europe/Sarajevo
    Europe/Skopje Europe/Sofia Europe/Stockholm Europe/Tallinn Europe/Vienna
    Europe/Vilnius Europe/Volgograd Europe/Warsaw Europe/Zagreb Europe/Zurich
    Etc/GMT+12 Pacific/Apia Pacific/Auckland Pacific/Chatham Pacific/Fakaofo
    Pacific/Fiji Pacific/Guadalcanal Pacific/Guam Pacific/Honolulu Pacific/Majuro
    Pacific/Midway Pacific/Noumea Pacific/Pago_Pago Pacific/Port_Moresby
    Pacific/Tongatapu
    """.split()
)
TIMEZONE = {"type": "string", "enum": list(LAGO_TIMEZONES)}
TIMEZONE_OR_NULL = {"type": ["string", "null"], "enum": [*LAGO_TIMEZONES, None]}

# ``Invoice::VISIBLE_STATUS`` (what ``.visible`` finds) plus ``deleted``, which
# only DELETE /invoices/:id answers.
INVOICE_STATUSES = ["draft", "finalized", "voided", "failed", "pending", "deleted"]
# ``Invoice::INVOICE_TYPES``. lago-api wins: the document omits advance_charges.
INVOICE_TYPES = [
    "subscription",
    "add_on",
    "credit",
    "one_off",
    "advance_charges",
    "progressive_billing",
]
INVOICE_PAYMENT_STATUSES = ["pending", "succeeded", "failed"]
# ``Fee::PAYMENT_STATUS``.
FEE_PAYMENT_STATUSES = ["pending", "succeeded", "failed", "refunded"]
# ``Fee::FEE_TYPES``. lago-api wins: the document omits product.
FEE_TYPES = ["charge", "add_on", "subscription", "credit", "commitment", "fixed_charge", "product"]
# ``Fee#item_type``: a class name.
FEE_ITEM_TYPES = ["AddOn", "BillableMetric", "Subscription", "WalletTransaction"]
# ``Credit#item_type``.
CREDIT_ITEM_TYPES = ["coupon", "credit_note", "invoice"]

# Beyond Lago (README, "Taxes"): a tax's EN 16931 VAT category and exemption
# reason, kept by every applied tax.
VAT_EXTRAS = {
    "vat_category_code": {"type": "string", "enum": ["S", "Z", "E", "AE", "K", "G", "O", "L", "M"]},
    "vat_exemption_reason": STRING_OR_NULL,
    "vat_exemption_reason_code": {
        "type": ["string", "null"],
        "pattern": r"^VATEX-[A-Z]{2}(-[A-Z0-9]+)+$",
    },
}

# ------------------------------------------------------------------ objects

PAGINATION_META = closed(
    {
        "current_page": INTEGER,
        "next_page": INTEGER_OR_NULL,
        "prev_page": INTEGER_OR_NULL,
        "total_pages": INTEGER,
        "total_count": INTEGER,
    },
    ["current_page", "total_pages", "total_count"],
)

# V1::TaxSerializer; on the taxes endpoints V1::TaxWithBillingEntitiesSerializer,
# which adds ``applied_to_billing_entities_codes``. The document declares none
# of the ``*_count`` keys; lago-api writes each of them as 0.
TAX = closed(
    {
        "lago_id": UUID,
        "name": STRING,
        "code": STRING,
        "rate": NUMBER,
        "description": STRING_OR_NULL,
        "applied_to_organization": BOOLEAN,
        "add_ons_count": INTEGER,
        "customers_count": INTEGER,
        "plans_count": INTEGER,
        "charges_count": INTEGER,
        "commitments_count": INTEGER,
        "created_at": DATE_TIME,
        "applied_to_billing_entities_codes": STRINGS,
        **VAT_EXTRAS,
    },
    ["lago_id", "name", "code", "rate", "applied_to_organization", "created_at"],
)

# V1::AddOnSerializer with its ``taxes`` include.
ADD_ON = closed(
    {
        "lago_id": UUID,
        "name": STRING,
        "invoice_display_name": STRING_OR_NULL,
        "code": STRING,
        "amount_cents": INTEGER,
        "amount_currency": CURRENCY,
        "description": STRING_OR_NULL,
        "created_at": DATE_TIME,
        # Beyond Lago (README, "E-invoicing"): the unit of measure code.
        "unit_code": {"type": "string", "pattern": "^[0-9A-Z]{2,3}$"},
        "taxes": array_of(TAX),
    },
    [
        "lago_id",
        "name",
        "invoice_display_name",
        "code",
        "amount_cents",
        "amount_currency",
        "description",
        "created_at",
    ],
)

# V1::Customers::MetadataSerializer.
CUSTOMER_METADATA = closed(
    {
        "lago_id": UUID,
        "key": STRING,
        "value": STRING,
        "display_in_invoice": BOOLEAN,
        "created_at": DATE_TIME,
    },
    ["lago_id", "key", "value", "display_in_invoice", "created_at"],
)

# V1::CustomerSerializer#billing_configuration. The document requires none of
# its keys; lago-api always writes the first six. lago-api wins on nullability
# (unset columns are null) and on the providers (``Customer::PAYMENT_PROVIDERS``).
BILLING_CONFIGURATION = closed(
    {
        "invoice_grace_period": INTEGER_OR_NULL,
        "payment_provider": {
            "type": ["string", "null"],
            "enum": ["stripe", "gocardless", "cashfree", "adyen", "flutterwave", "moneyhash", None],
        },
        "payment_provider_code": STRING_OR_NULL,
        "document_locale": STRING_OR_NULL,
        "subscription_invoice_issuing_date_anchor": {
            "type": ["string", "null"],
            "enum": ["current_period_end", "next_period_start", None],
        },
        "subscription_invoice_issuing_date_adjustment": {
            "type": ["string", "null"],
            "enum": ["keep_anchor", "align_with_finalization_date", None],
        },
        # Written only with a payment provider.
        "provider_customer_id": STRING_OR_NULL,
        "provider_payment_methods": {"type": ["array", "null"], "items": STRING},
        "sync": BOOLEAN,
        "sync_with_provider": BOOLEAN,
    },
    [
        "invoice_grace_period",
        "payment_provider",
        "payment_provider_code",
        "document_locale",
        "subscription_invoice_issuing_date_anchor",
        "subscription_invoice_issuing_date_adjustment",
    ],
)

# ``Customer#shipping_address``.
ADDRESS = closed(
    {
        "address_line1": STRING_OR_NULL,
        "address_line2": STRING_OR_NULL,
        "city": STRING_OR_NULL,
        "zipcode": STRING_OR_NULL,
        "state": STRING_OR_NULL,
        "country": COUNTRY_OR_NULL,
    },
    ["address_line1", "address_line2", "city", "zipcode", "state", "country"],
)

# V1::IntegrationCustomerSerializer (the document's IntegrationCustomer). This
# service has no integrations; an item would be checked as Lago writes it.
INTEGRATION_CUSTOMER = closed(
    {
        "lago_id": UUID,
        "type": {"type": "string", "enum": ["netsuite", "anrok", "xero", "hubspot", "salesforce"]},
        "integration_code": STRING,
        "external_customer_id": STRING,
        "sync_with_provider": {"type": ["boolean", "null"]},
        "subsidiary_id": STRING_OR_NULL,
        "targeted_object": STRING_OR_NULL,
        "email": STRING_OR_NULL,
    },
    ["lago_id", "type", "external_customer_id", "integration_code"],
)

# V1::ErrorDetailSerializer.
ERROR_DETAIL = closed(
    {
        "lago_id": UUID_OR_NULL,
        "error_code": STRING,
        "details": {"type": "object", "additionalProperties": STRING},
    },
    ["lago_id", "error_code", "details"],
)

# V1::InvoiceCustomSectionSerializer (a customer's applicable sections).
INVOICE_CUSTOM_SECTION = closed(
    {
        "lago_id": UUID,
        "name": STRING,
        "code": STRING,
        "description": STRING_OR_NULL,
        "details": STRING_OR_NULL,
        "display_name": STRING_OR_NULL,
        "applied_to_organization": BOOLEAN,
        "organization_id": UUID,
        "created_at": DATE_TIME,
    },
    ["lago_id", "name", "code"],
)

# V1::Invoices::AppliedInvoiceCustomSectionSerializer.
APPLIED_INVOICE_CUSTOM_SECTION = closed(
    {
        "lago_id": UUID,
        "lago_invoice_id": UUID,
        "code": STRING,
        "details": STRING_OR_NULL,
        "display_name": STRING_OR_NULL,
        "created_at": DATE_TIME,
    },
    ["lago_id", "lago_invoice_id", "code", "details", "display_name", "created_at"],
)

# V1::Invoices::BillingPeriodSerializer (subscription invoices only).
BILLING_PERIOD = closed(
    {
        "lago_subscription_id": UUID,
        "external_subscription_id": STRING,
        "lago_plan_id": UUID,
        "subscription_from_datetime": DATE_TIME,
        "subscription_to_datetime": DATE_TIME,
        "charges_from_datetime": DATE_TIME,
        "charges_to_datetime": DATE_TIME,
        "invoicing_reason": {
            "type": "string",
            "enum": [
                "subscription_starting",
                "subscription_periodic",
                "subscription_terminating",
                "in_advance_charge",
                "in_advance_charge_periodic",
                "progressive_billing",
            ],
        },
    },
    [
        "lago_subscription_id",
        "external_subscription_id",
        "lago_plan_id",
        "subscription_from_datetime",
        "subscription_to_datetime",
        "charges_from_datetime",
        "charges_to_datetime",
        "invoicing_reason",
    ],
)

# Subscriptions and usage thresholds do not exist in this service: an item of
# those lists is only checked to be an object.
SUBSCRIPTION = {"type": "object"}
APPLIED_USAGE_THRESHOLD = {"type": "object"}

_CUSTOMER_PROPERTIES = {
    "lago_id": UUID,
    "billing_entity_code": STRING,
    "external_id": STRING,
    "account_type": {"type": "string", "enum": ["customer", "partner"]},
    "name": STRING_OR_NULL,
    "firstname": STRING_OR_NULL,
    "lastname": STRING_OR_NULL,
    "customer_type": {"type": ["string", "null"], "enum": ["company", "individual", None]},
    "sequential_id": INTEGER,
    "slug": STRING,
    "created_at": DATE_TIME,
    "updated_at": DATE_TIME,
    "country": COUNTRY_OR_NULL,
    "address_line1": STRING_OR_NULL,
    "address_line2": STRING_OR_NULL,
    "state": STRING_OR_NULL,
    "zipcode": STRING_OR_NULL,
    # Lago takes a comma-separated list of addresses here; the format checker
    # only asks for an "@", which every entry of such a list has.
    "email": {"type": ["string", "null"], "format": "email"},
    "city": STRING_OR_NULL,
    "url": STRING_OR_NULL,
    "phone": STRING_OR_NULL,
    "logo_url": STRING_OR_NULL,
    "legal_name": STRING_OR_NULL,
    "legal_number": STRING_OR_NULL,
    "currency": CURRENCY_OR_NULL,
    "tax_identification_number": STRING_OR_NULL,
    "timezone": TIMEZONE_OR_NULL,
    "applicable_timezone": TIMEZONE,
    "net_payment_term": INTEGER_OR_NULL,
    "external_salesforce_id": STRING_OR_NULL,
    "finalize_zero_amount_invoice": {"type": "string", "enum": ["inherit", "skip", "finalize"]},
    "billing_configuration": BILLING_CONFIGURATION,
    "shipping_address": ADDRESS,
    "skip_invoice_custom_sections": BOOLEAN,
    # Beyond Lago (README, "E-invoicing"): the buyer's e-invoicing data.
    "buyer_reference": STRING_OR_NULL,
    "electronic_address": STRING_OR_NULL,
    "electronic_address_scheme": STRING_OR_NULL,
    "metadata": array_of(CUSTOMER_METADATA),
    "integration_customers": array_of(INTEGRATION_CUSTOMER),
}
_CUSTOMER_REQUIRED = [
    "lago_id",
    "sequential_id",
    "slug",
    "external_id",
    "applicable_timezone",
    "created_at",
]

# The customer as an invoice carries it (the document's CustomerObject).
CUSTOMER = closed(_CUSTOMER_PROPERTIES, _CUSTOMER_REQUIRED)

# The customer endpoints' customer (CustomerObjectExtended): with its taxes.
CUSTOMER_WITH_TAXES = closed(
    {
        **_CUSTOMER_PROPERTIES,
        "taxes": array_of(TAX),
        "applicable_invoice_custom_sections": array_of(INVOICE_CUSTOM_SECTION),
        "error_details": array_of(ERROR_DETAIL),
    },
    [*_CUSTOMER_REQUIRED, "taxes"],
)

# V1::Fees::AppliedTaxSerializer.
FEE_APPLIED_TAX = closed(
    {
        "lago_id": UUID,
        "lago_fee_id": UUID,
        "lago_tax_id": UUID_OR_NULL,
        "tax_name": STRING,
        "tax_code": STRING,
        "tax_rate": NUMBER,
        "tax_description": STRING_OR_NULL,
        "amount_cents": INTEGER,
        "amount_currency": CURRENCY,
        "created_at": DATE_TIME,
        **VAT_EXTRAS,
    },
    [
        "lago_id",
        "lago_tax_id",
        "tax_name",
        "tax_code",
        "tax_rate",
        "tax_description",
        "amount_cents",
        "amount_currency",
        "created_at",
    ],
)

# V1::Invoices::AppliedTaxSerializer.
INVOICE_APPLIED_TAX = closed(
    {
        "lago_id": UUID,
        "lago_invoice_id": UUID,
        "lago_tax_id": UUID_OR_NULL,
        "tax_name": STRING,
        "tax_code": STRING,
        "tax_rate": NUMBER,
        "tax_description": STRING_OR_NULL,
        "amount_cents": INTEGER,
        "amount_currency": CURRENCY,
        "fees_amount_cents": INTEGER,
        "created_at": DATE_TIME,
        **VAT_EXTRAS,
    },
    [
        "lago_id",
        "lago_tax_id",
        "tax_name",
        "tax_code",
        "tax_rate",
        "tax_description",
        "amount_cents",
        "amount_currency",
        "created_at",
    ],
)

# The fee's ``item`` (V1::FeeSerializer).
FEE_ITEM = closed(
    {
        "type": {"type": "string", "enum": FEE_TYPES},
        "code": STRING,
        "name": STRING,
        "description": STRING_OR_NULL,
        "invoice_display_name": STRING,
        "filters": {"type": ["object", "null"], "additionalProperties": STRINGS},
        "filter_invoice_display_name": STRING_OR_NULL,
        "lago_item_id": UUID,
        "item_type": {"type": "string", "enum": FEE_ITEM_TYPES},
        "grouped_by": {"type": "object", "additionalProperties": STRING_OR_NULL},
    },
    ["type", "code", "name", "lago_item_id", "item_type"],
)

# V1::FeeSerializer. Add-on and subscription fees carry ``from_date`` and
# ``to_date`` (``Fee#date_boundaries``); pay-in-advance charge fees carry
# ``event_transaction_id``. lago-api's invoice payloads write fees without
# ``applied_taxes`` (no include); the document declares it on the fee, so it
# is allowed.
FEE = closed(
    {
        "lago_id": UUID_OR_NULL,
        "lago_charge_id": UUID_OR_NULL,
        "lago_charge_filter_id": UUID_OR_NULL,
        "lago_fixed_charge_id": UUID_OR_NULL,
        "lago_invoice_id": UUID_OR_NULL,
        "lago_true_up_fee_id": UUID_OR_NULL,
        "lago_true_up_parent_fee_id": UUID_OR_NULL,
        "lago_original_fee_id": UUID_OR_NULL,
        "lago_subscription_id": UUID_OR_NULL,
        "external_subscription_id": STRING_OR_NULL,
        "lago_customer_id": UUID_OR_NULL,
        "external_customer_id": STRING_OR_NULL,
        "item": FEE_ITEM,
        "pay_in_advance": BOOLEAN,
        "invoiceable": BOOLEAN,
        "amount_cents": INTEGER,
        "amount_currency": CURRENCY,
        "precise_amount": DECIMAL_STRING,
        "precise_total_amount": DECIMAL_STRING,
        "taxes_amount_cents": INTEGER,
        "taxes_precise_amount": DECIMAL_STRING,
        "taxes_rate": NUMBER,
        # lago-api wins: a nullable column, null on add-on fees.
        "total_aggregated_units": DECIMAL_STRING_OR_NULL,
        "total_amount_cents": INTEGER,
        "total_amount_currency": CURRENCY,
        "units": DECIMAL_STRING,
        "description": STRING_OR_NULL,
        "precise_unit_amount": DECIMAL_STRING,
        "precise_coupons_amount_cents": DECIMAL_STRING,
        "sub_total_excluding_taxes_amount_cents": INTEGER,
        "sub_total_excluding_taxes_precise_amount_cents": DECIMAL_STRING,
        "events_count": INTEGER_OR_NULL,
        "payment_status": {"type": "string", "enum": FEE_PAYMENT_STATUSES},
        "created_at": DATE_TIME_OR_NULL,
        "succeeded_at": DATE_TIME_OR_NULL,
        "failed_at": DATE_TIME_OR_NULL,
        "refunded_at": DATE_TIME_OR_NULL,
        "amount_details": {"type": "object"},
        "self_billed": BOOLEAN,
        "pricing_unit_details": {"type": ["object", "null"]},
        "presentation_breakdowns": array_of({"type": "object"}),
        "from_date": DATE_TIME_OR_NULL,
        "to_date": DATE_TIME_OR_NULL,
        "event_transaction_id": STRING_OR_NULL,
        "applied_taxes": array_of(FEE_APPLIED_TAX),
    },
    [
        "item",
        "amount_cents",
        "amount_currency",
        "taxes_amount_cents",
        "taxes_rate",
        "total_amount_cents",
        "total_amount_currency",
        "pay_in_advance",
        "invoiceable",
        "units",
        "total_aggregated_units",
        "precise_unit_amount",
        "sub_total_excluding_taxes_amount_cents",
        "sub_total_excluding_taxes_precise_amount_cents",
        "payment_status",
    ],
)

# V1::CreditSerializer. ``item.type`` is ``Credit#item_type``: prepaid credits
# (wallets) are no credits in lago-api, only ``prepaid_credit_amount_cents``.
CREDIT = closed(
    {
        "lago_id": UUID,
        "amount_cents": INTEGER,
        "amount_currency": CURRENCY,
        "before_taxes": BOOLEAN,
        "item": closed(
            {
                "lago_item_id": UUID,
                "type": {"type": "string", "enum": CREDIT_ITEM_TYPES},
                "code": STRING,
                "name": STRING,
                "description": STRING_OR_NULL,
            },
            ["lago_item_id", "type", "code", "name"],
        ),
        "invoice": closed(
            {
                "lago_id": UUID,
                "payment_status": {"type": "string", "enum": INVOICE_PAYMENT_STATUSES},
            },
            ["lago_id", "payment_status"],
        ),
    },
    ["lago_id", "item", "amount_cents", "amount_currency", "invoice", "before_taxes"],
)

# V1::Invoices::MetadataSerializer. The document requires none of its keys;
# lago-api always writes the four.
INVOICE_METADATA = closed(
    {
        "lago_id": UUID,
        "key": STRING,
        "value": {"type": "string", "maxLength": 140},
        "created_at": DATE_TIME,
        # Beyond Lago (README, "The Lago face"): whether the PDF prints the
        # item, as a customer's metadata item says.
        "display_in_invoice": BOOLEAN,
    },
    ["lago_id", "key", "value", "created_at"],
)

# V1::InvoiceSerializer without includes (InvoiceBaseObject). The document
# does not declare purchase_order_number, total_due_amount_cents,
# total_paid_amount_cents, total_offsetted_credit_note_amount_cents, xml_url
# and voided_at, which lago-api writes.
_INVOICE_BASE_PROPERTIES = {
    "lago_id": UUID,
    # lago-api wins: ``model.billing_entity.code`` is never null.
    "billing_entity_code": STRING,
    # lago-api wins: a draft has no sequential id yet (it is given at finalization).
    "sequential_id": INTEGER_OR_NULL,
    "number": STRING,
    "purchase_order_number": STRING_OR_NULL,
    "issuing_date": DATE,
    # lago-api wins: a nullable column, written with ``&.iso8601``.
    "payment_due_date": DATE_OR_NULL,
    "net_payment_term": INTEGER,
    "invoice_type": {"type": "string", "enum": INVOICE_TYPES},
    "status": {"type": "string", "enum": INVOICE_STATUSES},
    "payment_status": {"type": "string", "enum": INVOICE_PAYMENT_STATUSES},
    # lago-api wins: null until a dispute is lost.
    "payment_dispute_lost_at": DATE_TIME_OR_NULL,
    "payment_overdue": BOOLEAN,
    "currency": CURRENCY,
    "fees_amount_cents": INTEGER,
    "taxes_amount_cents": INTEGER,
    "progressive_billing_credit_amount_cents": INTEGER,
    "coupons_amount_cents": INTEGER,
    "credit_notes_amount_cents": INTEGER,
    "sub_total_excluding_taxes_amount_cents": INTEGER,
    "sub_total_including_taxes_amount_cents": INTEGER,
    "total_amount_cents": INTEGER,
    "total_due_amount_cents": INTEGER,
    "total_paid_amount_cents": INTEGER,
    "total_offsetted_credit_note_amount_cents": INTEGER,
    "prepaid_credit_amount_cents": INTEGER,
    "prepaid_granted_credit_amount_cents": INTEGER_OR_NULL,
    "prepaid_purchased_credit_amount_cents": INTEGER_OR_NULL,
    # lago-api wins: null until the PDF is stored (``Invoice#file_url``).
    "file_url": ABSOLUTE_URL_OR_NULL,
    "xml_url": ABSOLUTE_URL_OR_NULL,
    "web_url": STRING_OR_NULL,
    "version_number": INTEGER,
    "self_billed": BOOLEAN,
    "created_at": DATE_TIME,
    "updated_at": DATE_TIME,
    "voided_at": DATE_TIME_OR_NULL,
}
_INVOICE_REQUIRED = [
    "lago_id",
    "billing_entity_code",
    "number",
    "issuing_date",
    "invoice_type",
    "status",
    "payment_status",
    "currency",
    "fees_amount_cents",
    "coupons_amount_cents",
    "credit_notes_amount_cents",
    "sub_total_excluding_taxes_amount_cents",
    "taxes_amount_cents",
    "sub_total_including_taxes_amount_cents",
    "prepaid_credit_amount_cents",
    "progressive_billing_credit_amount_cents",
    "total_amount_cents",
    "version_number",
    "created_at",
    "updated_at",
]

# POST /invoices/:id/download with the PDF stored: ``InvoiceSerializer`` with
# no includes. lago-api wins over the document (which names the extended
# invoice): no customer, fees or other include.
INVOICE_BASE = closed(_INVOICE_BASE_PROPERTIES, [*_INVOICE_REQUIRED, "file_url"])

# An item of GET /invoices and GET /customers/:id/invoices (``InvoiceIndex``:
# includes customer, integration_customers, metadata, applied_taxes).
INVOICE_LIST_ITEM = closed(
    {
        **_INVOICE_BASE_PROPERTIES,
        "customer": CUSTOMER,
        "metadata": array_of(INVOICE_METADATA),
        "applied_taxes": array_of(INVOICE_APPLIED_TAX),
        "applied_usage_thresholds": array_of(APPLIED_USAGE_THRESHOLD),
    },
    [*_INVOICE_REQUIRED, "customer", "metadata", "applied_taxes"],
)

# The full invoice of show, create, update, finalize, void and delete
# (``InvoicesController#render_invoice``; InvoiceObjectExtended).
INVOICE = closed(
    {
        **_INVOICE_BASE_PROPERTIES,
        "customer": CUSTOMER,
        "billing_periods": array_of(BILLING_PERIOD),
        "subscriptions": array_of(SUBSCRIPTION),
        "fees": array_of(FEE),
        "credits": array_of(CREDIT),
        "metadata": array_of(INVOICE_METADATA),
        "applied_taxes": array_of(INVOICE_APPLIED_TAX),
        "error_details": array_of(ERROR_DETAIL),
        "applied_usage_thresholds": array_of(APPLIED_USAGE_THRESHOLD),
        "applied_invoice_custom_sections": array_of(APPLIED_INVOICE_CUSTOM_SECTION),
    },
    [*_INVOICE_REQUIRED, "customer", "fees", "credits", "metadata", "applied_taxes"],
)

# V1::WebhookEndpointSerializer. Beyond Lago (README, "Webhooks"): the
# ``standard`` algorithm, whose ``whsec_`` secret create, update and
# rotate_secret show once.
WEBHOOK_ENDPOINT = closed(
    {
        "lago_id": UUID,
        "lago_organization_id": UUID,
        "webhook_url": STRING,
        "signature_algo": {"type": "string", "enum": ["jwt", "hmac", "standard"]},
        "name": STRING_OR_NULL,
        "event_types": {"type": ["array", "null"], "items": STRING},
        "created_at": DATE_TIME,
        "secret": {"type": "string", "pattern": r"^whsec_[A-Za-z0-9+/=]+$"},
    },
    ["lago_id", "lago_organization_id", "webhook_url", "created_at"],
)

# ---------------------------------------------------------------- envelopes

INVOICE_ENVELOPE = envelope("invoice", INVOICE)
INVOICE_BASE_ENVELOPE = envelope("invoice", INVOICE_BASE)
INVOICES_PAGE = page("invoices", INVOICE_LIST_ITEM)
CUSTOMER_ENVELOPE = envelope("customer", CUSTOMER_WITH_TAXES)
CUSTOMERS_PAGE = page("customers", CUSTOMER_WITH_TAXES)
TAX_ENVELOPE = envelope("tax", TAX)
TAXES_PAGE = page("taxes", TAX)
ADD_ON_ENVELOPE = envelope("add_on", ADD_ON)
ADD_ONS_PAGE = page("add_ons", ADD_ON)
WEBHOOK_ENDPOINT_ENVELOPE = envelope("webhook_endpoint", WEBHOOK_ENDPOINT)
WEBHOOK_ENDPOINTS_PAGE = page("webhook_endpoints", WEBHOOK_ENDPOINT)
# WebhooksController#json_public_key: Base64.encode64 of the PEM (with its
# line breaks every 60 characters).
WEBHOOK_PUBLIC_KEY_ENVELOPE = envelope(
    "webhook",
    closed({"public_key": {"type": "string", "pattern": r"^[A-Za-z0-9+/=\n]+$"}}, ["public_key"]),
)
# Beyond Lago (README, "Security and limits"): the HMAC signing key.
WEBHOOK_HMAC_KEY_ENVELOPE = envelope(
    "webhook", closed({"hmac_key": {"type": "string", "minLength": 1}}, ["hmac_key"])
)

# ------------------------------------------------------------------- errors


def _error(status: int, error: dict, **more: dict) -> dict:
    properties = {"status": {"const": status}, "error": error, **more}
    return {"$schema": DIALECT, **closed(properties, list(properties))}


# ``ApiErrors#bad_request_error`` ("BadRequest: " and the exception's message,
# no code), or Rails' own answer to a body it cannot parse
# (``ActionDispatch::PublicExceptions``: the status and its reason phrase).
BAD_REQUEST = _error(
    400, {"type": "string", "anyOf": [{"pattern": "^BadRequest: .+"}, {"const": "Bad Request"}]}
)
# ``ApiErrors#unauthorized_error``: no code.
UNAUTHORIZED = _error(401, STRING)
# ``ApiResponses#not_found_error``: "<resource>_not_found".
NOT_FOUND = _error(
    404, {"const": "Not Found"}, code={"type": "string", "pattern": "^[a-z_]+_not_found$"}
)
# ``ApiErrors#method_not_allowed_error``.
NOT_ALLOWED = _error(
    405, {"const": "Method Not Allowed"}, code={"type": "string", "pattern": "^[a-z_]+$"}
)
# ``ApiErrors#validation_errors``: ``record.errors.messages`` (field -> messages)
# or a filter contract's errors (field -> index -> messages).
_MESSAGES = {"type": "array", "items": STRING, "minItems": 1}
UNPROCESSABLE = _error(
    422,
    {"const": "Unprocessable Entity"},
    code={"const": "validation_errors"},
    error_details={
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [
                _MESSAGES,
                {"type": "object", "minProperties": 1, "additionalProperties": _MESSAGES},
            ]
        },
    },
)
# Beyond lago-api, which limits no request rate: README ("Security and
# limits") documents this body, in the form of lago-api's other errors.
TOO_MANY_REQUESTS = _error(429, {"const": "Too Many Requests"}, code={"const": "too_many_requests"})

# ------------------------------------------------------- lago-api's own keys

_INVOICE_BASE_KEYS = (
    "lago_id",
    "billing_entity_code",
    "sequential_id",
    "number",
    "purchase_order_number",
    "issuing_date",
    "payment_due_date",
    "net_payment_term",
    "invoice_type",
    "status",
    "payment_status",
    "payment_dispute_lost_at",
    "payment_overdue",
    "currency",
    "fees_amount_cents",
    "taxes_amount_cents",
    "progressive_billing_credit_amount_cents",
    "coupons_amount_cents",
    "credit_notes_amount_cents",
    "sub_total_excluding_taxes_amount_cents",
    "sub_total_including_taxes_amount_cents",
    "total_amount_cents",
    "total_due_amount_cents",
    "total_paid_amount_cents",
    "total_offsetted_credit_note_amount_cents",
    "prepaid_credit_amount_cents",
    "prepaid_granted_credit_amount_cents",
    "prepaid_purchased_credit_amount_cents",
    "file_url",
    "xml_url",
    "web_url",
    "version_number",
    "self_billed",
    "created_at",
    "updated_at",
    "voided_at",
)
_CUSTOMER_KEYS = (
    "lago_id",
    "billing_entity_code",
    "external_id",
    "account_type",
    "name",
    "firstname",
    "lastname",
    "customer_type",
    "sequential_id",
    "slug",
    "created_at",
    "updated_at",
    "country",
    "address_line1",
    "address_line2",
    "state",
    "zipcode",
    "email",
    "city",
    "url",
    "phone",
    "logo_url",
    "legal_name",
    "legal_number",
    "currency",
    "tax_identification_number",
    "timezone",
    "applicable_timezone",
    "net_payment_term",
    "external_salesforce_id",
    "finalize_zero_amount_invoice",
    "billing_configuration",
    "shipping_address",
    "skip_invoice_custom_sections",
    "metadata",
)
_TAX_KEYS = (
    "lago_id",
    "name",
    "code",
    "rate",
    "description",
    "applied_to_organization",
    "add_ons_count",
    "customers_count",
    "plans_count",
    "charges_count",
    "commitments_count",
    "created_at",
)

# Every key lago-api's serializers write unconditionally for each object, in
# the context the conformance test reads it from (file and method named).
LAGO_API_KEYS = {
    # InvoicesController#render_invoice includes: customer, billing_periods,
    # subscriptions, fees, credits, metadata, applied_taxes, error_details,
    # applied_invoice_custom_sections.
    "invoice": (
        *_INVOICE_BASE_KEYS,
        "customer",
        "billing_periods",
        "subscriptions",
        "fees",
        "credits",
        "metadata",
        "applied_taxes",
        "error_details",
        "applied_invoice_custom_sections",
    ),
    # InvoiceIndex#invoice_index includes: customer, metadata, applied_taxes.
    "invoice list item": (*_INVOICE_BASE_KEYS, "customer", "metadata", "applied_taxes"),
    # InvoicesController#download_pdf: no include.
    "downloaded invoice": _INVOICE_BASE_KEYS,
    # InvoiceSerializer#customer: CustomerSerializer with integration_customers.
    "invoice customer": (*_CUSTOMER_KEYS, "integration_customers"),
    # CustomersController#render_customer includes: taxes, integration_customers,
    # applicable_invoice_custom_sections, error_details.
    "customer": (
        *_CUSTOMER_KEYS,
        "taxes",
        "integration_customers",
        "applicable_invoice_custom_sections",
        "error_details",
    ),
    # CustomersController#index includes: taxes, integration_customers.
    "customer list item": (*_CUSTOMER_KEYS, "taxes", "integration_customers"),
    "billing configuration": (
        "invoice_grace_period",
        "payment_provider",
        "payment_provider_code",
        "document_locale",
        "subscription_invoice_issuing_date_anchor",
        "subscription_invoice_issuing_date_adjustment",
    ),
    # FeeSerializer#serialize, with the date boundaries of an add-on fee.
    "fee": (
        "lago_id",
        "lago_charge_id",
        "lago_charge_filter_id",
        "lago_fixed_charge_id",
        "lago_invoice_id",
        "lago_true_up_fee_id",
        "lago_true_up_parent_fee_id",
        "lago_original_fee_id",
        "lago_subscription_id",
        "external_subscription_id",
        "lago_customer_id",
        "external_customer_id",
        "item",
        "pay_in_advance",
        "invoiceable",
        "amount_cents",
        "amount_currency",
        "precise_amount",
        "precise_total_amount",
        "taxes_amount_cents",
        "taxes_precise_amount",
        "taxes_rate",
        "total_aggregated_units",
        "total_amount_cents",
        "total_amount_currency",
        "units",
        "description",
        "precise_unit_amount",
        "precise_coupons_amount_cents",
        "sub_total_excluding_taxes_amount_cents",
        "sub_total_excluding_taxes_precise_amount_cents",
        "events_count",
        "payment_status",
        "created_at",
        "succeeded_at",
        "failed_at",
        "refunded_at",
        "amount_details",
        "self_billed",
        "pricing_unit_details",
        "presentation_breakdowns",
        "from_date",
        "to_date",
    ),
    "fee item": (
        "type",
        "code",
        "name",
        "description",
        "invoice_display_name",
        "filters",
        "filter_invoice_display_name",
        "lago_item_id",
        "item_type",
        "grouped_by",
    ),
    "fee applied tax": (
        "lago_id",
        "lago_fee_id",
        "lago_tax_id",
        "tax_name",
        "tax_code",
        "tax_rate",
        "tax_description",
        "amount_cents",
        "amount_currency",
        "created_at",
    ),
    "invoice applied tax": (
        "lago_id",
        "lago_invoice_id",
        "lago_tax_id",
        "tax_name",
        "tax_code",
        "tax_rate",
        "tax_description",
        "amount_cents",
        "amount_currency",
        "fees_amount_cents",
        "created_at",
    ),
    "credit": ("lago_id", "amount_cents", "amount_currency", "before_taxes", "item", "invoice"),
    "credit item": ("lago_item_id", "type", "code", "name", "description"),
    "invoice metadata": ("lago_id", "key", "value", "created_at"),
    "customer metadata": ("lago_id", "key", "value", "display_in_invoice", "created_at"),
    # TaxesController#render_tax and #index: TaxWithBillingEntitiesSerializer.
    "tax": (*_TAX_KEYS, "applied_to_billing_entities_codes"),
    # A customer's or an add-on's taxes: TaxSerializer.
    "customer tax": _TAX_KEYS,
    "add-on": (
        "lago_id",
        "name",
        "invoice_display_name",
        "code",
        "amount_cents",
        "amount_currency",
        "created_at",
        "description",
        "taxes",
    ),
    "webhook endpoint": (
        "lago_id",
        "lago_organization_id",
        "webhook_url",
        "signature_algo",
        "name",
        "event_types",
        "created_at",
    ),
    "pagination meta": ("current_page", "next_page", "prev_page", "total_pages", "total_count"),
}

# Every schema above, for the meta-schema check.
ALL_SCHEMAS = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, dict) and ("type" in value or "$schema" in value)
}
