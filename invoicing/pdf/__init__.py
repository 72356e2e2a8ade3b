"""Invoice PDF rendering: a pure function from ``InvoiceSnapshot`` to bytes."""

from invoicing.pdf.render import RENDERER_VERSION, render_invoice_pdf, warm_up

__all__ = ["RENDERER_VERSION", "render_invoice_pdf", "warm_up"]
