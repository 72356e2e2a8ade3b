from __future__ import annotations

import uuid

from django.db import models

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
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name or self.webhook_url
