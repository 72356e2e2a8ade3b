"""The immutable input of the PDF renderer.

The renderer never touches the ORM: the service layer freezes an invoice into
an ``InvoiceSnapshot`` (``invoicing.services.pdf.invoice_snapshot``), and the
renderer turns that plain data into bytes. The same structure round-trips
through JSON so designers can iterate on the layout without a database
(``manage.py render_invoice --json snapshot.json``); ``docs/snapshot.md``
documents the JSON form.

Money is integer minor units of ``currency`` (JPY has 0 decimals, BHD 3),
except ``FeeLine.unit_amount_cents``, which is a precise ``Decimal`` of minor
units (a unit price may be a fraction of a cent). Rates are percentages
(``Decimal("20")`` is 20 %).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    zipcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, "" when unknown


@dataclass(frozen=True)
class Party:
    """The seller (organization) or the bill-to (customer)."""

    name: str = ""
    legal_name: str = ""
    legal_number: str = ""
    tax_identification_number: str = ""
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)
    # E-invoices only (not printed): the party's Peppol endpoint and its EAS
    # scheme (EN 16931 BT-34 / BT-49).
    electronic_address: str = ""
    electronic_address_scheme: str = ""


@dataclass(frozen=True)
class FeeLine:
    display_name: str
    description: str = ""
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    units: Decimal = Decimal("1")
    unit_amount_cents: Decimal = Decimal("0")
    amount_cents: int = 0  # before tax, rounded once (half up)
    taxes_rate: Decimal = Decimal("0")  # sum of the rates applied to this fee
    taxes_amount_cents: int = 0
    # Fees that carry a plan are grouped under it; "" means not grouped.
    plan_name: str = ""
    subscription_id: str = ""
    # E-invoices only (not printed): the unit of measure (UN/ECE Rec. 20,
    # BT-130), the line's VAT category when exactly one tax applies to it
    # ("" otherwise, BT-151), and its share of the coupons (minor units).
    unit_code: str = "C62"
    vat_category_code: str = ""
    coupons_amount_cents: Decimal = Decimal("0")


@dataclass(frozen=True)
class AppliedTax:
    name: str
    code: str
    rate: Decimal
    amount_cents: int  # tax collected at this rate
    fees_amount_cents: int  # the taxable base at this rate
    # EN 16931 VAT category (BT-118): S, Z, E, AE, K, G or O; and, for the
    # categories that need one, why no VAT is charged (BT-120, BT-121).
    vat_category_code: str = "S"
    vat_exemption_reason: str = ""
    vat_exemption_reason_code: str = ""


@dataclass(frozen=True)
class Credit:
    kind: str  # "coupon" | "credit_note" | "prepaid"
    label: str
    amount_cents: int


@dataclass(frozen=True)
class MetadataItem:
    key: str
    value: str


@dataclass(frozen=True)
class EInvoiceTerms:
    """What an e-invoice carries beyond the printed invoice (EN 16931):
    the buyer's reference (BT-10) and the seller's bank account for a credit
    transfer (BT-84, BT-86)."""

    buyer_reference: str = ""
    iban: str = ""
    bic: str = ""


@dataclass(frozen=True)
class InvoiceSnapshot:
    id: str  # the invoice UUID, dashed
    number: str
    status: str  # "draft" | "finalized" | "voided"
    invoice_type: str
    currency: str  # ISO 4217
    issuing_date: dt.date
    payment_due_date: dt.date
    net_payment_term: int
    # Fixes the PDF's creation date so two renders give identical bytes.
    created_at: dt.datetime
    locale: str  # resolved already: customer's, else organization's, else "en"
    organization: Party
    customer: Party
    purchase_order_number: str = ""
    timezone: str = "UTC"
    logo_png: bytes | None = None  # the organization's logo, PNG or JPEG bytes
    invoice_footer: str = ""
    metadata: tuple[MetadataItem, ...] = ()  # only the items shown on the invoice
    fees: tuple[FeeLine, ...] = ()
    applied_taxes: tuple[AppliedTax, ...] = ()
    credits: tuple[Credit, ...] = ()
    fees_amount_cents: int = 0
    coupons_amount_cents: int = 0
    sub_total_excluding_taxes_amount_cents: int = 0
    taxes_amount_cents: int = 0
    sub_total_including_taxes_amount_cents: int = 0
    credit_notes_amount_cents: int = 0
    prepaid_credit_amount_cents: int = 0
    total_amount_cents: int = 0
    total_paid_amount_cents: int = 0
    total_due_amount_cents: int = 0
    # "A4" or "LETTER", resolved already (organization setting, else the
    # customer's country: ``invoicing.pdf.paper.paper_for``).
    paper_size: str = "A4"
    # Set for an organization with e-invoicing on: the PDF becomes Factur-X
    # (invoicing.einvoice), None otherwise.
    einvoice: EInvoiceTerms | None = None

    @property
    def is_voided(self) -> bool:
        return self.status == "voided"

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def snapshot_to_dict(snapshot: InvoiceSnapshot) -> dict[str, Any]:
    data = _encode(snapshot)
    data["snapshot_version"] = SNAPSHOT_VERSION
    return data


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _party(data: dict[str, Any] | None) -> Party:
    data = dict(data or {})
    data["address"] = Address(**(data.get("address") or {}))
    return Party(**data)


def snapshot_from_dict(data: dict[str, Any]) -> InvoiceSnapshot:
    """Build a snapshot from its JSON form; raises ``ValueError`` on bad input."""
    data = dict(data)
    version = data.pop("snapshot_version", SNAPSHOT_VERSION)
    if version != SNAPSHOT_VERSION:
        raise ValueError(f"unsupported snapshot_version {version!r}")
    try:
        fees = tuple(
            FeeLine(
                **{
                    **fee,
                    "from_date": _date(fee.get("from_date")),
                    "to_date": _date(fee.get("to_date")),
                    "units": Decimal(str(fee.get("units", "1"))),
                    "unit_amount_cents": Decimal(str(fee.get("unit_amount_cents", "0"))),
                    "taxes_rate": Decimal(str(fee.get("taxes_rate", "0"))),
                    "coupons_amount_cents": Decimal(str(fee.get("coupons_amount_cents", "0"))),
                }
            )
            for fee in data.pop("fees", [])
        )
        taxes = tuple(
            AppliedTax(**{**t, "rate": Decimal(str(t["rate"]))})
            for t in data.pop("applied_taxes", [])
        )
        credits = tuple(Credit(**c) for c in data.pop("credits", []))
        metadata = tuple(MetadataItem(**m) for m in data.pop("metadata", []))
        logo = data.pop("logo_png", None)
        terms = data.pop("einvoice", None)
        created_at = dt.datetime.fromisoformat(data.pop("created_at"))
        return InvoiceSnapshot(
            **{
                **data,
                "issuing_date": dt.date.fromisoformat(data["issuing_date"]),
                "payment_due_date": dt.date.fromisoformat(data["payment_due_date"]),
                "organization": _party(data.get("organization")),
                "customer": _party(data.get("customer")),
            },
            created_at=created_at,
            logo_png=base64.b64decode(logo) if logo else None,
            fees=fees,
            applied_taxes=taxes,
            credits=credits,
            metadata=metadata,
            einvoice=EInvoiceTerms(**terms) if terms is not None else None,
        )
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"invalid invoice snapshot: {exc}") from exc
