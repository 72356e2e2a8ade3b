"""The Lago face's wire shapes (lago-api's ``V1::*Serializer``), declared once:
the API responses, the webhook payloads and the OpenAPI schema all come from
these declarations.

Where lago-api's serializers and its published OpenAPI document disagree,
lago-api is followed (it is what clients meet) and the field says so.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from invoicing.models import (
    AddOn,
    CreditNote,
    Customer,
    Fee,
    Invoice,
    Organization,
    Tax,
    VatCategory,
)
from invoicing.representations.declare import (
    BOOLEAN,
    DATE,
    DATETIME,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    URI,
    UUID,
    Field,
    Shape,
    column,
    constant,
)
from invoicing.representations.formats import (
    blank_as_null,
    integer,
    iso_date,
    lago_datetime,
    number,
    precise_major,
    rails_json_datetime,
    ruby_decimal,
    text,
)

# ------------------------------------------------------------------- taxes

_tax = functools.partial(column, model=Tax)

_TAX_CORE = [
    _tax("lago_id", UUID, "id", convert=str),
    _tax("name", STRING, convert=text),
    _tax("code", STRING, convert=text),
    _tax("rate", NUMBER, convert=number),
    _tax("description", STRING, convert=blank_as_null, null=True),
    _tax("applied_to_organization", BOOLEAN, convert=bool),
    # lago-api writes every count as 0 (it stopped counting them); so do
    # we, which also keeps a list of taxes at one query.
    constant("add_ons_count", INTEGER, 0),
    constant("customers_count", INTEGER, 0),
    constant("plans_count", INTEGER, 0),
    constant("charges_count", INTEGER, 0),
    constant("commitments_count", INTEGER, 0),
    _tax("created_at", DATETIME, convert=lago_datetime),
]
# Beyond Lago: the tax's EN 16931 category and exemption reason.
_TAX_VAT = [
    _tax("vat_category_code", STRING, enum=tuple(VatCategory.values)),
    _tax("vat_exemption_reason", STRING, convert=blank_as_null, null=True),
    _tax("vat_exemption_reason_code", STRING, convert=blank_as_null, null=True),
]

TAX = Shape(
    "TaxOutput",
    [*_TAX_CORE, *_TAX_VAT],
    doc="``V1::TaxSerializer``, plus the EN 16931 category and exemption reason.",
    model=Tax,
)


def _billing_entities(tax, ctx) -> list[str]:
    # The organization's one billing entity holds the taxes applied to it;
    # the caller hands in its code (the tax endpoints know their organization).
    return [ctx["billing_entity_code"]] if tax.applied_to_organization else []


TAX_WITH_BILLING_ENTITIES = Shape(
    "TaxWithBillingEntitiesOutput",
    [
        *_TAX_CORE,
        Field("applied_to_billing_entities_codes", STRING, _billing_entities, many=True),
        *_TAX_VAT,
    ],
    doc="``V1::TaxWithBillingEntitiesSerializer`` (the tax endpoints' own).",
    model=Tax,
)

# ----------------------------------------------------------------- add-ons

_add_on = functools.partial(column, model=AddOn)

ADD_ON = Shape(
    "AddOnOutput",
    [
        _add_on("lago_id", UUID, "id", convert=str),
        _add_on("name", STRING),
        _add_on("invoice_display_name", STRING, convert=blank_as_null, null=True),
        _add_on("code", STRING),
        _add_on("amount_cents", INTEGER),
        _add_on("amount_currency", STRING),
        _add_on("description", STRING, convert=blank_as_null, null=True),
        _add_on("created_at", DATETIME, convert=lago_datetime),
        # Beyond Lago: the unit of its fees' quantities (EN 16931 BT-130).
        _add_on("unit_code", STRING),
        Field("taxes", TAX, lambda add_on, ctx: add_on.taxes.all(), many=True),
    ],
    doc="``V1::AddOnSerializer`` with its taxes.",
    model=AddOn,
)

# ----------------------------------------------------------- organization

_organization = functools.partial(column, model=Organization)


def _organization_text(name: str) -> Field:
    return _organization(name, STRING, convert=blank_as_null, null=True)


ORGANIZATION_BILLING_CONFIGURATION = Shape(
    "OrganizationBillingConfigurationOutput",
    [
        _organization_text("invoice_footer"),
        constant("invoice_grace_period", INTEGER, None, null=True),
        _organization("document_locale", STRING),
    ],
    doc="lago-api's organization ``billing_configuration``.",
    model=Organization,
)

ORGANIZATION = Shape(
    "OrganizationOutput",
    [
        _organization("lago_id", UUID, "id", convert=str),
        _organization("name", STRING),
        _organization("default_currency", STRING),
        _organization("created_at", DATETIME, convert=lago_datetime),
        *(
            _organization_text(name)
            for name in (
                "country",
                "address_line1",
                "address_line2",
                "state",
                "zipcode",
                "email",
                "city",
                "legal_name",
                "legal_number",
            )
        ),  # fmt: skip
        _organization("timezone", STRING),
        _organization("net_payment_term", INTEGER),
        _organization_text("tax_identification_number"),
        Field(
            "document_number_prefix",
            STRING,
            lambda o, ctx: o.document_number_prefix,
            reads=((Organization, ("name", "number_prefix")),),
        ),
        Field("billing_configuration", ORGANIZATION_BILLING_CONFIGURATION, lambda o, ctx: o),
        # Beyond Lago: e-invoicing (EN 16931) and the seller's data it needs.
        _organization("einvoicing_enabled", BOOLEAN, convert=bool),
        _organization_text("electronic_address"),
        _organization_text("electronic_address_scheme"),
        _organization_text("iban"),
        _organization_text("bic"),
    ],
    doc="``V1::OrganizationSerializer``: the fields this service keeps.",
    model=Organization,
)

# --------------------------------------------------------------- customers


def _metadata_created_at(default_attr: str):
    # Items stored before their creation time was kept carry their owner's.
    def get(item, ctx):
        return lago_datetime(item.get("created_at")) or lago_datetime(ctx[default_attr])

    return get


def _metadata_shape(name: str, *, shown_by_default: bool, owner: str, doc: str) -> Shape:
    return Shape(
        name,
        [
            Field("lago_id", STRING, lambda m, ctx: m["id"]),
            Field("key", STRING, lambda m, ctx: m["key"]),
            Field("value", STRING, lambda m, ctx: m["value"]),
            Field(
                "display_in_invoice",
                BOOLEAN,
                lambda m, ctx: m.get("display_in_invoice", shown_by_default),
            ),
            Field("created_at", DATETIME, _metadata_created_at(owner)),
        ],
        doc=doc,
    )


CUSTOMER_METADATA = _metadata_shape(
    "CustomerMetadataOutput",
    shown_by_default=False,
    owner="customer_created_at",
    doc="``V1::Customers::MetadataSerializer``.",
)
INVOICE_METADATA = _metadata_shape(
    "InvoiceMetadataOutput",
    shown_by_default=True,
    owner="invoice_created_at",
    doc="``V1::Invoices::MetadataSerializer``, plus ``display_in_invoice``.",
)


def _unset(name: str, kind: str) -> Field:
    # What this service does not keep: null, as lago-api's unset columns.
    return constant(name, kind, None, null=True)


BILLING_CONFIGURATION = Shape(
    "BillingConfigurationOutput",
    [
        _unset("invoice_grace_period", INTEGER),
        _unset("payment_provider", STRING),
        _unset("payment_provider_code", STRING),
        column("document_locale", STRING, convert=blank_as_null, null=True, model=Customer),
        _unset("subscription_invoice_issuing_date_anchor", STRING),
        _unset("subscription_invoice_issuing_date_adjustment", STRING),
    ],
    doc="lago-api's customer ``billing_configuration`` with no payment provider.",
)

_customer = functools.partial(column, model=Customer)


def _customer_text(name: str, attr: str | None = None) -> Field:
    # Every text column unset here is "" and Lago's null (its columns are
    # nullable with no default).
    return _customer(name, STRING, attr, convert=blank_as_null, null=True)


def _with_customer_created_at(customer, ctx) -> dict:
    return {**ctx, "customer_created_at": customer.created_at}


SHIPPING_ADDRESS = Shape(
    "ShippingAddressOutput",
    [
        column(name, STRING, f"shipping_{name}", convert=blank_as_null, null=True, model=Customer)
        for name in ("address_line1", "address_line2", "city", "zipcode", "state", "country")
    ],
    doc="``Customer#shipping_address``: every key present, null when unset.",
)


def _none_yet(name: str) -> Field:
    # Collections of things this service does not have (integrations,
    # custom sections, subscriptions, error details): always empty.
    return constant(name, OBJECT, [], many=True)


_CUSTOMER_CORE = Shape(
    "CustomerCoreOutput",
    [
        _customer("lago_id", UUID, "id", convert=str),
        Field(
            "billing_entity_code",
            STRING,
            lambda c, ctx: c.organization.billing_entity_code,
            reads=((Organization, ("billing_entity_code",)),),
        ),
        _customer("external_id", STRING, convert=text),
        constant("account_type", STRING, "customer", enum=("customer", "partner")),
        _customer_text("name"),
        _customer_text("firstname"),
        _customer_text("lastname"),
        _customer(
            "customer_type",
            STRING,
            convert=blank_as_null,
            null=True,
            enum=("company", "individual"),
        ),
        _customer("sequential_id", INTEGER, convert=integer, null=True),
        _customer_text("slug"),
        _customer("created_at", DATETIME, convert=lago_datetime),
        _customer("updated_at", DATETIME, convert=lago_datetime),
        _customer_text("country"),
        _customer_text("address_line1"),
        _customer_text("address_line2"),
        _customer_text("state"),
        _customer_text("zipcode"),
        _customer_text("email"),
        _customer_text("city"),
        _customer_text("url"),
        _customer_text("phone"),
        _unset("logo_url", URI),
        _customer_text("legal_name"),
        _customer_text("legal_number"),
        _customer_text("currency"),
        _customer_text("tax_identification_number"),
        _customer_text("timezone"),
        Field(
            "applicable_timezone",
            STRING,
            lambda c, ctx: c.applicable_timezone,
            reads=((Customer, ("timezone",)), (Organization, ("timezone",))),
        ),
        _customer("net_payment_term", INTEGER, convert=integer, null=True),
        _customer_text("external_salesforce_id"),
        _customer("finalize_zero_amount_invoice", STRING, enum=("inherit", "skip", "finalize")),
        Field("billing_configuration", BILLING_CONFIGURATION, lambda c, ctx: c),
        Field("shipping_address", SHIPPING_ADDRESS, lambda c, ctx: c),
        _customer("skip_invoice_custom_sections", BOOLEAN, convert=bool),
        # Beyond Lago: the buyer's e-invoicing data (EN 16931 BT-10, BT-49).
        _customer_text("buyer_reference"),
        _customer_text("electronic_address"),
        _customer_text("electronic_address_scheme"),
        Field(
            "metadata",
            CUSTOMER_METADATA,
            lambda c, ctx: c.metadata,
            many=True,
            within=_with_customer_created_at,
            reads=((Customer, ("metadata",)),),
        ),
    ],
    doc="``V1::CustomerSerializer`` (an invoice's customer carries no taxes).",
    model=Customer,
)

_TAXES = Field("taxes", TAX, lambda c, ctx: c.taxes.all(), many=True)

CUSTOMER = _CUSTOMER_CORE.extend(
    "CustomerOutput",
    [_none_yet("integration_customers")],
    doc="An invoice's customer: ``V1::CustomerSerializer`` with its integrations.",
)
CUSTOMER_WITH_TAXES = _CUSTOMER_CORE.extend(
    "CustomerWithTaxesOutput",
    [_TAXES, _none_yet("integration_customers")],
    doc="A customer of the customer list: with its taxes and integrations.",
)
CUSTOMER_DETAILED = _CUSTOMER_CORE.extend(
    "CustomerDetailedOutput",
    [
        _TAXES,
        _none_yet("integration_customers"),
        _none_yet("applicable_invoice_custom_sections"),
        _none_yet("error_details"),
    ],
    doc="The customer of show, create and update: everything lago-api includes.",
)

# ---------------------------------------------------------------- invoices


def _payment_overdue(invoice, ctx) -> bool:
    """Past its due date, unpaid: the due date is a day in the customer's time
    zone, so it is compared with the customer's today, not UTC's."""
    if invoice.status != Invoice.Status.FINALIZED:
        return False
    if invoice.payment_status == Invoice.PaymentStatus.SUCCEEDED:
        return False
    return invoice.payment_due_date < invoice.customer.today()


def _file_url(invoice, ctx) -> str | None:
    # URLs are made at read time (they are signed and expire), never stored:
    # the caller hands in those of the invoices whose PDF is stored.
    return ctx.get("pdf_urls", {}).get(invoice.pk)


def _xml_url(invoice, ctx) -> str | None:
    # The UBL XML stored beside the PDF of an e-invoicing organization's
    # invoice (lago-api's ``Invoice#xml_url``); null when there is none.
    return ctx.get("xml_urls", {}).get(invoice.pk)


def _draft_number(invoice, ctx) -> str:
    # Lago numbers a draft ``<document prefix>-DRAFT`` (Invoice#ensure_number);
    # its clients require a number.
    return invoice.number or f"{invoice.customer.organization.document_number_prefix}-DRAFT"


_invoice = functools.partial(column, model=Invoice)


def _cents(name: str) -> Field:
    return _invoice(name, INTEGER, convert=integer)


def _prepaid_split(name: str) -> Field:
    # lago-api's columns are null until prepaid credits are applied
    # (Credits::AppliedPrepaidCreditsService sets both).
    def get(invoice, ctx):
        return getattr(invoice, name) if invoice.prepaid_credit_amount_cents else None

    return Field(
        name, INTEGER, get, null=True, reads=((Invoice, (name, "prepaid_credit_amount_cents")),)
    )


INVOICE_BASE = Shape(
    "InvoiceBaseOutput",
    [
        _invoice("lago_id", UUID, "id", convert=str),
        # The organization's one billing entity, read through the customer.
        Field(
            "billing_entity_code",
            STRING,
            lambda i, ctx: i.customer.organization.billing_entity_code,
            reads=((Organization, ("billing_entity_code",)),),
        ),
        _invoice("sequential_id", INTEGER, convert=integer, null=True),
        Field(
            "number",
            STRING,
            _draft_number,
            reads=((Invoice, ("number",)), (Organization, ("name", "number_prefix"))),
        ),
        _invoice("purchase_order_number", STRING, convert=blank_as_null, null=True),
        _invoice("issuing_date", DATE, convert=iso_date),
        _invoice("payment_due_date", DATE, convert=iso_date),
        _invoice("net_payment_term", INTEGER, convert=integer),
        _invoice(
            "invoice_type",
            STRING,
            convert=text,
            enum=(
                "subscription",
                "add_on",
                "credit",
                "one_off",
                "advance_charges",
                "progressive_billing",
            ),
        ),
        _invoice(
            "status",
            STRING,
            convert=text,
            enum=("draft", "finalized", "voided", "pending", "failed"),
            enum_name="InvoiceStatusEnum",
        ),
        _invoice("payment_status", STRING, convert=text, enum=("pending", "succeeded", "failed")),
        _invoice("payment_dispute_lost_at", DATETIME, convert=rails_json_datetime, null=True),
        Field(
            "payment_overdue",
            BOOLEAN,
            _payment_overdue,
            reads=(
                (Invoice, ("status", "payment_status", "payment_due_date")),
                (Customer, ("timezone",)),
                (Organization, ("timezone",)),
            ),
        ),
        _invoice("currency", STRING, convert=text),
        _cents("fees_amount_cents"),
        _cents("taxes_amount_cents"),
        _cents("progressive_billing_credit_amount_cents"),
        _cents("coupons_amount_cents"),
        _cents("credit_notes_amount_cents"),
        _cents("sub_total_excluding_taxes_amount_cents"),
        _cents("sub_total_including_taxes_amount_cents"),
        _cents("total_amount_cents"),
        Field(
            "total_due_amount_cents",
            INTEGER,
            lambda i, ctx: i.total_due_amount_cents,
            reads=((Invoice, ("total_amount_cents", "total_paid_amount_cents")),),
        ),
        _cents("total_paid_amount_cents"),
        constant("total_offsetted_credit_note_amount_cents", INTEGER, 0),
        _cents("prepaid_credit_amount_cents"),
        _prepaid_split("prepaid_granted_credit_amount_cents"),
        _prepaid_split("prepaid_purchased_credit_amount_cents"),
        Field("file_url", URI, _file_url, null=True),
        Field("xml_url", URI, _xml_url, null=True),
        _unset("web_url", URI),
        _invoice("version_number", INTEGER, convert=integer),
        constant("self_billed", BOOLEAN, False),
        _invoice("created_at", DATETIME, convert=lago_datetime),
        _invoice("updated_at", DATETIME, convert=lago_datetime),
        _invoice("voided_at", DATETIME, convert=lago_datetime, null=True),
    ],
    doc="``V1::InvoiceSerializer`` without its includes, field order kept.",
    model=Invoice,
)

# -------------------------------------------------------------------- fees


def _boundary(attr: str):
    """A fee's period bound as lago-api writes it (``Fee#from_date``:
    ``to_datetime.iso8601``): UTC, whole seconds, ``+00:00``. A fee sent
    without a period spans the moment it was made, Lago's default
    (``Fees::OneOffService#from_datetime``); the row keeps "no period", so
    the PDF and the Lotus face print none."""

    def get(fee, ctx):
        value = getattr(fee, attr) or fee.created_at
        return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()

    return get


_vat_fields = (
    # Beyond Lago: the EN 16931 category the tax had when the invoice was made.
    column("vat_category_code", STRING, enum=tuple(VatCategory.values)),
    column("vat_exemption_reason", STRING, convert=blank_as_null, null=True),
    column("vat_exemption_reason_code", STRING, convert=blank_as_null, null=True),
)


def _currency(obj, ctx) -> str:
    # An invoice's amounts are all in its currency; children render with
    # their invoice in the context.
    return ctx["invoice"].currency


# What an applied tax copied from its tax when the invoice was made, and its amount.
_applied_tax_fields = (
    column("lago_tax_id", UUID, "tax_id", convert=text, null=True),
    column("tax_name", STRING, convert=text),
    column("tax_code", STRING, convert=text),
    column("tax_rate", NUMBER, convert=number),
    column("tax_description", STRING, convert=blank_as_null, null=True),
    column("amount_cents", INTEGER, convert=integer),
    Field("amount_currency", STRING, _currency),
)

FEE_APPLIED_TAX = Shape(
    "FeeAppliedTaxOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("lago_fee_id", UUID, "fee_id", convert=str),
        *_applied_tax_fields,
        column("created_at", DATETIME, convert=lago_datetime),
        *_vat_fields,
    ],
    doc="``V1::Fees::AppliedTaxSerializer``, plus the EN 16931 category.",
)

FEE_ITEM = Shape(
    "FeeItemOutput",
    [
        column("type", STRING, "item_type", convert=text),
        column("code", STRING, "item_code", convert=text),
        column("name", STRING, "item_name", convert=text),
        # The add-on's description (Fee#item_description), kept with the fee.
        column("description", STRING, "item_description", convert=blank_as_null, null=True),
        Field("invoice_display_name", STRING, lambda fee, ctx: fee.display_name),
        # A charge filter's (no charges here).
        _unset("filters", OBJECT),
        _unset("filter_invoice_display_name", STRING),
        column("lago_item_id", UUID, "add_on_id", convert=text, null=True),
        Field(
            "item_type",
            STRING,
            lambda fee, ctx: "AddOn" if fee.item_type == "add_on" else fee.item_type,
        ),
        constant("grouped_by", OBJECT, {}),
    ],
)


def _precise(attr: str):
    def get(fee, ctx):
        return precise_major(getattr(fee, attr), ctx["invoice"].currency)

    return get


FEE = Shape(
    "FeeOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        _unset("lago_charge_id", UUID),
        _unset("lago_charge_filter_id", UUID),
        _unset("lago_fixed_charge_id", UUID),
        column("lago_invoice_id", UUID, "invoice_id", convert=str),
        _unset("lago_true_up_fee_id", UUID),
        _unset("lago_true_up_parent_fee_id", UUID),
        _unset("lago_original_fee_id", UUID),
        _unset("lago_subscription_id", UUID),
        column("external_subscription_id", STRING, convert=blank_as_null, null=True),
        Field("lago_customer_id", UUID, lambda fee, ctx: str(ctx["invoice"].customer_id)),
        Field(
            "external_customer_id",
            STRING,
            lambda fee, ctx: text(ctx["invoice"].customer.external_id),
        ),
        Field("item", FEE_ITEM, lambda fee, ctx: fee),
        Field("pay_in_advance", BOOLEAN, lambda fee, ctx: fee.billing_type == "in_advance"),
        constant("invoiceable", BOOLEAN, True),
        column("amount_cents", INTEGER, convert=integer),
        Field("amount_currency", STRING, _currency),
        Field("precise_amount", STRING, _precise("precise_amount_cents")),
        Field("precise_total_amount", STRING, _precise("precise_total_amount_cents")),
        column("taxes_amount_cents", INTEGER, convert=integer),
        Field("taxes_precise_amount", STRING, _precise("taxes_precise_amount_cents")),
        column("taxes_rate", NUMBER, convert=number),
        # lago-api fills it for charges only; an add-on fee's is null.
        _unset("total_aggregated_units", STRING),
        column("total_amount_cents", INTEGER, convert=integer),
        Field("total_amount_currency", STRING, _currency),
        column("units", STRING, convert=ruby_decimal),
        column("description", STRING, convert=blank_as_null, null=True),
        Field("precise_unit_amount", STRING, _precise("unit_amount_cents")),
        column("precise_coupons_amount_cents", STRING, convert=ruby_decimal),
        column("sub_total_excluding_taxes_amount_cents", INTEGER, convert=integer),
        column("sub_total_excluding_taxes_precise_amount_cents", STRING, convert=ruby_decimal),
        constant("events_count", INTEGER, 0),
        Field(
            "payment_status",
            STRING,
            lambda fee, ctx: ctx["invoice"].payment_status,
            enum=("pending", "succeeded", "failed", "refunded"),
            enum_name="FeePaymentStatusEnum",
        ),
        column("created_at", DATETIME, convert=lago_datetime),
        _unset("succeeded_at", DATETIME),
        _unset("failed_at", DATETIME),
        _unset("refunded_at", DATETIME),
        constant("amount_details", OBJECT, {}),
        constant("self_billed", BOOLEAN, False),
        # Only fees priced in a custom pricing unit (charges) carry details.
        _unset("pricing_unit_details", OBJECT),
        constant("presentation_breakdowns", OBJECT, [], many=True),
        Field("from_date", DATETIME, _boundary("from_datetime")),
        Field("to_date", DATETIME, _boundary("to_datetime")),
        Field(
            "applied_taxes", FEE_APPLIED_TAX, lambda fee, ctx: fee.applied_taxes.all(), many=True
        ),
    ],
    doc="``V1::FeeSerializer`` of a one-off (add-on) fee.",
    model=Fee,
)

# ------------------------------------------------- credits, applied taxes

_CREDIT_ITEM_TYPES = {"coupon": "coupon", "credit_note": "credit_note"}
# Prepaid (wallet) credits are no credits in lago-api: only the invoice's
# ``prepaid_credit_amount_cents`` tells them.
LISTED_CREDIT_KINDS = tuple(_CREDIT_ITEM_TYPES)


def _credit_item_id(credit, ctx) -> str:
    """The coupon's or credit note's id in lago-api. This service keeps no
    coupon or credit note objects, only what a credit took; the id is made
    from the organization and the item's code, so every credit of one coupon
    names the same item."""
    if credit.credit_note_id is not None:
        # A credit note's credit names the credit note (``Credit#item_id``).
        return str(credit.credit_note_id)
    organization_id = ctx["invoice"].organization_id
    return str(uuid.uuid5(organization_id, f"{credit.kind}:{credit.code}"))


CREDIT_ITEM = Shape(
    "CreditItemOutput",
    [
        Field("lago_item_id", UUID, _credit_item_id),
        Field(
            "type",
            STRING,
            lambda c, ctx: _CREDIT_ITEM_TYPES[c.kind],
            enum=("coupon", "credit_note", "invoice"),
        ),
        column("code", STRING, convert=blank_as_null, null=True),
        column("name", STRING, convert=blank_as_null, null=True),
        # The coupon's or credit note's description, which is not kept here.
        _unset("description", STRING),
    ],
)

CREDIT_INVOICE = Shape(
    "CreditInvoiceOutput",
    [
        column("lago_id", UUID, "invoice_id", convert=str),
        Field(
            "payment_status",
            STRING,
            lambda c, ctx: ctx["invoice"].payment_status,
            enum=("pending", "succeeded", "failed"),
            enum_name="InvoicePaymentStatusEnum",
        ),
    ],
)

CREDIT = Shape(
    "CreditOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("amount_cents", INTEGER, convert=integer),
        Field("amount_currency", STRING, _currency),
        column("before_taxes", BOOLEAN, convert=bool),
        Field("item", CREDIT_ITEM, lambda c, ctx: c),
        Field("invoice", CREDIT_INVOICE, lambda c, ctx: c),
    ],
    doc="``V1::CreditSerializer``.",
)

INVOICE_APPLIED_TAX = Shape(
    "InvoiceAppliedTaxOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("lago_invoice_id", UUID, "invoice_id", convert=str),
        *_applied_tax_fields,
        column("fees_amount_cents", INTEGER, convert=integer),
        column("created_at", DATETIME, convert=lago_datetime),
        *_vat_fields,
    ],
    doc="``V1::Invoices::AppliedTaxSerializer``, plus the EN 16931 category.",
)

# ------------------------------------------------------ invoice, its list


def _as_parent(invoice, ctx) -> dict:
    return {**ctx, "invoice": invoice, "invoice_created_at": invoice.created_at}


def _includes(*, fees: bool) -> list[Field]:
    """What lago-api's invoices controller includes: in full (``render_invoice``)
    the customer, subscriptions, billing periods, fees, credits, metadata,
    applied taxes, error details and custom sections; in a list
    (``invoice_index``) the customer, metadata and applied taxes."""
    parts = [Field("customer", CUSTOMER, lambda i, ctx: i.customer)]
    if fees:
        parts += [
            _none_yet("subscriptions"),
            _none_yet("billing_periods"),
            Field("fees", FEE, lambda i, ctx: i.fees.all(), many=True, within=_as_parent),
            Field(
                "credits",
                CREDIT,
                lambda i, ctx: [c for c in i.credits.all() if c.kind in LISTED_CREDIT_KINDS],
                many=True,
                within=_as_parent,
            ),
        ]
    return [
        *parts,
        Field(
            "metadata",
            INVOICE_METADATA,
            lambda i, ctx: i.metadata,
            many=True,
            within=_as_parent,
            reads=((Invoice, ("metadata",)),),
        ),
        Field(
            "applied_taxes",
            INVOICE_APPLIED_TAX,
            lambda i, ctx: i.applied_taxes.all(),
            many=True,
            within=_as_parent,
        ),
        *(
            [_none_yet("error_details"), _none_yet("applied_invoice_custom_sections")]
            if fees
            else []
        ),
    ]


INVOICE = INVOICE_BASE.extend(
    "InvoiceOutput",
    _includes(fees=True),
    doc="The full invoice of show, create, finalize, void and update.",
)
INVOICE_LIST_ITEM = INVOICE_BASE.extend(
    "InvoiceListItemOutput",
    _includes(fees=False),
    doc="An invoice of a list: without its fees and credits, as lago-api's index.",
)

# ---------------------------------------------------------------- webhooks

INVOICE_WEBHOOK = INVOICE_BASE.extend(
    "InvoiceWebhookObject",
    [Field("customer", CUSTOMER, lambda i, ctx: i.customer)],
    doc="The invoice of an ``invoice.*`` webhook: the base invoice and its customer.",
)


def invoice_webhook_payloads(invoices: list[Invoice], event_type: str) -> list[dict]:
    """Lago's ``invoice.*`` webhook payloads. No ``file_url``: download URLs
    expire, so each delivery attempt adds a fresh one."""
    return [
        {
            "webhook_type": event_type,
            "object_type": "invoice",
            "organization_id": str(invoice.organization_id),
            "invoice": INVOICE_WEBHOOK.render(invoice),
        }
        for invoice in invoices
    ]


WEBHOOK_ENVELOPE_ORDER = ("webhook_type", "object_type", "organization_id", "invoice")


def _ordered(data: dict, order) -> dict:
    known = {key: data[key] for key in order if key in data}
    return {**known, **{key: value for key, value in data.items() if key not in known}}


def invoice_webhook_reordered(payload: dict) -> dict:
    """A stored payload in Lago's key order again: PostgreSQL's jsonb does not
    keep it. Keys the shapes do not know (an older payload's) stay, last."""
    payload = _ordered(payload, WEBHOOK_ENVELOPE_ORDER)
    invoice = payload.get("invoice")
    if isinstance(invoice, dict):
        invoice = _ordered(invoice, INVOICE_WEBHOOK.names)
        if isinstance(invoice.get("customer"), dict):
            invoice["customer"] = _ordered(invoice["customer"], CUSTOMER.names)
        payload["invoice"] = invoice
    return payload


# ------------------------------------------------------ webhook endpoints

WEBHOOK_ENDPOINT = Shape(
    "WebhookEndpointOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("lago_organization_id", UUID, "organization_id", convert=str),
        column("webhook_url", STRING),
        column("signature_algo", STRING, enum=("jwt", "hmac", "standard")),
        column("name", STRING, convert=blank_as_null, null=True),
        # Lago's null: every event type; [] none.
        Field(
            "event_types",
            STRING,
            lambda e, ctx: None if e.event_types is None else list(e.event_types),
            many=True,
            null=True,
        ),
        column("created_at", DATETIME, convert=lago_datetime),
    ],
    doc="``V1::WebhookEndpointSerializer``, plus its name and event types.",
)
WEBHOOK_ENDPOINT_WITH_SECRET = WEBHOOK_ENDPOINT.extend(
    "WebhookEndpointWithSecretOutput",
    [column("secret", STRING, "standard_secret", convert=blank_as_null, null=True)],
    doc="Create and rotate only: the Standard Webhooks secret, shown this once.",
)
WEBHOOK_HMAC_KEY = Shape(
    "WebhookHmacKeyOutput",
    [
        Field(
            "hmac_key",
            STRING,
            lambda key, ctx: key,
            help="Key of HMAC-SHA256 `hmac` webhook signatures",
        )
    ],
)
WEBHOOK_PUBLIC_KEY = Shape(
    "WebhookPublicKeyOutput",
    [Field("public_key", STRING, lambda key, ctx: key, help="Base64 of the RSA public key's PEM")],
)


# ------------------------------------------------------------ credit notes


def _note_file_url(note, ctx) -> str | None:
    # As an invoice's: made at read time by the caller, for stored PDFs only.
    return ctx.get("pdf_urls", {}).get(note.pk)


def _note_xml_url(note, ctx) -> str | None:
    # The UBL CreditNote stored beside an e-invoicing organization's PDF
    # (lago-api's ``CreditNote#xml_url``); null when there is none.
    return ctx.get("xml_urls", {}).get(note.pk)


def _note_precise_total(note, ctx) -> str:
    # ``CreditNote#precise_total``: items - coupons adjustment + taxes, unrounded.
    return ruby_decimal(note.precise_total_amount_cents)


_note = functools.partial(column, model=CreditNote)

CREDIT_NOTE_BASE = Shape(
    "CreditNoteBaseOutput",
    [
        _note("lago_id", UUID, "id", convert=str),
        Field(
            "billing_entity_code",
            STRING,
            lambda n, ctx: n.invoice.organization.billing_entity_code,
            reads=((Organization, ("billing_entity_code",)),),
        ),
        _note("sequential_id", INTEGER, convert=integer),
        _note("number", STRING),
        _note("lago_invoice_id", UUID, "invoice_id", convert=str),
        Field("invoice_number", STRING, lambda n, ctx: n.invoice.number),
        # Delegated to the invoice (``CreditNote#purchase_order_number``).
        Field(
            "purchase_order_number",
            STRING,
            lambda n, ctx: blank_as_null(n.invoice.purchase_order_number),
            null=True,
        ),
        _note("issuing_date", DATE, convert=iso_date),
        _note("credit_status", STRING, null=True, enum=tuple(CreditNote.CreditStatus.values)),
        _note(
            "refund_status",
            STRING,
            null=True,
            enum=tuple(CreditNote.RefundStatus.values),
            enum_name="CreditNoteRefundStatusEnum",
        ),
        _note("reason", STRING, enum=tuple(CreditNote.Reason.values)),
        _note("description", STRING, convert=blank_as_null, null=True),
        _note("currency", STRING),
        _note("total_amount_cents", INTEGER, convert=integer),
        Field("precise_total_amount_cents", STRING, _note_precise_total),
        _note("taxes_amount_cents", INTEGER, convert=integer),
        _note("precise_taxes_amount_cents", STRING, convert=ruby_decimal),
        _note("sub_total_excluding_taxes_amount_cents", INTEGER, convert=integer),
        _note("balance_amount_cents", INTEGER, convert=integer),
        _note("credit_amount_cents", INTEGER, convert=integer),
        _note("refund_amount_cents", INTEGER, convert=integer),
        _note("offset_amount_cents", INTEGER, convert=integer),
        _note("coupons_adjustment_amount_cents", INTEGER, convert=integer),
        _note("taxes_rate", NUMBER, convert=number),
        _note("created_at", DATETIME, convert=lago_datetime),
        _note("updated_at", DATETIME, convert=lago_datetime),
        Field("file_url", URI, _note_file_url, null=True),
        Field("xml_url", URI, _note_xml_url, null=True),
        constant("self_billed", BOOLEAN, False),
    ],
    doc="``V1::CreditNoteSerializer`` without its includes, field order kept.",
    model=CreditNote,
)


def _note_currency(obj, ctx) -> str:
    return ctx["credit_note"].currency


def _with_note(note, ctx) -> dict:
    # Items render their fee as the invoice's fees do, with the invoice as parent.
    return {**ctx, "credit_note": note, "invoice": note.invoice,
            "invoice_created_at": note.invoice.created_at}  # fmt: skip


CREDIT_NOTE_ITEM = Shape(
    "CreditNoteItemOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("amount_cents", INTEGER, convert=integer),
        column("precise_amount_cents", STRING, convert=ruby_decimal),
        Field("amount_currency", STRING, _note_currency),
        Field("fee", FEE, lambda item, ctx: item.fee),
    ],
    doc="``V1::CreditNoteItemSerializer``.",
)

CREDIT_NOTE_APPLIED_TAX = Shape(
    "CreditNoteAppliedTaxOutput",
    [
        column("lago_id", UUID, "id", convert=str),
        column("lago_credit_note_id", UUID, "credit_note_id", convert=str),
        column("lago_tax_id", UUID, "tax_id", convert=text, null=True),
        column("tax_name", STRING, convert=text),
        column("tax_code", STRING, convert=text),
        column("tax_rate", NUMBER, convert=number),
        column("tax_description", STRING, convert=blank_as_null, null=True),
        column("base_amount_cents", INTEGER, convert=integer),
        column("amount_cents", INTEGER, convert=integer),
        Field("amount_currency", STRING, _note_currency),
        column("created_at", DATETIME, convert=lago_datetime),
    ],
    doc="``V1::CreditNotes::AppliedTaxSerializer``.",
)

_NOTE_CUSTOMER = Field("customer", CUSTOMER, lambda n, ctx: n.customer)
_NOTE_ITEMS = Field(
    "items", CREDIT_NOTE_ITEM, lambda n, ctx: n.items.all(), many=True, within=_with_note
)
_NOTE_TAXES = Field(
    "applied_taxes",
    CREDIT_NOTE_APPLIED_TAX,
    lambda n, ctx: n.applied_taxes.all(),
    many=True,
    within=_with_note,
)

# The controller's includes: items, applied taxes, error details, customer
# (``CreditNotesController#include_in_serializer``), in the serializer's order.
CREDIT_NOTE = CREDIT_NOTE_BASE.extend(
    "CreditNoteOutput",
    [_NOTE_CUSTOMER, _NOTE_ITEMS, _NOTE_TAXES, _none_yet("error_details")],
    doc="The credit note of create, show, update, void and the list.",
)
CREDIT_NOTE_CREATED_WEBHOOK = CREDIT_NOTE_BASE.extend(
    "CreditNoteCreatedWebhookObject",
    [_NOTE_CUSTOMER, _NOTE_ITEMS, _NOTE_TAXES],
    doc="``credit_note.created``: the credit note with customer, items and applied taxes.",
)
CREDIT_NOTE_GENERATED_WEBHOOK = CREDIT_NOTE_BASE.extend(
    "CreditNoteGeneratedWebhookObject",
    [_NOTE_CUSTOMER],
    doc="``credit_note.generated``: the credit note with its customer.",
)
_NOTE_WEBHOOK_SHAPES = {
    "credit_note.created": CREDIT_NOTE_CREATED_WEBHOOK,
    "credit_note.generated": CREDIT_NOTE_GENERATED_WEBHOOK,
}


def credit_note_webhook_payload(note, event_type: str) -> dict:
    """Lago's ``credit_note.*`` payload (``Webhooks::CreditNotes::*Service``).
    No ``file_url``: each delivery attempt adds a fresh one."""
    return {
        "webhook_type": event_type,
        "object_type": "credit_note",
        "organization_id": str(note.organization_id),
        "credit_note": _NOTE_WEBHOOK_SHAPES[event_type].render(note),
    }


def credit_note_webhook_reordered(payload: dict) -> dict:
    """A stored ``credit_note.*`` payload in Lago's key order again (jsonb
    does not keep it)."""
    order = ("webhook_type", "object_type", "organization_id", "credit_note")
    payload = _ordered(payload, order)
    note = payload.get("credit_note")
    if isinstance(note, dict):
        shape = _NOTE_WEBHOOK_SHAPES.get(payload.get("webhook_type"), CREDIT_NOTE_GENERATED_WEBHOOK)
        note = _ordered(note, shape.names)
        if isinstance(note.get("customer"), dict):
            note["customer"] = _ordered(note["customer"], CUSTOMER.names)
        for key, child in (("items", CREDIT_NOTE_ITEM), ("applied_taxes", CREDIT_NOTE_APPLIED_TAX)):
            if isinstance(note.get(key), list):
                note[key] = [
                    _ordered(i, child.names) if isinstance(i, dict) else i for i in note[key]
                ]
        payload["credit_note"] = note
    return payload


def _estimate_items(estimate, ctx) -> list[dict]:
    return [
        {"lago_fee_id": str(fee.pk), "amount_cents": amount} for fee, amount, _ in estimate.items
    ]


ESTIMATED_ITEM = Shape(
    "EstimatedCreditNoteItemOutput",
    [
        Field("lago_fee_id", UUID, lambda i, ctx: i["lago_fee_id"]),
        Field("amount_cents", INTEGER, lambda i, ctx: i["amount_cents"]),
    ],
)

ESTIMATED_APPLIED_TAX = Shape(
    "EstimatedCreditNoteAppliedTaxOutput",
    [
        Field("lago_tax_id", UUID, lambda t, ctx: text(t.source.tax_id), null=True),
        Field("tax_name", STRING, lambda t, ctx: t.source.tax_name),
        Field("tax_code", STRING, lambda t, ctx: t.source.tax_code),
        Field("tax_rate", NUMBER, lambda t, ctx: number(t.source.tax_rate)),
        Field(
            "tax_description",
            STRING,
            lambda t, ctx: blank_as_null(t.source.tax_description),
            null=True,
        ),  # fmt: skip
        Field("base_amount_cents", INTEGER, lambda t, ctx: t.base_amount_cents),
        Field("amount_cents", INTEGER, lambda t, ctx: t.amount_cents),
        Field("amount_currency", STRING, lambda t, ctx: ctx["currency"]),
    ],
)

ESTIMATED_CREDIT_NOTE = Shape(
    "EstimatedCreditNoteOutput",
    [
        Field("lago_invoice_id", UUID, lambda e, ctx: str(e.invoice.pk)),
        Field("invoice_number", STRING, lambda e, ctx: e.invoice.number),
        Field("currency", STRING, lambda e, ctx: e.invoice.currency),
        Field("taxes_amount_cents", INTEGER, lambda e, ctx: e.taxes_amount_cents),
        Field(
            "precise_taxes_amount_cents",
            STRING,
            lambda e, ctx: ruby_decimal(e.precise_taxes_amount_cents),
        ),  # fmt: skip
        Field(
            "sub_total_excluding_taxes_amount_cents",
            INTEGER,
            lambda e, ctx: e.sub_total_excluding_taxes_amount_cents,
        ),  # fmt: skip
        Field("max_creditable_amount_cents", INTEGER, lambda e, ctx: e.max_creditable_amount_cents),
        Field("max_refundable_amount_cents", INTEGER, lambda e, ctx: e.max_refundable_amount_cents),
        # lago-python-client requires it (as Lago's OpenAPI does; lago-api's
        # serializer no longer writes it): offsets are not offered here.
        constant("max_offsettable_amount_cents", INTEGER, 0),
        Field(
            "coupons_adjustment_amount_cents",
            INTEGER,
            lambda e, ctx: e.coupons_adjustment_amount_cents,
        ),  # fmt: skip
        Field(
            "precise_coupons_adjustment_amount_cents",
            STRING,
            lambda e, ctx: ruby_decimal(e.precise_coupons_adjustment_amount_cents),
        ),  # fmt: skip
        Field("taxes_rate", NUMBER, lambda e, ctx: number(e.taxes_rate)),
        Field("items", ESTIMATED_ITEM, _estimate_items, many=True),
        Field(
            "applied_taxes",
            ESTIMATED_APPLIED_TAX,
            lambda e, ctx: e.taxes,
            many=True,
            within=lambda e, ctx: {**ctx, "currency": e.invoice.currency},
        ),
    ],
    doc="``V1::CreditNotes::EstimateSerializer``.",
)
