"""Credit notes in the admin: their own list, and inline on the invoice they
amend, with the current PDF's first page. Everything is read-only: a credit
note is issued by the API and never edited; operators act through the
services only (void the credit left, ask for a missing PDF), with the
change permission."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from invoicing.admin.invoices import ReadOnlyInline
from invoicing.admin.money import money_column
from invoicing.errors import NotAllowed
from invoicing.models import CreditNote, CreditNoteAppliedTax, CreditNoteItem, PdfJob
from invoicing.ops.preview import PreviewUnavailable, preview_png
from invoicing.services import credit_notes as service

# One service call per credit note in the request: beyond this, a command.
MAX_BULK = 500


def _currency(row) -> str:
    return row.currency


def _note_currency(row) -> str:
    return row.credit_note.currency


class CreditNoteInline(ReadOnlyInline):
    """On the invoice's page: the credit notes that amend it."""

    model = CreditNote
    fk_name = "invoice"
    fields = ["number", "issuing_date", "reason", "credit_status", "refund_status", "credit",
              "refund", "balance", "total"]  # fmt: skip
    readonly_fields = fields
    show_change_link = True
    credit = money_column("credit_amount_cents", "Credit", _currency)
    refund = money_column("refund_amount_cents", "Refund", _currency)
    balance = money_column("balance_amount_cents", "Credit left", _currency)
    total = money_column("total_amount_cents", "Total", _currency)


class CreditNoteItemInline(ReadOnlyInline):
    model = CreditNoteItem
    fields = ["fee", "amount", "precise_amount_cents"]
    readonly_fields = fields
    amount = money_column("amount_cents", "Amount", _note_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_note", "fee")


class CreditNoteAppliedTaxInline(ReadOnlyInline):
    model = CreditNoteAppliedTax
    fields = ["tax_code", "tax_name", "tax_rate", "base", "amount"]
    readonly_fields = fields
    base = money_column("base_amount_cents", "Taxable base", _note_currency)
    amount = money_column("amount_cents", "Tax", _note_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_note")


@admin.register(CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    list_display = ["number", "invoice", "customer", "reason", "credit_status", "refund_status",
                    "total", "balance", "issuing_date", "organization"]  # fmt: skip
    list_filter = ["credit_status", "refund_status", "reason", "currency", "organization"]
    search_fields = ["number", "invoice__number", "customer__external_id"]
    list_select_related = ["invoice", "customer", "organization"]
    list_per_page = 50
    show_facets = admin.ShowFacets.NEVER
    inlines = [CreditNoteItemInline, CreditNoteAppliedTaxInline]
    actions = ["void_credit_action", "request_pdf_action"]
    fieldsets = [
        ("Identities", {"fields": [("id", "number", "sequential_id"),
                                   ("organization", "customer", "invoice")]}),
        ("PDF", {"fields": ["pdf_overview"]}),
        ("Status", {"fields": [("reason", "credit_status", "refund_status"),
                               ("issuing_date", "refunded_at", "voided_at"), "description"]}),
        ("Amounts", {"fields": [("credit", "refund", "balance"), ("subtotal", "taxes", "total"),
                                "precise_taxes_amount_cents", "taxes_rate"]}),
    ]  # fmt: skip
    readonly_fields = [f.name for f in CreditNote._meta.fields] + [
        "pdf_overview", "credit", "refund", "balance", "subtotal", "taxes", "total",
    ]  # fmt: skip
    credit = money_column("credit_amount_cents", "Credit", _currency)
    refund = money_column("refund_amount_cents", "Refund", _currency)
    balance = money_column("balance_amount_cents", "Credit left", _currency)
    subtotal = money_column("sub_total_excluding_taxes_amount_cents", "Sub total", _currency)
    taxes = money_column("taxes_amount_cents", "Taxes", _currency)
    total = money_column("total_amount_cents", "Total", _currency)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _url(self, name: str, *args) -> str:
        return reverse(f"admin:invoicing_creditnote_{name}", args=args)

    @admin.display(description="As the customer sees it")
    def pdf_overview(self, note):
        jobs = list(PdfJob.objects.filter(credit_note=note).order_by("-version"))
        current = next((j for j in jobs if j.is_current), None)
        if current is None or current.state != PdfJob.State.READY:
            preview = format_html(
                '<div class="invoice-preview-empty">No PDF to show: the current version is '
                "<strong>{}</strong>.</div>",
                current.state if current else "missing",
            )
        else:
            preview = format_html(
                '<a href="{pdf}" target="_blank" rel="noopener">'
                '<img class="invoice-preview" src="{png}" alt="First page of {number}"></a>',
                pdf=self._url("pdf", note.pk, current.pk),
                png=self._url("preview", note.pk, current.pk),
                number=note.number,
            )
        versions = format_html_join(
            "",
            "<li>v{} {}{}</li>",
            ((j.version, j.state, " (current)" if j.is_current else "") for j in jobs),
        )
        return format_html("{}<ul>{}</ul>", preview, versions)

    # ------------------------------------------------------------ actions

    def _bounded(self, request, queryset):
        notes = list(queryset[: MAX_BULK + 1])
        if len(notes) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} credit notes.", messages.ERROR)
            return None
        return notes

    @admin.action(description="Void the credit left", permissions=["change"])
    def void_credit_action(self, request, queryset):
        notes = self._bounded(request, queryset)
        if notes is None:
            return
        done = 0
        for note in notes:
            try:
                service.credit_note_void(organization=note.organization, credit_note_id=note.pk)
                done += 1
            except NotAllowed:
                self.message_user(request, f"{note.number}: no credit left.", messages.WARNING)
        self.message_user(request, f"Voided the credit left of {done} credit note(s).")

    @admin.action(description="Ask for missing or failed PDFs", permissions=["change"])
    def request_pdf_action(self, request, queryset):
        notes = self._bounded(request, queryset)
        if notes is None:
            return
        for note in notes:
            service.credit_note_pdf_request(credit_note=note)
        self.message_user(request, f"Asked for the PDFs of {len(notes)} credit note(s).")

    # -------------------------------------------------------- extra views

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/pdf/<uuid:job_id>/", wrap(self.pdf_view),
                 name="invoicing_creditnote_pdf"),
            path("<path:object_id>/preview/<uuid:job_id>.png", wrap(self.preview_view),
                 name="invoicing_creditnote_preview"),
            *super().get_urls(),
        ]  # fmt: skip

    def _viewable_job(self, request, object_id, job_id):
        note = self.get_object(request, object_id)
        if note is None:
            raise Http404("no such credit note")
        if not self.has_view_permission(request, note):
            raise PermissionDenied
        job = PdfJob.objects.filter(credit_note=note, pk=job_id).first()
        if job is None or job.state != PdfJob.State.READY:
            raise Http404("no ready PDF with this id")
        return note, job

    def pdf_view(self, request, object_id, job_id):
        note, job = self._viewable_job(request, object_id, job_id)
        try:
            stored = default_storage.open(job.storage_key, "rb")
        except OSError as exc:
            raise Http404("the stored PDF is missing") from exc
        response = FileResponse(
            stored, content_type="application/pdf", filename=f"{note.number}-v{job.version}.pdf"
        )
        response["Cache-Control"] = "private, no-store"
        return response

    def preview_view(self, request, object_id, job_id):
        _, job = self._viewable_job(request, object_id, job_id)
        try:
            png = preview_png(job)
        except PreviewUnavailable as exc:
            return HttpResponse(f"no preview: {exc}", status=503, content_type="text/plain")
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, max-age=86400"
        return response
