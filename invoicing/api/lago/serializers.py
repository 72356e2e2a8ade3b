"""The Lago face's input and output shapes (getlago/lago-openapi schemas)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from invoicing.api.fields import (
    CountryField,
    CurrencyField,
    FlexibleDecimalField,
    InputSerializer,
    MinorUnitsField,
    TimezoneField,
)
from invoicing.models import Customer, Invoice, Organization, VatCategory
from invoicing.money import MAX_AMOUNT_CENTS, currency_exponent

# Largest number of fees one invoice may carry (the renderer is measured up to
# 10,000 lines).
MAX_FEES = 10_000

# ---------------------------------------------------------------- input


class MetadataItemInput(InputSerializer):
    id = serializers.CharField(required=False, max_length=64)
    key = serializers.CharField(max_length=255)
    value = serializers.CharField(max_length=1000, allow_blank=True)
    display_in_invoice = serializers.BooleanField(required=False)


class BillingConfigurationInput(InputSerializer):
    document_locale = serializers.CharField(required=False, max_length=16, allow_blank=True)


class CustomerInput(InputSerializer):
    external_id = serializers.CharField(max_length=255)
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
    email = serializers.CharField(required=False, max_length=255, allow_blank=True)
    phone = serializers.CharField(required=False, max_length=64, allow_blank=True)
    url = serializers.CharField(required=False, max_length=255, allow_blank=True)
    address_line1 = serializers.CharField(required=False, max_length=255, allow_blank=True)
    address_line2 = serializers.CharField(required=False, max_length=255, allow_blank=True)
    city = serializers.CharField(required=False, max_length=255, allow_blank=True)
    state = serializers.CharField(required=False, max_length=255, allow_blank=True)
    zipcode = serializers.CharField(required=False, max_length=64, allow_blank=True)
    country = CountryField(required=False)
    currency = CurrencyField(required=False)
    timezone = TimezoneField(required=False, max_length=64, allow_blank=True)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    metadata = MetadataItemInput(many=True, required=False)
    billing_configuration = BillingConfigurationInput(required=False)
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )

    def validate(self, attrs):
        billing = attrs.pop("billing_configuration", None) or {}
        if "document_locale" in billing:
            attrs["document_locale"] = billing["document_locale"]
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
    units = FlexibleDecimalField(
        required=False, max_digits=22, decimal_places=10, min_value=Decimal("0.0000000001")
    )
    unit_amount_cents = MinorUnitsField(
        required=False, min_value=Decimal(0), max_value=Decimal(MAX_AMOUNT_CENTS)
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    invoice_display_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    from_datetime = serializers.DateTimeField(required=False)
    to_datetime = serializers.DateTimeField(required=False)
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )


class InvoiceCreateInput(InputSerializer):
    external_customer_id = serializers.CharField(max_length=255)
    currency = CurrencyField(required=False)
    status = serializers.ChoiceField(
        required=False, choices=[Invoice.Status.DRAFT, Invoice.Status.FINALIZED]
    )
    purchase_order_number = serializers.CharField(required=False, allow_blank=True, max_length=255)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    fees = InvoiceFeeInput(many=True, allow_empty=False, max_length=MAX_FEES)
    metadata = MetadataItemInput(many=True, required=False, max_length=50)


class InvoiceUpdateInput(InputSerializer):
    payment_status = serializers.ChoiceField(required=False, choices=Invoice.PaymentStatus.values)
    metadata = MetadataItemInput(many=True, required=False, max_length=50)


class InvoiceListFilters(InputSerializer):
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    external_customer_id = serializers.CharField(required=False, max_length=255)
    status = serializers.ChoiceField(required=False, choices=Invoice.Status.values)
    payment_status = serializers.ChoiceField(required=False, choices=Invoice.PaymentStatus.values)
    issuing_date_from = serializers.DateField(required=False)
    issuing_date_to = serializers.DateField(required=False)


class PageFilters(InputSerializer):
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


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


class TaxOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    rate = serializers.FloatField()
    description = serializers.CharField(allow_null=True)
    applied_to_organization = serializers.BooleanField()
    add_ons_count = serializers.SerializerMethodField()
    customers_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    vat_category_code = serializers.ChoiceField(choices=VatCategory.values)
    vat_exemption_reason = serializers.SerializerMethodField()
    vat_exemption_reason_code = serializers.SerializerMethodField()

    def get_vat_exemption_reason(self, tax) -> str | None:
        return tax.vat_exemption_reason or None

    def get_vat_exemption_reason_code(self, tax) -> str | None:
        return tax.vat_exemption_reason_code or None

    def get_add_ons_count(self, tax) -> int:
        return tax.add_ons.count()

    def get_customers_count(self, tax) -> int:
        return tax.customers.count()

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
    created_at = serializers.DateTimeField()
    taxes = TaxOutput(many=True, source="taxes.all")


class MetadataOutput(serializers.Serializer):
    lago_id = serializers.CharField(source="id")
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField()
    created_at = serializers.CharField(required=False)


class BillingConfigurationOutput(serializers.Serializer):
    document_locale = serializers.SerializerMethodField()
    invoice_grace_period = serializers.SerializerMethodField()

    def get_document_locale(self, customer) -> str | None:
        return customer.document_locale or None

    def get_invoice_grace_period(self, customer) -> int:
        return 0

    def to_representation(self, instance):
        return render_customer(instance)["billing_configuration"]


def _blank_as_null(value):
    return value if value not in ("", None) else None


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


def _datetime(value) -> str | None:
    """DRF's ISO 8601: in the current time zone, ``Z`` for UTC."""
    if not value:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def render_tax(tax, counts: bool = True) -> dict:
    """``V1::TaxSerializer``, plus the EN 16931 category and exemption reason.
    ``counts=False`` (a customer's taxes) spares two queries per tax."""
    return {
        "lago_id": str(tax.id),
        "name": _str(tax.name),
        "code": _str(tax.code),
        "rate": _float(tax.rate),
        "description": _str(tax.description),
        "applied_to_organization": bool(tax.applied_to_organization),
        "add_ons_count": tax.add_ons.count() if counts else 0,
        "customers_count": tax.customers.count() if counts else 0,
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
        data["taxes"] = [render_tax(t, counts=False) for t in customer.taxes.all()]
    return data


def _render_customer(customer) -> dict:
    return {
        "lago_id": str(customer.id),
        "external_id": _str(customer.external_id),
        "account_type": "customer",
        "name": _str(customer.name),
        "firstname": _str(customer.firstname),
        "lastname": _str(customer.lastname),
        "customer_type": _blank_as_null(customer.customer_type),
        "sequential_id": None,
        "slug": None,
        "created_at": _datetime(customer.created_at),
        "updated_at": _datetime(customer.updated_at),
        "country": _blank_as_null(customer.country),
        "address_line1": _str(customer.address_line1),
        "address_line2": _str(customer.address_line2),
        "state": _str(customer.state),
        "zipcode": _str(customer.zipcode),
        "email": _str(customer.email),
        "city": _str(customer.city),
        "url": _str(customer.url),
        "phone": _str(customer.phone),
        "logo_url": None,
        "legal_name": _str(customer.legal_name),
        "legal_number": _str(customer.legal_number),
        "currency": _blank_as_null(customer.currency),
        "tax_identification_number": _str(customer.tax_identification_number),
        "timezone": _blank_as_null(customer.timezone),
        "applicable_timezone": _str(customer.applicable_timezone),
        "net_payment_term": _int(customer.net_payment_term),
        "billing_configuration": {
            "document_locale": customer.document_locale or None,
            "invoice_grace_period": 0,
        },
        "metadata": [
            {
                "lago_id": m["id"],
                "key": m["key"],
                "value": m["value"],
                "display_in_invoice": m.get("display_in_invoice", False),
                "created_at": None,
            }
            for m in customer.metadata
        ],
    }


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
    (Organization, ("timezone",)),
)  # fmt: skip


def render_invoice_base(invoice, file_url: str | None = None) -> dict:
    return {
        "lago_id": str(invoice.id),
        "billing_entity_code": None,
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
        "payment_dispute_lost_at": _datetime(invoice.payment_dispute_lost_at),
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
    return [
        {
            "lago_id": m["id"],
            "key": m["key"],
            "value": m["value"],
            "display_in_invoice": m.get("display_in_invoice", True),
            "created_at": m.get("created_at"),
        }
        for m in invoice.metadata
    ]


def render_invoice(invoice) -> dict:
    """The full invoice: fees, taxes and credits loaded beforehand
    (``selectors.invoice_load_details``)."""
    data = render_invoice_base(invoice)
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


def render_invoice_list_item(invoice) -> dict:
    data = render_invoice_base(invoice)
    data["customer"] = render_customer(invoice.customer)
    data["metadata"] = render_invoice_metadata(invoice)
    data["applied_taxes"] = [
        render_invoice_applied_tax(a, invoice) for a in invoice.applied_taxes.all()
    ]
    return data


class CustomerOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    account_type = serializers.SerializerMethodField()
    name = serializers.CharField()
    firstname = serializers.CharField()
    lastname = serializers.CharField()
    customer_type = serializers.SerializerMethodField()
    sequential_id = serializers.SerializerMethodField()
    slug = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    country = serializers.SerializerMethodField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    state = serializers.CharField()
    zipcode = serializers.CharField()
    email = serializers.CharField()
    city = serializers.CharField()
    url = serializers.CharField()
    phone = serializers.CharField()
    logo_url = serializers.SerializerMethodField()
    legal_name = serializers.CharField()
    legal_number = serializers.CharField()
    currency = serializers.SerializerMethodField()
    tax_identification_number = serializers.CharField()
    timezone = serializers.SerializerMethodField()
    applicable_timezone = serializers.CharField()
    net_payment_term = serializers.IntegerField(allow_null=True)
    billing_configuration = BillingConfigurationOutput(source="*")
    metadata = serializers.SerializerMethodField()

    def get_account_type(self, customer) -> str:
        return "customer"

    def get_customer_type(self, customer) -> str | None:
        return _blank_as_null(customer.customer_type)

    def get_sequential_id(self, customer) -> int | None:
        return None

    def get_slug(self, customer) -> str | None:
        return None

    def get_country(self, customer) -> str | None:
        return _blank_as_null(customer.country)

    def get_logo_url(self, customer) -> str | None:
        return None

    def get_currency(self, customer) -> str | None:
        return _blank_as_null(customer.currency)

    def get_timezone(self, customer) -> str | None:
        return _blank_as_null(customer.timezone)

    def get_metadata(self, customer) -> list[dict]:
        return [
            {
                "lago_id": m["id"],
                "key": m["key"],
                "value": m["value"],
                "display_in_invoice": m.get("display_in_invoice", False),
                "created_at": None,
            }
            for m in customer.metadata
        ]

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
    billing_entity_code = serializers.SerializerMethodField()
    sequential_id = serializers.IntegerField(allow_null=True)
    number = serializers.SerializerMethodField()
    purchase_order_number = serializers.SerializerMethodField()
    issuing_date = serializers.DateField()
    payment_due_date = serializers.DateField()
    net_payment_term = serializers.IntegerField()
    invoice_type = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_dispute_lost_at = serializers.DateTimeField(allow_null=True)
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
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(allow_null=True)

    def get_billing_entity_code(self, invoice) -> str | None:
        return None

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
    created_at = serializers.DateTimeField()
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
    created_at = serializers.DateTimeField()
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
    created_at = serializers.DateTimeField()
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

    def get_metadata(self, invoice) -> list[dict]:
        return render_invoice_metadata(invoice)

    def to_representation(self, instance):
        return render_invoice(instance)


class InvoiceListItemOutput(InvoiceBaseOutput):
    customer = CustomerOutput()
    metadata = serializers.SerializerMethodField()
    applied_taxes = InvoiceAppliedTaxOutput(many=True, source="applied_taxes.all")

    get_metadata = InvoiceOutput.get_metadata

    def to_representation(self, instance):
        return render_invoice_list_item(instance)


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
    created_at = serializers.DateTimeField()

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


class WebhookPublicKeyOutput(serializers.Serializer):
    public_key = serializers.CharField(help_text="Base64 of the RSA public key's PEM")
