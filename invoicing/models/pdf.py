from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from invoicing.models.base import TouchingQuerySet
from invoicing.models.invoices import Invoice
from invoicing.models.organizations import Organization


class PdfJob(models.Model):
    """One version of an invoice's PDF, and the state of producing it.

    An invoice has at most one *current* job (a partial unique constraint, so
    concurrent requests cannot create two); regenerating makes a new current
    job and retires the old one, whose download URLs then stop working.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RENDERING = "rendering"
        READY = "ready"
        FAILED = "failed"
        # Replaced by a newer version before it was rendered: never will be.
        SUPERSEDED = "superseded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The document: an invoice, or else a credit note (never both).
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="pdf_jobs", null=True, blank=True
    )
    credit_note = models.ForeignKey(
        "invoicing.CreditNote",
        on_delete=models.CASCADE,
        related_name="pdf_jobs",
        null=True,
        blank=True,
    )
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the broker was last asked to run this job; the sweep nudges jobs
    # whose message may have been lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A pending job is not run before this (backoff after a failed attempt).
    available_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # A rendering job whose lease ran out belongs to a worker that died.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a download of the failed job re-armed it: once only, so a job that
    # fails for good does not render again at every request.
    rearmed_at = models.DateTimeField(null=True, blank=True)
    storage_key = models.CharField(max_length=512, blank=True)
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the PDF")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    render_ms = models.PositiveIntegerField(null=True, blank=True)
    renderer_version = models.CharField(max_length=32, blank=True)
    # The UBL XML (Peppol BIS 3.0) stored beside the PDF in the same attempt,
    # for organizations with e-invoicing on; empty otherwise.
    xml_storage_key = models.CharField(max_length=512, blank=True)
    xml_checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the XML")
    xml_size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TouchingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "PDF job"
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(is_current=True), name="pdf_job_one_current"
            ),
            models.UniqueConstraint(fields=["invoice", "version"], name="pdf_job_version_unique"),
            models.UniqueConstraint(
                fields=["credit_note"],
                condition=Q(is_current=True),
                name="pdf_job_credit_note_one_current",
            ),
            models.UniqueConstraint(
                fields=["credit_note", "version"], name="pdf_job_credit_note_version_unique"
            ),
            models.CheckConstraint(
                condition=(Q(invoice__isnull=False) & Q(credit_note__isnull=True))
                | (Q(invoice__isnull=True) & Q(credit_note__isnull=False)),
                name="pdf_job_one_document",
            ),
        ]
        indexes = [
            # The sweep and the operations page look jobs up by state and age.
            models.Index(fields=["state", "enqueued_at"], name="pdf_job_state_enqueued"),
            models.Index(fields=["state", "updated_at"], name="pdf_job_state_updated"),
        ]

    def __str__(self) -> str:
        return f"PDF v{self.version} of {self.invoice_id or self.credit_note_id} ({self.state})"
