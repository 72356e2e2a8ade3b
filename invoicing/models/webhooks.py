from __future__ import annotations

import uuid

from django.db import models

from invoicing.crypto import EncryptedTextField
from invoicing.models.base import TouchingQuerySet
from invoicing.models.organizations import Organization


class WebhookEndpoint(models.Model):
    class SignatureAlgo(models.TextChoices):
        JWT = "jwt"
        HMAC = "hmac"
        STANDARD = "standard"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    webhook_url = models.URLField(max_length=1024)
    name = models.CharField(max_length=255, blank=True)
    signature_algo = models.CharField(
        max_length=16, choices=SignatureAlgo.choices, default=SignatureAlgo.HMAC
    )
    # Event types this endpoint receives; empty means all of them (as in Lago).
    # Lago's meaning: null is every event type, a list only those ([] none).
    event_types = models.JSONField(null=True, blank=True, default=None)
    enabled = models.BooleanField(default=True)
    # Standard Webhooks secret (``whsec_...``), shown once when set. During a
    # rotation the previous secret keeps signing until it expires.
    # Both encrypted at rest (invoicing/crypto.py).
    standard_secret = EncryptedTextField(blank=True)
    previous_standard_secret = EncryptedTextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed attempts (None after a success); an
    # endpoint failing continuously for days is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name or self.webhook_url

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


class WebhookEvent(models.Model):
    """Something that happened to an object, recorded in the same transaction
    as the change itself; its deliveries carry it to each endpoint."""

    class EventType(models.TextChoices):
        INVOICE_CREATED = "invoice.created"
        INVOICE_GENERATED = "invoice.generated"
        INVOICE_VOIDED = "invoice.voided"
        INVOICE_PAYMENT_STATUS_UPDATED = "invoice.payment_status_updated"
        INVOICE_DELETED = "invoice.deleted"
        CREDIT_NOTE_CREATED = "credit_note.created"
        CREDIT_NOTE_GENERATED = "credit_note.generated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    object_type = models.CharField(max_length=32, default="invoice")
    object_id = models.UUIDField(db_index=True)
    # Lago's payload as of the event, without ``file_url``: download URLs
    # expire, so the sender adds a fresh one to each attempt.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.object_id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint. Its id is the receiver's idempotency key
    (``X-Lago-Unique-Key``, ``webhook-id``), the same on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # How many attempts were made; the attempts themselves are ``attempts``.
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TouchingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_endpoint")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["status", "updated_at"], name="delivery_state_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint} ({self.status})"


class WebhookDeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery, as it happened."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempt_number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    # success, redirect, gone, rate_limited, client_error, server_error,
    # timeout, connection_error, forbidden_address, invalid_url
    outcome = models.CharField(max_length=32)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The first 20 KB of the receiver's answer, enough to see why it refused.
    response_body = models.BinaryField(blank=True, default=b"")
    response_headers = models.JSONField(default=dict, blank=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "attempt_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "attempt_number"], name="attempt_number_unique"
            )
        ]
        indexes = [models.Index(fields=["started_at", "outcome"], name="attempt_time_outcome")]

    def __str__(self) -> str:
        return f"#{self.attempt_number} {self.outcome} ({self.status_code})"


class WebhookSigningKey(models.Model):
    """The RSA key of Lago's ``jwt`` signatures when none is configured:
    generated once, then kept, so receivers can pin the public key."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    private_key_pem = EncryptedTextField()  # encrypted at rest (invoicing/crypto.py)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook signing key of {self.created_at:%Y-%m-%d}"
