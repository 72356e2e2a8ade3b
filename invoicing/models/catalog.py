from __future__ import annotations

import uuid

from django.db import models

from invoicing.models.organizations import Organization


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
    # Lago's shape: [{"id", "key", "value", "display_in_invoice"}].
    metadata = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="customer_external_id_unique"
            )
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


class Tax(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="taxes")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    rate = models.DecimalField(max_digits=9, decimal_places=4, help_text="Percent")
    description = models.TextField(blank=True)
    # Applied to fees that name no tax of their own (Lago's organization-wide tax).
    applied_to_organization = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
    taxes = models.ManyToManyField(Tax, blank=True, related_name="add_ons")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "add-on"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="add_on_code_unique")
        ]

    def __str__(self) -> str:
        return self.code
