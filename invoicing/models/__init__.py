from invoicing.models.catalog import AddOn, Customer, Tax
from invoicing.models.invoices import (
    Credit,
    Fee,
    FeeAppliedTax,
    Invoice,
    InvoiceAppliedTax,
)
from invoicing.models.organizations import ApiKey, Organization
from invoicing.models.webhooks import WebhookEndpoint

__all__ = [
    "AddOn",
    "ApiKey",
    "Credit",
    "Customer",
    "Fee",
    "FeeAppliedTax",
    "Invoice",
    "InvoiceAppliedTax",
    "Organization",
    "Tax",
    "WebhookEndpoint",
]
