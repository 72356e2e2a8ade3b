from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from invoicing.models.catalog import AddOn, Customer, Tax, VatCategory
from invoicing.models.organizations import Organization
from invoicing.money import round_half_up

# Precise decimals: units up to 10^20 with 10 decimals, like Lago's
# numeric(30,10) columns.
UNITS_FIELD = {"max_digits": 30, "decimal_places": 10}
# lago-api's numeric(40, 15) for a fee's unrounded amounts.
PRECISE_FIELD = {"max_digits": 40, "decimal_places": 15}
# lago-api's numeric(30, 5) for a fee's share of the coupons.
COUPONS_FIELD = {"max_digits": 30, "decimal_places": 5}


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        FINALIZED = "finalized"
        VOIDED = "voided"
        # A draft deleted through the API (``Invoices::DeleteService``): kept,
        # never shown again (not one of Lago's ``VISIBLE_STATUS``).
        DELETED = "deleted"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class InvoiceType(models.TextChoices):
        SUBSCRIPTION = "subscription"
        ADD_ON = "add_on"
        CREDIT = "credit"
        ONE_OFF = "one_off"
        ADVANCE_CHARGES = "advance_charges"
        PROGRESSIVE_BILLING = "progressive_billing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invoices"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    # Organization-wide running count of finalized invoices (never reset).
    sequential_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    # The final number; NULL while draft (drafts have no number yet).
    number = models.CharField(max_length=64, null=True, blank=True, editable=False)
    # Position of this invoice within its numbering scope (the issuing day for
    # the date scheme): the NNNNNN of the number.
    number_sequence = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # The numbering scope the sequence counts in: "YYMMDD" for the date
    # scheme, "seq:<prefix>" for a plain sequence.
    number_scope = models.CharField(max_length=32, blank=True, editable=False)
    invoice_type = models.CharField(
        max_length=32, choices=InvoiceType.choices, default=InvoiceType.ONE_OFF
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    payment_status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    currency = models.CharField(max_length=3)
    issuing_date = models.DateField()
    payment_due_date = models.DateField()
    net_payment_term = models.PositiveIntegerField(default=0)
    purchase_order_number = models.CharField(max_length=255, blank=True)
    version_number = models.PositiveSmallIntegerField(default=4)

    fees_amount_cents = models.BigIntegerField(default=0)
    coupons_amount_cents = models.BigIntegerField(default=0)
    sub_total_excluding_taxes_amount_cents = models.BigIntegerField(default=0)
    taxes_amount_cents = models.BigIntegerField(default=0)
    sub_total_including_taxes_amount_cents = models.BigIntegerField(default=0)
    credit_notes_amount_cents = models.BigIntegerField(default=0)
    prepaid_credit_amount_cents = models.BigIntegerField(default=0)
    prepaid_granted_credit_amount_cents = models.BigIntegerField(default=0)
    prepaid_purchased_credit_amount_cents = models.BigIntegerField(default=0)
    progressive_billing_credit_amount_cents = models.BigIntegerField(default=0)
    total_amount_cents = models.BigIntegerField(default=0)
    total_paid_amount_cents = models.BigIntegerField(default=0)

    # Lago's shape: [{"id", "key", "value", "display_in_invoice", "created_at"}].
    metadata = models.JSONField(default=list, blank=True)

    # Lotus-only: the payment processor's object for this invoice.
    external_payment_obj_id = models.CharField(max_length=255, blank=True)
    external_payment_obj_type = models.CharField(max_length=32, blank=True)
    external_payment_obj_status = models.CharField(max_length=64, blank=True)

    finalized_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    payment_dispute_lost_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issuing_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"],
                condition=Q(number__isnull=False),
                name="invoice_number_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "sequential_id"],
                condition=Q(sequential_id__isnull=False),
                name="invoice_sequential_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "deleted"]) | Q(number__isnull=False),
                name="invoice_final_has_number",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "issuing_date"]),
            models.Index(fields=["organization", "customer", "issuing_date"]),
            models.Index(fields=["organization", "number_scope", "number_sequence"]),
            # The admin's invoice list across organizations, newest first
            # (2.6 s -> 57 ms on a million invoices, bench/ops_page.py).
            models.Index(fields=["-issuing_date", "-created_at", "-id"], name="invoice_listing"),
            # The Lago invoice list of one organization in its order (lago-api's
            # index_invoices_by_cursor): a page is read in index order.
            models.Index(
                fields=["organization", "-issuing_date", "-created_at", "id"],
                name="invoice_org_listing",
            ),
            # The Lago list's count under its filters, from the index alone
            # (an index-only scan): 210 -> 5 ms for status and currency, 220 ->
            # 50 ms for payment statuses, on 250,000 invoices of one
            # organization (seed_bulk, 1,000,000 invoices). PostgreSQL only
            # (INCLUDE); elsewhere a plain index on the key columns.
            models.Index(
                fields=["organization", "status", "currency"],
                include=[
                    "payment_status",
                    "invoice_type",
                    "total_amount_cents",
                    "payment_due_date",
                    "payment_dispute_lost_at",
                    "customer",
                    "issuing_date",
                ],  # fmt: skip
                name="invoice_list_filters",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.id}"

    @property
    def lotus_id(self) -> str:
        return f"invoice_{self.id.hex}"

    @property
    def total_due_amount_cents(self) -> int:
        return max(self.total_amount_cents - self.total_paid_amount_cents, 0)


class Fee(models.Model):
    class BillingType(models.TextChoices):
        IN_ARREARS = "in_arrears"
        IN_ADVANCE = "in_advance"
        ONE_TIME = "one_time"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="fees")
    position = models.PositiveIntegerField(default=0)
    add_on = models.ForeignKey(AddOn, on_delete=models.SET_NULL, null=True, blank=True)
    item_type = models.CharField(max_length=32, default="add_on")
    item_code = models.CharField(max_length=255, blank=True)
    item_name = models.CharField(max_length=255, blank=True)
    invoice_display_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    # The add-on's description when the fee was made (Lago's item description).
    item_description = models.TextField(blank=True)
    units = models.DecimalField(**UNITS_FIELD, default=1)
    # The add-on's unit of measure when the fee was made (EN 16931 BT-130).
    unit_code = models.CharField(max_length=3, default="C62")
    unit_amount_cents = models.DecimalField(**UNITS_FIELD, default=0)
    amount_cents = models.BigIntegerField(default=0)
    # units x unit_amount_cents before rounding.
    precise_amount_cents = models.DecimalField(**PRECISE_FIELD, default=0)
    # This fee's share of the invoice's before-tax coupons.
    precise_coupons_amount_cents = models.DecimalField(**COUPONS_FIELD, default=0)
    taxes_rate = models.DecimalField(max_digits=9, decimal_places=4, default=0)
    taxes_amount_cents = models.BigIntegerField(default=0)
    taxes_precise_amount_cents = models.DecimalField(**PRECISE_FIELD, default=0)
    from_datetime = models.DateTimeField(null=True, blank=True)
    to_datetime = models.DateTimeField(null=True, blank=True)
    billing_type = models.CharField(
        max_length=16, choices=BillingType.choices, default=BillingType.ONE_TIME
    )
    plan_name = models.CharField(max_length=255, blank=True)
    plan_id = models.CharField(max_length=255, blank=True)
    plan_version = models.PositiveIntegerField(null=True, blank=True)
    external_subscription_id = models.CharField(max_length=255, blank=True)
    # [{"property_name": ..., "value": ...}]
    subscription_filters = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.invoice_display_name or self.item_name or self.item_code

    @property
    def sub_total_excluding_taxes_amount_cents(self) -> int:
        """The taxable base, rounded (``Fee#sub_total_excluding_taxes_amount_cents``)."""
        return round_half_up(self.amount_cents - self.precise_coupons_amount_cents)

    @property
    def sub_total_excluding_taxes_precise_amount_cents(self) -> Decimal:
        return self.precise_amount_cents - self.precise_coupons_amount_cents

    @property
    def total_amount_cents(self) -> int:
        """Lago's fee total: the amount before coupons, plus taxes (``Fee#total_amount_cents``)."""
        return self.amount_cents + self.taxes_amount_cents

    @property
    def precise_total_amount_cents(self) -> Decimal:
        return self.precise_amount_cents + self.taxes_precise_amount_cents


class FeeAppliedTax(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fee = models.ForeignKey(Fee, on_delete=models.CASCADE, related_name="applied_taxes")
    tax = models.ForeignKey(Tax, on_delete=models.SET_NULL, null=True, blank=True)
    tax_code = models.CharField(max_length=255)
    tax_name = models.CharField(max_length=255)
    tax_rate = models.DecimalField(max_digits=9, decimal_places=4)
    tax_description = models.TextField(blank=True)
    amount_cents = models.BigIntegerField()
    precise_amount_cents = models.DecimalField(**PRECISE_FIELD, default=0)
    # Copied from the tax, as on the invoice's applied taxes (a line's VAT
    # category is EN 16931 BT-151).
    vat_category_code = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_exemption_reason = models.CharField(max_length=255, blank=True)
    vat_exemption_reason_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.tax_code} {self.amount_cents}"


class InvoiceAppliedTax(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="applied_taxes")
    tax = models.ForeignKey(Tax, on_delete=models.SET_NULL, null=True, blank=True)
    tax_code = models.CharField(max_length=255)
    tax_name = models.CharField(max_length=255)
    tax_rate = models.DecimalField(max_digits=9, decimal_places=4)
    tax_description = models.TextField(blank=True)
    amount_cents = models.BigIntegerField()
    fees_amount_cents = models.BigIntegerField()
    # Copied from the tax when the invoice is made: editing the tax later
    # never changes an issued invoice.
    vat_category_code = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_exemption_reason = models.CharField(max_length=255, blank=True)
    vat_exemption_reason_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tax_code"]

    def __str__(self) -> str:
        return f"{self.tax_code} ({self.tax_rate} %)"


class Credit(models.Model):
    class Kind(models.TextChoices):
        COUPON = "coupon"
        CREDIT_NOTE = "credit_note"
        PREPAID = "prepaid"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="credits")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    code = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255, blank=True)
    amount_cents = models.BigIntegerField()
    # The credit note whose credit this is (kind "credit_note"), consumed by
    # this invoice (``Credits::CreditNoteService``).
    credit_note = models.ForeignKey(
        "invoicing.CreditNote",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credits",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_cents}"

    @property
    def before_taxes(self) -> bool:
        return self.kind == self.Kind.COUPON
