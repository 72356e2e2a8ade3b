from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from django.db import models
from django.db.models import Q
from django.utils import timezone

from invoicing.models.organizations import Organization


def time_zone(name: str) -> dt.tzinfo:
    """The zone of an IANA name; UTC for an empty or unknown one (a name the
    system's tz database lost must not stop an invoice)."""
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


class KeptManager(models.Manager):
    """Rows not deleted: what every read sees, as lago-api's ``default_scope
    -> { kept }`` (Discard) hides discarded customers, taxes and add-ons.
    Relations followed from a kept row (an invoice's customer) use the base
    manager and still find a deleted one, as Lago's ``with_discarded`` does."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Customer(models.Model):
    class CustomerType(models.TextChoices):
        COMPANY = "company"
        INDIVIDUAL = "individual"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="customers"
    )
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    firstname = models.CharField(max_length=255, blank=True)
    lastname = models.CharField(max_length=255, blank=True)
    customer_type = models.CharField(max_length=16, choices=CustomerType.choices, blank=True)
    legal_name = models.CharField(max_length=255, blank=True)
    legal_number = models.CharField(max_length=255, blank=True)
    tax_identification_number = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    url = models.CharField(max_length=255, blank=True)
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=255, blank=True)
    zipcode = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    document_locale = models.CharField(max_length=16, blank=True)
    net_payment_term = models.PositiveIntegerField(null=True, blank=True)
    # Lago's customer fields this service keeps and shows without acting on
    # them: there is no Salesforce integration, no subscription invoicing
    # (where lago-api reads finalize_zero_amount_invoice) and no custom
    # invoice sections.
    external_salesforce_id = models.CharField(max_length=255, blank=True)
    finalize_zero_amount_invoice = models.CharField(
        max_length=8,
        choices=[("inherit", "inherit"), ("skip", "skip"), ("finalize", "finalize")],
        default="inherit",
    )
    skip_invoice_custom_sections = models.BooleanField(default=False)
    shipping_address_line1 = models.CharField(max_length=255, blank=True)
    shipping_address_line2 = models.CharField(max_length=255, blank=True)
    shipping_city = models.CharField(max_length=255, blank=True)
    shipping_state = models.CharField(max_length=255, blank=True)
    shipping_zipcode = models.CharField(max_length=64, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    # Lago's shape: [{"id", "key", "value", "display_in_invoice", "created_at"}].
    metadata = models.JSONField(default=list, blank=True)
    # E-invoicing (EN 16931): the buyer's own reference for its invoices
    # (BT-10, e.g. a German Leitweg-ID) and its Peppol endpoint (BT-49) with
    # the endpoint's EAS scheme.
    buyer_reference = models.CharField(max_length=255, blank=True)
    electronic_address = models.CharField(max_length=255, blank=True)
    electronic_address_scheme = models.CharField(max_length=8, blank=True)
    # Lago's per-organization running number of customers (deleted ones
    # included, so a number is never reused) and the slug made from it
    # (``Customer#ensure_slug``), both fixed at creation.
    sequential_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    slug = models.CharField(max_length=64, blank=True, editable=False)
    # Lago's customer taxes (``tax_codes``): applied to the customer's fees
    # that neither name taxes nor inherit an add-on's.
    taxes = models.ManyToManyField("Tax", blank=True, related_name="customers")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft deletion (lago-api discards customers): the row stays for the
    # invoices issued to it, and its external_id becomes free again.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    all_objects = models.Manager()
    objects = KeptManager()

    class Meta:
        default_manager_name = "objects"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(deleted_at__isnull=True),
                name="customer_external_id_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "sequential_id"],
                condition=Q(sequential_id__isnull=False),
                name="customer_sequential_id_unique",
            ),
        ]
        indexes = [
            # The Lago customers list, newest first (lago-api's
            # index_customers_by_cursor).
            models.Index(fields=["organization", "-created_at", "id"], name="customer_listing"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.firstname, self.lastname) if p)
        return self.name or full or self.external_id

    @property
    def applicable_timezone(self) -> str:
        return self.timezone or self.organization.timezone or "UTC"

    @property
    def zone(self) -> dt.tzinfo:
        return time_zone(self.applicable_timezone)

    def today(self) -> dt.date:
        """The date it is now where the customer is: invoices are dated, and
        fall due, on the customer's calendar."""
        return timezone.now().astimezone(self.zone).date()


class VatCategory(models.TextChoices):
    """EN 16931 VAT category codes (UNTDID 5305 subset, BT-118)."""

    STANDARD = "S", "Standard rate"
    ZERO = "Z", "Zero rated goods"
    EXEMPT = "E", "Exempt from tax"
    REVERSE_CHARGE = "AE", "VAT reverse charge"
    INTRA_COMMUNITY = "K", "Intra-community supply (VAT exempt for EEA)"
    EXPORT = "G", "Free export item, tax not charged"
    OUTSIDE_SCOPE = "O", "Services outside scope of tax"
    CANARY_ISLANDS = "L", "Canary Islands general indirect tax (IGIC)"
    CEUTA_MELILLA = "M", "Tax for production, services and importation in Ceuta and Melilla"


# Categories where EN 16931 fixes the rate at zero (BR-Z-5, BR-E-5, BR-AE-5,
# BR-IC-5, BR-G-5; BR-O-5 allows no rate, which an invoice prints as 0 %).
ZERO_RATE_CATEGORIES = frozenset({"Z", "E", "AE", "K", "G", "O"})


class Tax(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="taxes")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    rate = models.DecimalField(max_digits=9, decimal_places=4, help_text="Percent")
    description = models.TextField(blank=True)
    # Applied to fees that name no tax of their own (Lago's organization-wide tax).
    applied_to_organization = models.BooleanField(default=False)
    # Beyond Lago: the legal nature of the tax, for the PDF's wording and for
    # e-invoices (EN 16931 BT-118, BT-120, BT-121).
    vat_category_code = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_exemption_reason = models.CharField(max_length=255, blank=True)
    vat_exemption_reason_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft deletion (``Taxes::DestroyService``). The code stays taken: lago-api's
    # uniqueness validation reads deleted taxes too (Rails checks ``unscoped``).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    all_objects = models.Manager()
    objects = KeptManager()

    class Meta:
        default_manager_name = "objects"
        ordering = ["code"]
        verbose_name_plural = "taxes"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="tax_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.rate} %)"


class AddOn(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="add_ons")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    invoice_display_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    amount_cents = models.BigIntegerField()
    amount_currency = models.CharField(max_length=3)
    # UN/ECE Recommendation 20 unit of measure of its fees' quantities
    # (EN 16931 BT-130): C62 is "one" (a unit), HUR an hour, MON a month.
    unit_code = models.CharField(max_length=3, default="C62")
    taxes = models.ManyToManyField(Tax, blank=True, related_name="add_ons")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft deletion (``AddOns::DestroyService``): fees keep pointing at it, and
    # its code may be used again (lago-api's uniqueness skips deleted add-ons).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    all_objects = models.Manager()
    objects = KeptManager()

    class Meta:
        default_manager_name = "objects"
        ordering = ["code"]
        verbose_name = "add-on"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"],
                condition=Q(deleted_at__isnull=True),
                name="add_on_code_unique",
            )
        ]

    def __str__(self) -> str:
        return self.code
