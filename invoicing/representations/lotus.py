"""The Lotus face's wire shapes (uselotus/lotus ``api/serializers/
model_serializers.py``, lotus-python 0.12.0's models), declared once for the
responses and the OpenAPI schema.

Money is a JSON number in major units, tax adjustment amounts are strings with
10 decimals, datetimes carry their offset (rendered in the customer's time
zone) and empty strings are ``null``, as upstream's
``ConvertEmptyStringToNullMixin`` does.
"""

from __future__ import annotations

import datetime as dt

from invoicing.models import Customer, Fee, Invoice, Organization
from invoicing.representations.declare import (
    BOOLEAN,
    DATE,
    DATETIME,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    URI,
    Field,
    Shape,
    column,
    constant,
)
from invoicing.representations.formats import (
    blank_as_null,
    currency_block,
    major,
    major_string,
    zoned_datetime,
)

# The ledger account of upstream's sales tax adjustments.
SALES_TAX_ACCOUNT = "41100"
PAYMENT_STATUSES = ("draft", "voided", "paid", "unpaid")
EXTERNAL_PAYMENT_TYPES = ("stripe", "braintree")
# Where a selector may have loaded an invoice's fees as a plain list (as
# ``Prefetch("fees", to_attr=...)`` does); else ``invoice.fees.all()``.
LINES_ATTR = "lotus_lines"
# Where a selector puts a customer's finalized invoices, newest first.
CUSTOMER_INVOICES_ATTR = "lotus_invoices"

_ADDRESS_COLUMNS = ("address_line1", "address_line2", "city", "state", "zipcode", "country")


def payment_status(invoice: Invoice) -> str:
    """Lotus's one status: Lago's status and payment status folded together."""
    if invoice.status == Invoice.Status.DRAFT:
        return "draft"
    if invoice.status == Invoice.Status.VOIDED:
        return "voided"
    return "paid" if invoice.payment_status == Invoice.PaymentStatus.SUCCEEDED else "unpaid"


def customer_name(customer: Customer) -> str | None:
    full = " ".join(p for p in (customer.firstname, customer.lastname) if p)
    return customer.name or full or None


def has_address(obj) -> bool:
    return any(getattr(obj, name) for name in _ADDRESS_COLUMNS)


# ------------------------------------------------------------ small blocks

CURRENCY = Shape(
    "LotusCurrencyOutput",
    [
        Field("code", STRING, lambda c, ctx: c["code"]),
        Field("name", STRING, lambda c, ctx: c["name"]),
        Field("symbol", STRING, lambda c, ctx: c["symbol"]),
    ],
)


def _address_text(name: str, attr: str, **options) -> Field:
    return column(name, STRING, attr, convert=blank_as_null, null=True, **options)


ADDRESS = Shape(
    "LotusAddressOutput",
    [
        _address_text("city", "city"),
        _address_text("country", "country", help="ISO 3166-1 alpha-2"),
        _address_text("line1", "address_line1"),
        _address_text("line2", "address_line2"),
        _address_text("postal_code", "zipcode"),
        _address_text("state", "state"),
    ],
    doc="A customer's or organization's address (null when it has none).",
)


def _address(obj, ctx):
    return obj if has_address(obj) else None


def _address_field(name: str, model) -> Field:
    return Field(name, ADDRESS, _address, null=True, reads=((model, _ADDRESS_COLUMNS),))


SELLER = Shape(
    "LotusSellerOutput",
    [
        column("name", STRING),
        _address_field("address", Organization),
        column("phone", STRING, convert=blank_as_null, null=True),
        column("email", STRING, convert=blank_as_null, null=True),
    ],
    model=Organization,
)

INVOICE_CUSTOMER = Shape(
    "LotusInvoiceCustomerOutput",
    [
        Field(
            "customer_name",
            STRING,
            lambda c, ctx: customer_name(c),
            null=True,
            reads=((None, ("name", "firstname", "lastname")),),
        ),
        column("email", STRING, convert=blank_as_null, null=True),
        column("customer_id", STRING, "external_id"),
        _address_field("address", Customer),
    ],
    model=Customer,
)

PLAN = Shape(
    "LotusPlanOutput",
    [
        Field("plan_name", STRING, lambda p, ctx: p["plan_name"]),
        Field("plan_id", STRING, lambda p, ctx: p["plan_id"]),
        Field("version_id", STRING, lambda p, ctx: p["version_id"]),
        Field("version", INTEGER, lambda p, ctx: p["version"]),
    ],
)

SUBSCRIPTION_FILTER = Shape(
    "LotusSubscriptionFilterOutput",
    [
        Field("value", STRING, lambda f, ctx: str(f.get("value", ""))),
        Field("property_name", STRING, lambda f, ctx: str(f.get("property_name", ""))),
    ],
)

ADJUSTMENT = Shape(
    "LotusAdjustmentOutput",
    [
        Field("amount", STRING, lambda a, ctx: a["amount"], help="Major units, 10 decimals."),
        Field("account", STRING, lambda a, ctx: a["account"]),
        Field(
            "adjustment_type",
            STRING,
            lambda a, ctx: a["adjustment_type"],
            enum=("sales_tax", "plan_adjustment"),
            enum_name="LotusAdjustmentTypeEnum",
        ),
    ],
)

# -------------------------------------------------------------- line items


def _plan(fee, ctx) -> dict | None:
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


def _base_cents(fee) -> int:
    # Before tax, after before-tax coupons.
    return fee.sub_total_excluding_taxes_amount_cents


def _adjustments(fee, ctx) -> list[dict]:
    # One sales_tax adjustment carries the fee's taxes, as upstream (one tax
    # rate per line).
    if not (fee.taxes_amount_cents or fee.taxes_rate):
        return []
    return [
        {
            "amount": major_string(fee.taxes_amount_cents, ctx["currency"]),
            "account": SALES_TAX_ACCOUNT,
            "adjustment_type": "sales_tax",
        }
    ]


def _bound(attr: str):
    # A line without a period spans the issue moment.
    def get(fee, ctx):
        value = getattr(fee, attr)
        return zoned_datetime(value, ctx["tz"]) if value else ctx["issued"]

    return get


def _base(fee, ctx) -> float:
    return major(_base_cents(fee), ctx["currency"])


_BASE_READS = ((None, ("amount_cents", "precise_coupons_amount_cents")),)

LINE_ITEM = Shape(
    "LotusLineItemOutput",
    [
        Field(
            "name",
            STRING,
            lambda fee, ctx: fee.display_name,
            reads=((None, ("invoice_display_name", "item_name", "item_code")),),
        ),
        Field("start_date", DATETIME, _bound("from_datetime"), reads=((None, ("from_datetime",)),)),
        Field("end_date", DATETIME, _bound("to_datetime"), reads=((None, ("to_datetime",)),)),
        column("quantity", NUMBER, "units", convert=float),
        column(
            "billing_type",
            STRING,
            enum=("in_arrears", "in_advance", "one_time", "intermediate"),
            enum_name="LotusBillingTypeEnum",
        ),
        constant("metadata", OBJECT, {}),
        Field(
            "plan",
            PLAN,
            _plan,
            null=True,
            reads=((None, ("plan_id", "plan_name", "plan_version")),),
        ),
        Field(
            "subscription_filters",
            SUBSCRIPTION_FILTER,
            lambda fee, ctx: fee.subscription_filters or [],
            many=True,
            reads=((None, ("subscription_filters",)),),
        ),
        Field("base", NUMBER, _base, help="Before tax.", reads=_BASE_READS),
        Field(
            "adjustments",
            ADJUSTMENT,
            _adjustments,
            many=True,
            reads=((None, ("taxes_amount_cents", "taxes_rate")),),
        ),
        Field(
            "amount",
            NUMBER,
            lambda fee, ctx: major(_base_cents(fee) + fee.taxes_amount_cents, ctx["currency"]),
            help="After tax.",
            reads=_BASE_READS,
        ),
        Field(
            "subtotal",
            NUMBER,
            _base,
            help="Equal to base (upstream's deprecated name).",
            reads=_BASE_READS,
        ),
    ],
    model=Fee,
)

# ---------------------------------------------------------------- invoices


def lines(invoice: Invoice):
    lines = getattr(invoice, LINES_ATTR, None)
    return invoice.fees.all() if lines is None else lines


def _issued_at(invoice: Invoice) -> dt.datetime:
    return invoice.finalized_at or invoice.created_at


def _period(invoice: Invoice, tz: dt.tzinfo) -> tuple[dt.date, dt.date]:
    """From the first line's start to the last line's end (the issuing day
    when lines carry no period), from annotations when the lines are not
    loaded (``period_from`` / ``period_to``)."""
    if hasattr(invoice, "period_from"):
        starts, ends = [invoice.period_from], [invoice.period_to]
    else:
        fees = lines(invoice)
        starts = [f.from_datetime for f in fees]
        ends = [f.to_datetime for f in fees]
    starts = [v.astimezone(tz).date() for v in starts if v]
    ends = [v.astimezone(tz).date() for v in ends if v]
    return min(starts, default=invoice.issuing_date), max(ends, default=invoice.issuing_date)


def _in_zone(invoice, ctx) -> dict:
    """What several of an invoice's fields and its lines read, computed once:
    its currency, the customer's time zone, the issue moment (which a line
    without a period takes) and the invoice's period."""
    tz = invoice.customer.zone
    return {
        **ctx,
        "currency": invoice.currency,
        "tz": tz,
        "issued": zoned_datetime(_issued_at(invoice), tz),
        "period": _period(invoice, tz),
    }


def _due_date(invoice, ctx) -> str:
    # The due day, from midnight in the customer's time zone.
    tz = ctx["tz"]
    return zoned_datetime(dt.datetime.combine(invoice.payment_due_date, dt.time(), tzinfo=tz), tz)


def _pdf_url(invoice, ctx) -> str | None:
    # URLs are made at read time (signed, expiring), never stored.
    return ctx.get("pdf_urls", {}).get(invoice.pk)


_ZONE_READS = ((Customer, ("timezone",)), (Organization, ("timezone",)))

_HEAD = [
    Field("invoice_id", STRING, lambda i, ctx: i.lotus_id),
    column("invoice_number", STRING, "number"),
    # Upstream's cost_due is the invoice's amount (its deprecated name).
    Field(
        "cost_due",
        NUMBER,
        lambda i, ctx: major(max(i.total_amount_cents, 0), i.currency),
        reads=((None, ("total_amount_cents", "currency")),),
    ),
    Field(
        "amount",
        NUMBER,
        lambda i, ctx: major(i.total_amount_cents, i.currency),
        reads=((None, ("total_amount_cents", "currency")),),
    ),
    Field(
        "currency",
        CURRENCY,
        lambda i, ctx: currency_block(i.currency),
        reads=((None, ("currency",)),),
    ),
    Field(
        "issue_date",
        DATETIME,
        lambda i, ctx: ctx["issued"],
        reads=((None, ("finalized_at", "created_at")), *_ZONE_READS),
    ),
    Field(
        "payment_status",
        STRING,
        lambda i, ctx: payment_status(i),
        enum=PAYMENT_STATUSES,
        enum_name="LotusPaymentStatusEnum",
        reads=((None, ("status", "payment_status")),),
    ),
    column("external_payment_obj_id", STRING, convert=blank_as_null, null=True),
    column(
        "external_payment_obj_type",
        STRING,
        convert=blank_as_null,
        null=True,
        enum=EXTERNAL_PAYMENT_TYPES,
        enum_name="LotusPaymentProviderEnum",
    ),
    column("external_payment_obj_status", STRING, convert=blank_as_null, null=True),
]
_TAIL = [
    Field(
        "due_date",
        DATETIME,
        _due_date,
        null=True,
        reads=((None, ("payment_due_date",)), *_ZONE_READS),
    ),
    Field(
        "start_date",
        DATE,
        lambda i, ctx: ctx["period"][0].isoformat(),
        reads=((None, ("issuing_date",)), *_ZONE_READS),
    ),
    Field(
        "end_date",
        DATE,
        lambda i, ctx: ctx["period"][1].isoformat(),
        reads=((None, ("issuing_date",)), *_ZONE_READS),
    ),
    Field("seller", SELLER, lambda i, ctx: i.organization),
    Field("invoice_pdf", URI, _pdf_url, null=True),
]

LIGHTWEIGHT_INVOICE = Shape(
    "LotusLightweightInvoiceOutput",
    [*_HEAD, *_TAIL],
    doc="An invoice without its lines and customer (a customer's ``invoices``).",
    model=Invoice,
    prepare=_in_zone,
)

INVOICE = Shape(
    "LotusInvoiceOutput",
    [
        *_HEAD,
        Field("line_items", LINE_ITEM, lambda i, ctx: lines(i), many=True),
        Field("customer", INVOICE_CUSTOMER, lambda i, ctx: i.customer),
        *_TAIL,
    ],
    doc="Upstream's ``InvoiceSerializer`` plus ``external_payment_obj_status``, "
    "fields in the order of upstream's seed.",
    model=Invoice,
    prepare=_in_zone,
)

PDF_URL = INVOICE.extend(
    "LotusInvoicePdfUrlOutput",
    [Field("url", URI, _pdf_url, null=True)],
    doc="pdf_url's answer: the invoice, and ``url`` (what upstream's code and "
    "dashboard read) equal to ``invoice_pdf``; both null while the PDF is not "
    "ready (then a ``Retry-After`` header says when to ask again).",
)

# --------------------------------------------------------------- customers

INTEGRATIONS = Shape(
    "LotusIntegrationsOutput",
    [constant("stripe", OBJECT, None, null=True), constant("braintree", OBJECT, None, null=True)],
)


def _customer_invoices(customer) -> list[Invoice]:
    return getattr(customer, CUSTOMER_INVOICES_ATTR, [])


def _total_amount_due(customer, ctx) -> float:
    unpaid = [i for i in _customer_invoices(customer) if payment_status(i) == "unpaid"]
    if not unpaid:
        return 0.0
    # A customer's currency is fixed once invoiced: one currency to sum.
    return major(sum(i.total_due_amount_cents for i in unpaid), unpaid[0].currency)


def _default_currency(customer, ctx) -> dict:
    # Upstream's default_currency is never null (lotus-python's strict model
    # requires it): a customer without one of its own reads back with its
    # organization's.
    return currency_block(customer.currency or customer.organization.default_currency)


CUSTOMER = Shape(
    "LotusCustomerOutput",
    [
        column("customer_id", STRING, "external_id"),
        column("email", STRING, convert=blank_as_null, null=True),
        INVOICE_CUSTOMER.fields[0],
        Field("invoices", LIGHTWEIGHT_INVOICE, lambda c, ctx: _customer_invoices(c), many=True),
        Field("total_amount_due", NUMBER, _total_amount_due),
        constant("subscriptions", OBJECT, [], many=True),
        Field("integrations", INTEGRATIONS, lambda c, ctx: c),
        Field("default_currency", CURRENCY, _default_currency),
        constant(
            "payment_provider",
            STRING,
            None,
            null=True,
            enum=EXTERNAL_PAYMENT_TYPES,
            enum_name="LotusPaymentProviderEnum",
        ),
        constant("payment_provider_id", STRING, None, null=True),
        constant("has_payment_method", BOOLEAN, False),
        _address_field("address", Customer),
        _address_field("billing_address", Customer),
        constant("shipping_address", ADDRESS, None, null=True),
        constant("tax_rate", NUMBER, None, null=True),
        Field("timezone", STRING, lambda c, ctx: c.applicable_timezone),
        constant("tax_providers", STRING, [], many=True),
    ],
    doc="Upstream's ``CustomerSerializer``; what lotus-python's ``Customer`` model "
    "reads. No subscriptions, payment providers or tax providers exist here: "
    "those fields are empty. ``invoices`` are the finalized ones, newest first.",
    model=Customer,
)
