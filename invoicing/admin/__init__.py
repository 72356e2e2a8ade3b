"""Admin registrations, one module per area so each stays one screenful."""

from invoicing.admin import core, credit_notes, invoices, webhooks  # noqa: F401
