"""Webhooks in the admin: endpoints (re-enable), deliveries with their attempts (retry now,
re-send). Read-only otherwise: every change goes through the services, and no secret (the
Standard Webhooks secrets, the JWT signing key) is ever displayed."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from invoicing.errors import NotAllowed
from invoicing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from invoicing.services import webhooks

# The attempt row keeps up to 20 KB of the answer; this much of it is enough to read why.
RESPONSE_EXCERPT_CHARS = 2000


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["webhook_url", "name", "organization", "signature_algo", "enabled",
                    "failing_since", "disabled_at", "disabled_reason"]  # fmt: skip
    list_filter = ["enabled", "signature_algo", "organization"]
    search_fields = ["webhook_url", "name", "id"]
    list_select_related = ["organization"]
    fields = ["id", "organization", "webhook_url", "name", "signature_algo", "event_types",
              "has_standard_secret", "previous_secret_expires_at", "enabled", "failing_since",
              "disabled_at", "disabled_reason", "created_at", "updated_at"]  # fmt: skip
    readonly_fields = fields
    actions = ["enable_endpoints"]

    @admin.display(boolean=True, description="Standard secret set")
    def has_standard_secret(self, endpoint: WebhookEndpoint) -> bool:
        return bool(endpoint.standard_secret)

    def has_add_permission(self, request):
        # Endpoints are created through the API or `create_organization`, which check the
        # URL and show a `standard` secret once.
        return False

    # State-changing actions need the change permission: view-only staff
    # read, they do not send.
    @admin.action(description="Re-enable the selected endpoints", permissions=["change"])
    def enable_endpoints(self, request, queryset):
        for endpoint in queryset:
            webhooks.webhook_endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.")


class WebhookDeliveryAttemptInline(admin.TabularInline):
    model = WebhookDeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["attempt_number", "started_at", "outcome", "status_code", "duration_ms",
              "remote_ip", "error", "response_excerpt"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Response (excerpt)")
    def response_excerpt(self, attempt: WebhookDeliveryAttempt) -> str:
        text = bytes(attempt.response_body or b"").decode("utf-8", errors="replace")
        if not text:
            return "-"
        excerpt = text[:RESPONSE_EXCERPT_CHARS]
        if len(text) > RESPONSE_EXCERPT_CHARS:
            excerpt += " …"
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', excerpt)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempt_count", "last_status_code",
                    "last_attempt_at", "next_attempt_at", "created_at"]  # fmt: skip
    list_filter = ["status", "event__event_type", ("endpoint", admin.RelatedOnlyFieldListFilter),
                   "created_at"]  # fmt: skip
    search_fields = ["id", "event__object_id", "endpoint__webhook_url"]
    date_hierarchy = "created_at"
    list_select_related = ["event", "endpoint"]
    fields = ["id", "event", "event_type", "endpoint", "status", "attempt_count",
              "next_attempt_at", "last_attempt_at", "last_status_code", "last_error",
              "created_at", "updated_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [WebhookDeliveryAttemptInline]
    actions = ["retry_now", "resend"]

    @admin.display(description="Event", ordering="event__event_type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.event_type

    def has_add_permission(self, request):
        return False

    def _rearm(self, request, queryset, service, label: str) -> None:
        done, refused = 0, []
        for delivery in queryset:
            try:
                service(delivery=delivery)
                done += 1
            except NotAllowed as exc:
                refused.append(f"{delivery.pk}: {exc}")
        self.message_user(request, f"{done} deliver{'y' if done == 1 else 'ies'} {label}.")
        if refused:
            self.message_user(request, "Not sent: " + "; ".join(refused), level=messages.WARNING)

    @admin.action(description="Retry the selected failed deliveries now", permissions=["change"])
    def retry_now(self, request, queryset):
        self._rearm(request, queryset, webhooks.webhook_delivery_retry_now, "queued again")

    @admin.action(
        description="Re-send the selected succeeded deliveries (same id)", permissions=["change"]
    )
    def resend(self, request, queryset):
        self._rearm(request, queryset, webhooks.webhook_delivery_resend, "queued for re-sending")
