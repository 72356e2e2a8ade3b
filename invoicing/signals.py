"""Domain signals for observers (metrics, logs) that must not be wired into
the services themselves."""

from django.dispatch import Signal

# Sent after a PDF job is finished and committed.
# kwargs: job_id, invoice_id, organization_id, outcome ("ready" | "retry" |
# "failed"), render_ms (None unless rendered), size_bytes (None unless stored)
pdf_job_finished = Signal()

# Sent after each webhook delivery attempt is recorded.
# kwargs: delivery_id, event_type, endpoint_id, organization_id, outcome,
# status_code, duration_ms
webhook_attempted = Signal()
