from invoicing.models.catalog import ZERO_RATE_CATEGORIES, AddOn, Customer, Tax, VatCategory
from invoicing.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem
from invoicing.models.invoices import (
    Credit,
    Fee,
    FeeAppliedTax,
    Invoice,
    InvoiceAppliedTax,
)
from invoicing.models.organizations import ApiKey, Organization
from invoicing.models.pdf import PdfJob
from invoicing.models.webhooks import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSigningKey,
)

__all__ = [
    "AddOn",
    "ApiKey",
    "Credit",
    "CreditNote",
    "CreditNoteAppliedTax",
    "CreditNoteItem",
    "Customer",
    "Fee",
    "FeeAppliedTax",
    "Invoice",
    "InvoiceAppliedTax",
    "Organization",
    "PdfJob",
    "Tax",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookSigningKey",
    "VatCategory",
    "ZERO_RATE_CATEGORIES",
]
