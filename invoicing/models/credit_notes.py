"""Credit notes: the document that amends a finalized invoice (Lago's
``CreditNote``, ``CreditNoteItem``, ``CreditNote::AppliedTax``).

A credit note is issued once and never edited: its amounts, items and taxes
are written in the transaction that creates it. What Lago lets change later
changes here too and nothing else: the refund's status (``refund_status``,
``refunded_at``), the credit still available (``balance_amount_cents``,
``credit_status``) as next invoices consume it, and voiding the rest
(``voided_at``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from invoicing.models.catalog import Customer, Tax
from invoicing.models.invoices import Fee, Invoice
from invoicing.models.organizations import Organization

# lago-api's numeric(30, 5) for the credit note's precise amounts
# (``precise_taxes_amount_cents``, ``precise_coupons_adjustment_amount_cents``,
# ``credit_note_items.precise_amount_cents``).
CREDIT_NOTE_PRECISE = {"max_digits": 30, "decimal_places": 5}


class CreditNote(models.Model):
    class Status(models.TextChoices):
        # Lago also has "draft" (credit notes of draft invoices) and
        # "deleted"; this service credits finalized invoices only.
        FINALIZED = "finalized"

    class CreditStatus(models.TextChoices):
        AVAILABLE = "available"
        CONSUMED = "consumed"
        VOIDED = "voided"

    class RefundStatus(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Reason(models.TextChoices):
        # ``CreditNote::REASON``, in lago-api's order.
        DUPLICATED_CHARGE = "duplicated_charge"
        PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
        ORDER_CHANGE = "order_change"
        ORDER_CANCELLATION = "order_cancellation"
        FRAUDULENT_CHARGE = "fraudulent_charge"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="credit_notes"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    # Counts the invoice's credit notes from 1 (lago-api's ``sequenced``
    # scoped to the invoice); the number is ``<invoice number>-CN<001>``.
    sequential_id = models.PositiveIntegerField(editable=False)
    number = models.CharField(max_length=96, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FINALIZED)
    credit_status = models.CharField(
        max_length=16, choices=CreditStatus.choices, null=True, blank=True
    )
    refund_status = models.CharField(
        max_length=16, choices=RefundStatus.choices, null=True, blank=True
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3)
    # The accounting day, in the customer's time zone (CreateService#issuing_date).
    issuing_date = models.DateField()

    credit_amount_cents = models.BigIntegerField(default=0)
    refund_amount_cents = models.BigIntegerField(default=0)
    # Lago's offsets settle an invoice against its own credit note; not
    # offered here, always 0.
    offset_amount_cents = models.BigIntegerField(default=0)
    # What of the credit is still to be applied to the customer's next invoices.
    balance_amount_cents = models.BigIntegerField(default=0)
    total_amount_cents = models.BigIntegerField(default=0)
    taxes_amount_cents = models.BigIntegerField(default=0)
    precise_taxes_amount_cents = models.DecimalField(**CREDIT_NOTE_PRECISE, default=0)
    coupons_adjustment_amount_cents = models.BigIntegerField(default=0)
    precise_coupons_adjustment_amount_cents = models.DecimalField(**CREDIT_NOTE_PRECISE, default=0)
    # ``CreditNote#sub_total_excluding_taxes_amount_cents``: round(items -
    # coupons adjustment), kept as issued.
    sub_total_excluding_taxes_amount_cents = models.BigIntegerField(default=0)
    # The items' average rate, weighted by their bases (lago-api rounds it to 5 decimals).
    taxes_rate = models.DecimalField(max_digits=12, decimal_places=5, default=0)

    refunded_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "sequential_id"], name="credit_note_sequence_unique"
            ),
            models.UniqueConstraint(
                fields=["organization", "number"], name="credit_note_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(credit_amount_cents__gte=0)
                & Q(refund_amount_cents__gte=0)
                & Q(total_amount_cents__gte=0)
                & Q(balance_amount_cents__gte=0)
                & Q(balance_amount_cents__lte=F("credit_amount_cents")),
                name="credit_note_amounts_in_range",
            ),
        ]
        indexes = [
            # The Lago list of one organization, newest first.
            models.Index(fields=["organization", "-created_at", "id"], name="credit_note_listing"),
            # Credits still available to a customer (applied at finalization).
            models.Index(
                fields=["customer", "currency", "created_at"],
                condition=Q(credit_status="available"),
                name="credit_note_available",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def voidable(self) -> bool:
        """``CreditNote#voidable?``: some credit is left to void."""
        return self.credit_status != self.CreditStatus.VOIDED and self.balance_amount_cents > 0

    @property
    def precise_total_amount_cents(self):
        """``CreditNote#precise_total``: items - coupons adjustment + taxes, unrounded."""
        items = sum((i.precise_amount_cents for i in self.items.all()), 0)
        adjustment = self.precise_coupons_adjustment_amount_cents
        return items - adjustment + self.precise_taxes_amount_cents


class CreditNoteItem(models.Model):
    """The part of one fee a credit note gives back, before tax."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="items")
    fee = models.ForeignKey(Fee, on_delete=models.PROTECT, related_name="credit_note_items")
    position = models.PositiveIntegerField(default=0)
    amount_cents = models.BigIntegerField()
    precise_amount_cents = models.DecimalField(**CREDIT_NOTE_PRECISE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0), name="credit_note_item_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fee_id} {self.amount_cents}"


class CreditNoteAppliedTax(models.Model):
    """One tax rate of a credit note: the invoice's applied tax of that code,
    copied, with the base and amount given back."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.CASCADE, related_name="applied_taxes"
    )
    tax = models.ForeignKey(Tax, on_delete=models.SET_NULL, null=True, blank=True)
    tax_code = models.CharField(max_length=255)
    tax_name = models.CharField(max_length=255)
    tax_rate = models.DecimalField(max_digits=9, decimal_places=4)
    tax_description = models.TextField(blank=True)
    base_amount_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tax_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_note", "tax_code"], name="credit_note_tax_code_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tax_code} ({self.tax_rate} %)"
