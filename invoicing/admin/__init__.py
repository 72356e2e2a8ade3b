"""Admin registrations, one module per area so each stays one screenful."""

from invoicing.admin import core, invoices, webhooks  # noqa: F401
