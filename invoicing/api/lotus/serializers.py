"""The Lotus face's input and output shapes (uselotus/lotus
``api/serializers/model_serializers.py``, lotus-python 0.12.0's models).

Money is a JSON number in major units, tax adjustment amounts are strings with
10 decimals, datetimes carry their offset (rendered in the customer's time
zone) and empty strings are ``null``, as upstream's
``ConvertEmptyStringToNullMixin`` does.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal

from babel.numbers import get_currency_name, get_currency_symbol
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from invoicing.api.fields import CountryField, CurrencyField, InputSerializer, JsonObjectField
from invoicing.models import Customer, Fee, Invoice, Organization
from invoicing.money import currency_exponent

# The ledger account of upstream's sales tax adjustments.
SALES_TAX_ACCOUNT = "41100"
# Lago metadata limits, which a customer's Lotus ``properties`` are stored as.
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 1000
_TEN_DECIMALS = Decimal("1e-10")

# ---------------------------------------------------------------- helpers


@functools.cache
def _exponent(currency: str) -> int:
    return currency_exponent(currency)


def major(amount_cents, currency: str) -> float:
    """Minor units as a JSON number in major units (``10500`` EUR -> ``105.0``)."""
    return float(Decimal(amount_cents).scaleb(-_exponent(currency)))


def major_string(amount_cents, currency: str) -> str:
    return format(Decimal(amount_cents).scaleb(-_exponent(currency)).quantize(_TEN_DECIMALS), "f")


@functools.cache
def currency_block(code: str) -> dict:
    return {
        "code": code,
        "name": get_currency_name(code, locale="en"),
        "symbol": get_currency_symbol(code, locale="en"),
    }


def _datetime(value: dt.datetime, tz: dt.tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds")


def _or_null(value: str) -> str | None:
    return value or None


def address_block(obj) -> dict | None:
    """A customer's or organization's address, or null when it has none."""
    fields = {
        "city": obj.city,
        "country": obj.country,
        "line1": obj.address_line1,
        "line2": obj.address_line2,
        "postal_code": obj.zipcode,
        "state": obj.state,
    }
    if not any(fields.values()):
        return None
    return {key: _or_null(value) for key, value in fields.items()}


def _issued_at(invoice: Invoice) -> dt.datetime:
    return invoice.finalized_at or invoice.created_at


PAYMENT_STATUSES = ["draft", "voided", "paid", "unpaid"]


def payment_status(invoice: Invoice) -> str:
    """Lotus's one status: Lago's status and payment status folded together."""
    if invoice.status == Invoice.Status.DRAFT:
        return "draft"
    if invoice.status == Invoice.Status.VOIDED:
        return "voided"
    return "paid" if invoice.payment_status == Invoice.PaymentStatus.SUCCEEDED else "unpaid"


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
# The output serializers declare their fields (they are the OpenAPI schema)
# but build their dicts directly: DRF's per-instance copying and binding of
# declared fields is about two thirds of the cost of rendering an invoice, and
# pdf_url is the hottest response. ``tests/invoicing/api/lotus`` checks that
# the keys rendered are exactly the fields declared, in order.


# Where a view may have loaded an invoice's fees as a plain list (as
# ``Prefetch("fees", to_attr=...)`` does); else ``invoice.fees.all()``.
LINES_ATTR = "lotus_lines"


def _lines(invoice: Invoice):
    lines = getattr(invoice, LINES_ATTR, None)
    return invoice.fees.all() if lines is None else lines


def _period(invoice: Invoice, tz: dt.tzinfo) -> tuple[dt.date, dt.date]:
    """From the first line's start to the last line's end (the issuing day
    when lines carry no period), from annotations when the lines are not
    loaded (``period_from`` / ``period_to``)."""
    if hasattr(invoice, "period_from"):
        starts, ends = [invoice.period_from], [invoice.period_to]
    else:
        fees = _lines(invoice)
        starts = [f.from_datetime for f in fees]
        ends = [f.to_datetime for f in fees]
    starts = [v.astimezone(tz).date() for v in starts if v]
    ends = [v.astimezone(tz).date() for v in ends if v]
    return min(starts, default=invoice.issuing_date), max(ends, default=invoice.issuing_date)


def _plan(fee) -> dict | None:
    if not (fee.plan_id or fee.plan_name):
        return None
    plan_id = fee.plan_id or fee.plan_name
    version = fee.plan_version or 1
    # No plan versions here: a stable id made of the plan and its version.
    return {
        "plan_name": fee.plan_name or plan_id,
        "plan_id": plan_id,
        "version_id": f"{plan_id}:v{version}",
        "version": version,
    }


def render_line_item(fee, currency: str, issued: str, tz: dt.tzinfo) -> dict:
    """One fee. ``base`` is before tax (after before-tax coupons), ``amount``
    after it; one ``sales_tax`` adjustment carries the fee's taxes, as upstream
    (one tax rate per line). A line without a period spans the issue moment."""
    base_cents = fee.sub_total_excluding_taxes_amount_cents
    base = major(base_cents, currency)
    adjustments = []
    if fee.taxes_amount_cents or fee.taxes_rate:
        adjustments.append(
            {
                "amount": major_string(fee.taxes_amount_cents, currency),
                "account": SALES_TAX_ACCOUNT,
                "adjustment_type": "sales_tax",
            }
        )
    return {
        "name": fee.display_name,
        "start_date": _datetime(fee.from_datetime, tz) if fee.from_datetime else issued,
        "end_date": _datetime(fee.to_datetime, tz) if fee.to_datetime else issued,
        "quantity": float(fee.units),
        "billing_type": fee.billing_type,
        "metadata": {},
        "plan": _plan(fee),
        "subscription_filters": [
            {"value": str(f.get("value", "")), "property_name": str(f.get("property_name", ""))}
            for f in fee.subscription_filters or []
        ],
        "base": base,
        "adjustments": adjustments,
        "amount": major(base_cents + fee.taxes_amount_cents, currency),
        "subtotal": base,
    }


def customer_name(customer: Customer) -> str | None:
    full = " ".join(p for p in (customer.firstname, customer.lastname) if p)
    return customer.name or full or None


def render_seller(organization) -> dict:
    return {
        "name": organization.name,
        "address": address_block(organization),
        "phone": _or_null(organization.phone),
        "email": _or_null(organization.email),
    }


def render_lightweight_invoice(invoice: Invoice, pdf_url: str | None) -> dict:
    """An invoice without its lines and customer (a customer's ``invoices``)."""
    currency, tz = invoice.currency, invoice.customer.zone
    start, end = _period(invoice, tz)
    midnight = dt.datetime.combine(invoice.payment_due_date, dt.time(), tzinfo=tz)
    return {
        "invoice_id": invoice.lotus_id,
        "invoice_number": invoice.number,
        # Upstream's cost_due is the invoice's amount (its deprecated name).
        "cost_due": major(max(invoice.total_amount_cents, 0), currency),
        "amount": major(invoice.total_amount_cents, currency),
        "currency": currency_block(currency),
        "issue_date": _datetime(_issued_at(invoice), tz),
        "payment_status": payment_status(invoice),
        "external_payment_obj_id": _or_null(invoice.external_payment_obj_id),
        "external_payment_obj_type": _or_null(invoice.external_payment_obj_type),
        "external_payment_obj_status": _or_null(invoice.external_payment_obj_status),
        # The due day, from midnight in the customer's time zone.
        "due_date": _datetime(midnight, tz),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "seller": render_seller(invoice.organization),
        "invoice_pdf": pdf_url,
    }


# Where seed 003 puts line_items and customer among the lightweight fields.
LIGHTWEIGHT_HEAD = (
    "invoice_id", "invoice_number", "cost_due", "amount", "currency", "issue_date",
    "payment_status", "external_payment_obj_id", "external_payment_obj_type",
    "external_payment_obj_status",
)  # fmt: skip
LIGHTWEIGHT_TAIL = ("due_date", "start_date", "end_date", "seller", "invoice_pdf")


def render_invoice(invoice: Invoice, pdf_url: str | None) -> dict:
    """Upstream's invoice object plus ``external_payment_obj_status``, in the
    order of seed 003."""
    data = render_lightweight_invoice(invoice, pdf_url)
    customer = invoice.customer
    currency, tz = invoice.currency, customer.zone
    issued = data["issue_date"]
    return {
        **{k: data[k] for k in LIGHTWEIGHT_HEAD},
        "line_items": [render_line_item(fee, currency, issued, tz) for fee in _lines(invoice)],
        "customer": {
            "customer_name": customer_name(customer),
            "email": _or_null(customer.email),
            "customer_id": customer.external_id,
            "address": address_block(customer),
        },
        **{k: data[k] for k in LIGHTWEIGHT_TAIL},
    }


_ADDRESS = ("address_line1", "address_line2", "city", "state", "zipcode", "country")
# The columns ``render_invoice`` reads, by model: pdf_url reads only these for
# a stored PDF (the others are deferred; reading one would cost a query, and
# tests/invoicing/api/lotus/test_pdf_url.py counts them). Of the invoice's 37
# columns, the customer's 26 and the seller's 24, about half.
INVOICE_COLUMNS = (
    (Invoice, ("number", "currency", "status", "payment_status", "issuing_date",
               "payment_due_date", "total_amount_cents", "external_payment_obj_id",
               "external_payment_obj_type", "external_payment_obj_status", "finalized_at",
               "created_at")),
    (Customer, ("external_id", "name", "firstname", "lastname", "email", "timezone", *_ADDRESS)),
    (Organization, ("name", "phone", "email", "timezone", *_ADDRESS)),
    (Fee, ("invoice_display_name", "item_name", "item_code", "units", "amount_cents",
           "precise_coupons_amount_cents", "taxes_amount_cents", "taxes_rate", "from_datetime",
           "to_datetime", "billing_type", "plan_id", "plan_name", "plan_version",
           "subscription_filters")),
)  # fmt: skip


def render_pdf_url(invoice: Invoice, pdf_url: str | None) -> dict:
    """pdf_url's answer (``LotusInvoicePdfUrlOutput``): the invoice and ``url``."""
    data = render_invoice(invoice, pdf_url)
    data["url"] = data["invoice_pdf"]
    return data


EXTERNAL_PAYMENT_TYPES = ["stripe", "braintree"]


class EnumField(serializers.CharField):
    """A string out of ``values``, documented as the enum component ``name``.
    drf-spectacular would name it after the field, and ``payment_status``
    names another choice set on the Lago face."""

    def __init__(self, values, *, name: str, **kwargs):
        self.values = list(values)
        self.component_name = name
        super().__init__(**kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        component = ResolvedComponent(
            name=field.component_name,
            type=ResolvedComponent.SCHEMA,
            object=field.component_name,
            schema={"type": "string", "enum": field.values},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class LotusCurrencyOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    symbol = serializers.CharField()


class LotusAddressOutput(serializers.Serializer):
    city = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True, help_text="ISO 3166-1 alpha-2")
    line1 = serializers.CharField(allow_null=True)
    line2 = serializers.CharField(allow_null=True)
    postal_code = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)


class LotusPlanOutput(serializers.Serializer):
    plan_name = serializers.CharField()
    plan_id = serializers.CharField()
    version_id = serializers.CharField()
    version = serializers.IntegerField()


class LotusSubscriptionFilterOutput(serializers.Serializer):
    value = serializers.CharField()
    property_name = serializers.CharField()


class LotusAdjustmentOutput(serializers.Serializer):
    amount = serializers.CharField(help_text="Major units, 10 decimals.")
    account = serializers.CharField()
    adjustment_type = EnumField(["sales_tax", "plan_adjustment"], name="LotusAdjustmentTypeEnum")


class LotusLineItemOutput(serializers.Serializer):
    name = serializers.CharField()
    start_date = serializers.DateTimeField()
    end_date = serializers.DateTimeField()
    quantity = serializers.FloatField()
    billing_type = EnumField(
        ["in_arrears", "in_advance", "one_time", "intermediate"], name="LotusBillingTypeEnum"
    )
    metadata = serializers.DictField()
    plan = LotusPlanOutput(allow_null=True)
    subscription_filters = LotusSubscriptionFilterOutput(many=True)
    base = serializers.FloatField(help_text="Before tax.")
    adjustments = LotusAdjustmentOutput(many=True)
    amount = serializers.FloatField(help_text="After tax.")
    subtotal = serializers.FloatField(help_text="Equal to base (upstream's deprecated name).")


class LotusInvoiceCustomerOutput(serializers.Serializer):
    customer_name = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField()
    address = LotusAddressOutput(allow_null=True)


class LotusSellerOutput(serializers.Serializer):
    name = serializers.CharField()
    address = LotusAddressOutput(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)


class LotusLightweightInvoiceOutput(serializers.Serializer):
    """An invoice without its lines and customer. ``invoice_pdf`` comes from
    the context's ``pdf_urls`` (invoice id -> URL of its stored PDF): URLs are
    made at read time, never stored."""

    invoice_id = serializers.CharField()
    invoice_number = serializers.CharField()
    cost_due = serializers.FloatField()
    amount = serializers.FloatField()
    currency = LotusCurrencyOutput()
    issue_date = serializers.DateTimeField()
    payment_status = EnumField(PAYMENT_STATUSES, name="LotusPaymentStatusEnum")
    external_payment_obj_id = serializers.CharField(allow_null=True)
    external_payment_obj_type = EnumField(
        EXTERNAL_PAYMENT_TYPES, name="LotusPaymentProviderEnum", allow_null=True
    )
    external_payment_obj_status = serializers.CharField(allow_null=True)
    due_date = serializers.DateTimeField(allow_null=True)
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    seller = LotusSellerOutput()
    invoice_pdf = serializers.URLField(allow_null=True)

    def to_representation(self, instance):
        return render_lightweight_invoice(
            instance, self.context.get("pdf_urls", {}).get(instance.pk)
        )


class LotusInvoiceOutput(serializers.Serializer):
    """Upstream's ``InvoiceSerializer`` plus ``external_payment_obj_status``
    (seed 003), fields in the seed's order."""

    invoice_id = serializers.CharField()
    invoice_number = serializers.CharField()
    cost_due = serializers.FloatField()
    amount = serializers.FloatField()
    currency = LotusCurrencyOutput()
    issue_date = serializers.DateTimeField()
    payment_status = EnumField(PAYMENT_STATUSES, name="LotusPaymentStatusEnum")
    external_payment_obj_id = serializers.CharField(allow_null=True)
    external_payment_obj_type = EnumField(
        EXTERNAL_PAYMENT_TYPES, name="LotusPaymentProviderEnum", allow_null=True
    )
    external_payment_obj_status = serializers.CharField(allow_null=True)
    line_items = LotusLineItemOutput(many=True)
    customer = LotusInvoiceCustomerOutput()
    due_date = serializers.DateTimeField(allow_null=True)
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    seller = LotusSellerOutput()
    invoice_pdf = serializers.URLField(allow_null=True)

    def to_representation(self, instance):
        return render_invoice(instance, self.context.get("pdf_urls", {}).get(instance.pk))


class LotusInvoicePdfUrlOutput(LotusInvoiceOutput):
    """pdf_url's answer: the invoice, and ``url`` (what upstream's code and
    dashboard read) equal to ``invoice_pdf``; both null while the PDF is not
    ready (then a ``Retry-After`` header says when to ask again)."""

    url = serializers.URLField(allow_null=True)

    def to_representation(self, instance):
        return render_pdf_url(instance, self.context.get("pdf_urls", {}).get(instance.pk))


class LotusIntegrationsOutput(serializers.Serializer):
    stripe = serializers.DictField(allow_null=True)
    braintree = serializers.DictField(allow_null=True)


class LotusCustomerOutput(serializers.Serializer):
    """Upstream's ``CustomerSerializer``; what lotus-python's ``Customer`` model
    reads. No subscriptions, payment providers or tax providers exist here:
    those fields are empty. ``invoices`` are the finalized ones, newest first,
    loaded by the view as ``lotus_invoices``."""

    customer_id = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    customer_name = serializers.CharField(allow_null=True)
    invoices = LotusLightweightInvoiceOutput(many=True)
    total_amount_due = serializers.FloatField()
    subscriptions = serializers.ListField(child=serializers.DictField())
    integrations = LotusIntegrationsOutput()
    default_currency = LotusCurrencyOutput(allow_null=True)
    payment_provider = EnumField(
        EXTERNAL_PAYMENT_TYPES, name="LotusPaymentProviderEnum", allow_null=True
    )
    payment_provider_id = serializers.CharField(allow_null=True)
    has_payment_method = serializers.BooleanField()
    address = LotusAddressOutput(allow_null=True)
    billing_address = LotusAddressOutput(allow_null=True)
    shipping_address = LotusAddressOutput(allow_null=True)
    tax_rate = serializers.FloatField(allow_null=True)
    timezone = serializers.CharField()
    tax_providers = serializers.ListField(child=serializers.CharField())

    def to_representation(self, instance):
        customer = instance
        invoices = getattr(customer, "lotus_invoices", [])
        urls = self.context.get("pdf_urls", {})
        unpaid = [i for i in invoices if payment_status(i) == "unpaid"]
        # A customer's currency is fixed once invoiced: one currency to sum.
        due = (
            major(sum(i.total_due_amount_cents for i in unpaid), unpaid[0].currency)
            if unpaid
            else 0.0
        )
        address = address_block(customer)
        return {
            "customer_id": customer.external_id,
            "email": _or_null(customer.email),
            "customer_name": customer_name(customer),
            "invoices": [render_lightweight_invoice(i, urls.get(i.pk)) for i in invoices],
            "total_amount_due": due,
            "subscriptions": [],
            "integrations": {"stripe": None, "braintree": None},
            "default_currency": currency_block(customer.currency) if customer.currency else None,
            "payment_provider": None,
            "payment_provider_id": None,
            "has_payment_method": False,
            "address": address,
            "billing_address": address,
            "shipping_address": None,
            "tax_rate": None,
            "timezone": customer.applicable_timezone,
            "tax_providers": [],
        }
