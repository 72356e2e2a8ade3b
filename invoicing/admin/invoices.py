"""Invoices in the admin: the inspection desk for "where is this customer's PDF?".

The change page shows the invoice as the customer sees it (a first-page
preview of the stored PDF), every PDF version with its job's state, both
public identities, the lines, and each webhook delivery with its attempts.
Operators act through the services only (regenerate, request missing PDFs,
retry failed deliveries), from buttons on the page or as bulk actions.

The changelist stays fast on a million invoices: related rows are joined
(``list_select_related``), the current PDF state is one correlated subquery
on the ``pdf_job_one_current`` partial unique index, filters build their
choices from small tables, and the unfiltered count is PostgreSQL's estimate.
"""

from __future__ import annotations

import re
import uuid

from django.contrib import admin, messages
from django.contrib.admin.filters import DateFieldListFilter
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from invoicing.admin.money import admin_money, money_column
from invoicing.errors import NotAllowed
from invoicing.models import (
    Credit,
    Customer,
    Fee,
    Invoice,
    InvoiceAppliedTax,
    Organization,
    PdfJob,
    WebhookDelivery,
)
from invoicing.money import currency_exponent
from invoicing.ops.preview import PreviewUnavailable, preview_png
from invoicing.services.pdf import (
    RENDERABLE,
    invoice_pdf_regenerate,
    invoice_pdf_request,
    pdf_job_retry,
)

# A bulk action runs one service call per invoice in the request: more than
# this is a job for a command, not a click ("select all" on a million rows).
MAX_BULK_INVOICES = 500
# A filtered list is counted up to this many rows (20 pages of 50): beyond
# it, counting costs more than the number is worth and the operator narrows
# the search instead.
COUNT_CAP = 1_000
# A name search matching more customers than this is too vague to list.
MAX_SEARCH_CUSTOMERS = 200
# The characters of an attempt's response body shown on the invoice page.
RESPONSE_EXCERPT_CHARS = 300

_HEX_ID = re.compile(r"^(?:invoice_)?([0-9a-f]{32})$", re.IGNORECASE)


def parse_invoice_id(term: str) -> uuid.UUID | None:
    """An invoice id in any public form: dashed UUID, 32 hex digits, or
    Lotus's ``invoice_<hex>``."""
    term = term.strip()
    match = _HEX_ID.match(term)
    try:
        return uuid.UUID(match.group(1) if match else term)
    except ValueError:
        return None


class LargeTablePaginator(Paginator):
    """Counts without scanning a million rows: the planner's estimate when
    the list is unfiltered, an exact count up to ``COUNT_CAP`` otherwise."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:
                return row[0]
        # values("pk") leaves the PDF-state subquery out of the count.
        return self.object_list.values("pk").order_by()[: COUNT_CAP + 1].count()


def _current_job():
    # No ordering: at most one current job exists (pdf_job_one_current), and
    # the model's default ordering would add a sort to every correlated lookup.
    return PdfJob.objects.filter(invoice=OuterRef("pk"), is_current=True).order_by()


_OPEN_STATES = (PdfJob.State.PENDING, PdfJob.State.RENDERING, PdfJob.State.FAILED)
# Up to this many ids are passed as a list (a few ms to plan and fetch).
MAX_LISTED_IDS = 5_000


class PdfStateFilter(admin.SimpleListFilter):
    title = "PDF state"
    parameter_name = "pdf_state"

    def lookups(self, request, model_admin):
        return [*PdfJob.State.choices, ("missing", "Missing")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "missing":
            # Only a finalized or voided invoice has a PDF to miss.
            return queryset.filter(~Exists(_current_job()), status__in=RENDERABLE)
        if value in _OPEN_STATES:
            # Open states are rare: their invoice ids, read from the state
            # index, make a short list that the primary key answers. Left to
            # itself the planner walks every invoice probing for a match.
            ids = list(
                PdfJob.objects.filter(state=value, is_current=True)
                .order_by()
                .values_list("invoice_id", flat=True)[: MAX_LISTED_IDS + 1]
            )
            if len(ids) <= MAX_LISTED_IDS:
                return queryset.filter(pk__in=ids)
        if value in PdfJob.State.values:
            return queryset.filter(Exists(_current_job().filter(state=value)))
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    """Choices from customers' currencies: SELECT DISTINCT over the invoices
    themselves (the default) scans the whole table on every page view."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        currencies = (
            Customer.objects.exclude(currency="")
            .order_by("currency")
            .values_list("currency", flat=True)
            .distinct()
        )
        return [(c, c) for c in currencies]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _invoice_currency(row) -> str:
    return row.invoice.currency


class FeeInline(ReadOnlyInline):
    model = Fee
    fields = ["position", "item_code", "invoice_display_name", "description", "units",
              "unit_price", "amount", "taxes_rate", "taxes"]  # fmt: skip
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="Unit price")
    def unit_price(self, fee):
        # A unit price may carry more decimals than the currency's minor unit.
        major = fee.unit_amount_cents.scaleb(-currency_exponent(fee.invoice.currency))
        return f"{major.normalize():f} {fee.invoice.currency}"

    amount = money_column("amount_cents", "Amount", _invoice_currency)
    taxes = money_column("taxes_amount_cents", "Taxes", _invoice_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")


class InvoiceAppliedTaxInline(ReadOnlyInline):
    model = InvoiceAppliedTax
    fields = ["tax_code", "tax_name", "tax_rate", "base", "amount"]
    readonly_fields = fields
    base = money_column("fees_amount_cents", "Taxable base", _invoice_currency)
    amount = money_column("amount_cents", "Tax", _invoice_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")


class CreditInline(ReadOnlyInline):
    model = Credit
    fields = ["kind", "code", "name", "amount"]
    readonly_fields = fields
    amount = money_column("amount_cents", "Amount", _invoice_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")


# --------------------------------------------------------------- operations
# Shared by the bulk actions and the buttons of the change page.


def regenerate_pdfs(invoices) -> str:
    done = skipped = 0
    for invoice in invoices:
        if invoice.status in RENDERABLE:
            invoice_pdf_regenerate(invoice=invoice)
            done += 1
        else:
            skipped += 1
    return (
        f"{done} PDF(s) regenerated (new version, old links stop working); "
        f"{skipped} draft(s) skipped."
    )


def request_missing_pdfs(invoices) -> str:
    invoices = [i for i in invoices if i.status in RENDERABLE]
    current = {
        job.invoice_id: job
        for job in PdfJob.objects.filter(invoice__in=[i.pk for i in invoices], is_current=True)
    }
    requested = rearmed = present = 0
    for invoice in invoices:
        job = current.get(invoice.pk)
        if job is None:
            invoice_pdf_request(invoice=invoice)
            requested += 1
        elif job.state == PdfJob.State.FAILED:
            pdf_job_retry(job=job)
            rearmed += 1
        else:
            present += 1
    return (
        f"{requested} PDF(s) requested, {rearmed} failed job(s) re-armed, "
        f"{present} already ready or in progress."
    )


def retry_failed_deliveries(invoices) -> tuple[str, list[str]]:
    from invoicing.services.webhooks import webhook_delivery_retry_now

    deliveries = WebhookDelivery.objects.filter(
        event__object_id__in=[i.pk for i in invoices], status=WebhookDelivery.Status.FAILED
    )
    retried, refused = 0, []
    for delivery in deliveries:
        try:
            webhook_delivery_retry_now(delivery=delivery)
            retried += 1
        except NotAllowed as exc:
            refused.append(f"delivery {delivery.pk}: {exc}")
    return f"{retried} failed deliver{'y' if retried == 1 else 'ies'} sent again.", refused


OPERATIONS = {
    "regenerate": "Regenerate PDF",
    "request-missing": "Request missing PDF",
    "retry-deliveries": "Retry failed deliveries",
}


def _currency(invoice) -> str:
    return invoice.currency


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["invoice", "customer", "status", "payment_status", "pdf_state", "total",
                    "issuing_date", "organization"]  # fmt: skip
    list_filter = ["status", "payment_status", PdfStateFilter, CurrencyFilter,
                   ("issuing_date", DateFieldListFilter), "invoice_type",
                   "organization"]  # fmt: skip
    # get_search_results does the searching; a field here shows the box.
    search_fields = ["number"]
    search_help_text = (
        "Number, id (dashed, hex or invoice_<hex>), customer external id or customer name."
    )
    list_select_related = ["customer", "organization"]
    list_per_page = 50
    paginator = LargeTablePaginator
    # The unfiltered total would be a count(*) over every invoice per page view.
    show_full_result_count = False
    # Facet counts are a count per filter choice over every invoice.
    show_facets = admin.ShowFacets.NEVER
    inlines = [FeeInline, InvoiceAppliedTaxInline, CreditInline]

    def get_inline_instances(self, request, obj=None):
        # The credit notes amending it (admin/credit_notes.py, which imports this module).
        from invoicing.admin.credit_notes import CreditNoteInline

        inlines = super().get_inline_instances(request, obj)
        return [*inlines, CreditNoteInline(self.model, self.admin_site)]

    actions = ["regenerate_pdfs_action", "request_missing_pdfs_action",
               "retry_failed_deliveries_action"]  # fmt: skip
    # fmt: off
    fieldsets = [
        ("Identities", {"fields": [
            ("id", "lotus_id"), ("number", "sequential_id"), ("organization", "customer")]}),
        ("PDF", {"fields": ["pdf_overview", "pdf_versions"]}),
        ("Webhook deliveries", {"fields": ["webhook_deliveries"]}),
        ("Status", {"fields": [
            ("status", "payment_status", "invoice_type"),
            ("currency", "issuing_date", "payment_due_date"), ("finalized_at", "voided_at")]}),
        ("Amounts", {"fields": [
            ("fees_amount", "coupons_amount"),
            ("sub_total_excluding_taxes", "taxes_amount"),
            ("sub_total_including_taxes", "credit_notes_amount"),
            ("prepaid_credit_amount", "total_paid_amount"), "total_amount"]}),
        ("More", {"classes": ["collapse"], "fields": [
            "purchase_order_number", "net_payment_term", "metadata", "number_scope",
            "number_sequence", "external_payment_obj_id", "external_payment_obj_type",
            "external_payment_obj_status", "created_at", "updated_at"]}),
    ]
    # fmt: on
    # Amounts and numbers are written by the services only: editing them here
    # would break the totals' identities or the numbering.
    readonly_fields = [f.name for f in Invoice._meta.fields] + [
        "lotus_id", "pdf_overview", "pdf_versions", "webhook_deliveries", "fees_amount",
        "coupons_amount", "sub_total_excluding_taxes", "taxes_amount", "sub_total_including_taxes",
        "credit_notes_amount", "prepaid_credit_amount", "total_paid_amount", "total_amount",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A finalized invoice is a legal document with a number in a gapless
        # sequence: it is voided through the API, never deleted.
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(current_pdf_state=Subquery(_current_job().values("state")[:1]))
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        invoice_id = parse_invoice_id(term)
        if invoice_id is not None:
            return queryset.filter(pk=invoice_id), False
        # Both lookups are materialized first: as literal id lists the final
        # query can use the primary key and customer indexes, where an OR of
        # two subqueries would scan every invoice.
        by_number = list(
            Invoice.objects.filter(
                # Numbers are unique per organization; naming the organizations
                # lets PostgreSQL probe the (organization, number) index once
                # per organization instead of scanning every invoice.
                organization__in=Subquery(Organization.objects.values("pk")),
                number__in={term, term.upper()},
            ).values_list("pk", flat=True)
        )
        customers = list(
            Customer.objects.filter(Q(external_id=term) | Q(name__icontains=term)).values_list(
                "pk", flat=True
            )[:MAX_SEARCH_CUSTOMERS]
        )
        return queryset.filter(Q(pk__in=by_number) | Q(customer__in=customers)), False

    # ---------------------------------------------------------- list columns

    @admin.display(description="Invoice", ordering="number")
    def invoice(self, invoice):
        return invoice.number or "draft"

    @admin.display(description="Total", ordering="total_amount_cents")
    def total(self, invoice):
        return admin_money(invoice.total_amount_cents, invoice.currency)

    # The change page's amounts, each in the invoice's currency.
    fees_amount = money_column("fees_amount_cents", "Fees", _currency)
    coupons_amount = money_column("coupons_amount_cents", "Coupons", _currency)
    sub_total_excluding_taxes = money_column(
        "sub_total_excluding_taxes_amount_cents", "Sub-total excluding taxes", _currency
    )
    taxes_amount = money_column("taxes_amount_cents", "Taxes", _currency)
    sub_total_including_taxes = money_column(
        "sub_total_including_taxes_amount_cents", "Sub-total including taxes", _currency
    )
    credit_notes_amount = money_column("credit_notes_amount_cents", "Credit notes", _currency)
    prepaid_credit_amount = money_column("prepaid_credit_amount_cents", "Prepaid credit", _currency)
    total_paid_amount = money_column("total_paid_amount_cents", "Paid", _currency)
    total_amount = money_column("total_amount_cents", "Total", _currency)

    @admin.display(description="PDF", ordering="current_pdf_state")
    def pdf_state(self, invoice):
        state = getattr(invoice, "current_pdf_state", None)
        if state is None:
            return "missing" if invoice.status in RENDERABLE else "–"
        return state

    # ---------------------------------------------------------- change page

    @admin.display(description="Lotus id")
    def lotus_id(self, invoice):
        return invoice.lotus_id

    def _jobs(self, invoice) -> list[PdfJob]:
        # Read once per page view; several fields show parts of it.
        cache = getattr(invoice, "_admin_jobs", None)
        if cache is None:
            cache = list(PdfJob.objects.filter(invoice=invoice).order_by("-version"))
            invoice._admin_jobs = cache
        return cache

    def _current(self, invoice) -> PdfJob | None:
        return next((j for j in self._jobs(invoice) if j.is_current), None)

    def _url(self, name: str, *args) -> str:
        return reverse(f"admin:invoicing_invoice_{name}", args=args)

    def _preview_html(self, invoice, job: PdfJob | None):
        if job is None or job.state != PdfJob.State.READY:
            state = job.state if job else "missing"
            return format_html(
                '<div class="invoice-preview-empty">No PDF to show: the current version is '
                "<strong>{}</strong>.</div>",
                state,
            )
        return format_html(
            '<a href="{pdf}" target="_blank" rel="noopener" title="Open the PDF">'
            '<img class="invoice-preview" src="{png}" alt="First page of {number}"></a>'
            '<p><a href="{pdf}" target="_blank" rel="noopener">Open the PDF (v{version}, '
            "{pages} page{s})</a></p>",
            pdf=self._url("pdf", invoice.pk, job.pk),
            png=self._url("preview", invoice.pk, job.pk),
            number=invoice.number or invoice.pk,
            version=job.version,
            pages=job.page_count or "?",
            s="" if job.page_count == 1 else "s",
        )

    @admin.display(description="As the customer sees it")
    def pdf_overview(self, invoice):
        """The first page beside the current version's job, in one look."""
        job = self._current(invoice)
        return format_html(
            '<div class="invoice-pdf"><div>{}</div><div>{}</div></div>',
            self._preview_html(invoice, job),
            self.pdf_current(invoice),
        )

    def pdf_current(self, invoice):
        job = self._current(invoice)
        if job is None:
            return (
                "No PDF job: use “Request missing PDF”."
                if invoice.status in RENDERABLE
                else ("Drafts have no PDF.")
            )
        rows = [
            ("State", job.state),
            ("Version", job.version),
            ("Attempts", job.attempts),
            ("Last error", job.last_error or "–"),
            ("Checksum (SHA-256)", job.checksum or "–"),
            ("Size", f"{filesizeformat(job.size_bytes)} ({job.size_bytes} bytes)"
             if job.size_bytes is not None else "–"),
            ("Pages", job.page_count or "–"),
            ("Render time", f"{job.render_ms} ms" if job.render_ms is not None else "–"),
            ("Stored key", job.storage_key or "–"),
            # The UBL stored beside the PDF when the organization issues e-invoices.
            ("E-invoice XML", job.xml_storage_key or "–"),
            ("Renderer", job.renderer_version or "–"),
            ("Requested / started / finished",
             " / ".join(f"{t:%Y-%m-%d %H:%M:%S}" if t else "–"
                        for t in (job.created_at, job.started_at, job.finished_at))),
        ]  # fmt: skip
        return format_html(
            '<table class="ops-kv">{}</table>',
            format_html_join("", '<tr><th>{}</th><td class="wrap">{}</td></tr>', rows),
        )

    @admin.display(description="All versions")
    def pdf_versions(self, invoice):
        jobs = self._jobs(invoice)
        if not jobs:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td>v{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
            '<td class="wrap">{}</td><td>{}</td></tr>',
            (
                (
                    j.version,
                    " (current)" if j.is_current else " (retired)",
                    j.state,
                    j.attempts,
                    filesizeformat(j.size_bytes) if j.size_bytes is not None else "–",
                    j.checksum[:16] or "–",
                    j.storage_key or "–",
                    format_html('<a href="{}" target="_blank" rel="noopener">open</a>',
                                self._url("pdf", invoice.pk, j.pk))
                    if j.state == PdfJob.State.READY else "–",
                )
                for j in jobs
            ),
        )  # fmt: skip
        return format_html(
            '<table class="ops-wrap"><thead><tr><th>Version</th><th>State</th><th>Attempts</th>'
            "<th>Size</th>"
            "<th>Checksum</th><th>Stored key</th><th>PDF</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            rows,
        )

    @admin.display(description="Deliveries and attempts")
    def webhook_deliveries(self, invoice):
        deliveries = (
            WebhookDelivery.objects.filter(event__object_id=invoice.pk)
            .select_related("event", "endpoint")
            .prefetch_related("attempts")
            .order_by("created_at")
        )
        if not deliveries:
            return "No webhook delivery for this invoice."
        blocks = []
        for d in deliveries:
            try:
                link = format_html('<a href="{}">{}</a>', reverse(
                    "admin:invoicing_webhookdelivery_change", args=[d.pk]), d.pk)  # fmt: skip
            except NoReverseMatch:
                link = str(d.pk)
            attempts = format_html_join(
                "",
                "<tr><td>#{}</td><td>{}</td><td>{} ms</td><td>{}</td>"
                '<td>{}</td><td class="wrap">{}</td><td>{}</td><td class="wrap"><code>{}</code>'
                "</td></tr>",
                (
                    (a.attempt_number, f"{a.started_at:%Y-%m-%d %H:%M:%S}", a.duration_ms,
                     a.outcome, a.status_code or "–", a.error or "–", a.remote_ip or "–",
                     bytes(a.response_body)[:RESPONSE_EXCERPT_CHARS].decode(errors="replace"))
                    for a in d.attempts.all()
                ),
            )  # fmt: skip
            blocks.append(
                format_html(
                    "<p><strong>{event}</strong> to {endpoint} — <strong>{status}</strong>, "
                    "{count} attempt(s){next} · delivery {link}</p>"
                    "<table class='ops-wrap'><thead><tr><th>Attempt</th><th>Started</th>"
                    "<th>Duration</th><th>Outcome</th><th>HTTP</th><th>Error</th><th>Address</th>"
                    "<th>Response (excerpt)</th></tr></thead><tbody>{attempts}</tbody></table>",
                    event=d.event.event_type,
                    endpoint=d.endpoint,
                    status=d.status,
                    count=d.attempt_count,
                    next=f", next at {d.next_attempt_at:%Y-%m-%d %H:%M:%S}"
                    if d.status == WebhookDelivery.Status.PENDING and d.next_attempt_at
                    else "",
                    link=link,
                    attempts=attempts or format_html("<tr><td colspan=8>no attempt yet</td></tr>"),
                )
            )
        return format_html_join("", "{}", ((b,) for b in blocks))

    # ---------------------------------------------------------- bulk actions

    def _bounded(self, request, queryset) -> list[Invoice] | None:
        invoices = list(queryset.order_by()[: MAX_BULK_INVOICES + 1])
        if len(invoices) > MAX_BULK_INVOICES:
            self.message_user(
                request,
                f"At most {MAX_BULK_INVOICES} invoices per action; narrow the selection.",
                messages.ERROR,
            )
            return None
        return invoices

    @admin.action(description="Regenerate PDFs (new version; old links stop working)",
                  permissions=["change"])  # fmt: skip
    def regenerate_pdfs_action(self, request, queryset):
        if (invoices := self._bounded(request, queryset)) is not None:
            self.message_user(request, regenerate_pdfs(invoices), messages.SUCCESS)

    @admin.action(description="Request missing PDFs (and re-arm failed ones)",
                  permissions=["change"])  # fmt: skip
    def request_missing_pdfs_action(self, request, queryset):
        if (invoices := self._bounded(request, queryset)) is not None:
            self.message_user(request, request_missing_pdfs(invoices), messages.SUCCESS)

    @admin.action(description="Retry failed webhook deliveries", permissions=["change"])
    def retry_failed_deliveries_action(self, request, queryset):
        if (invoices := self._bounded(request, queryset)) is not None:
            summary, refused = retry_failed_deliveries(invoices)
            self.message_user(request, summary, messages.SUCCESS)
            for line in refused:
                self.message_user(request, line, messages.WARNING)

    # ---------------------------------------------------------- extra views

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/pdf/<uuid:job_id>/", wrap(self.pdf_view),
                 name="invoicing_invoice_pdf"),
            path("<path:object_id>/preview/<uuid:job_id>.png", wrap(self.preview_view),
                 name="invoicing_invoice_preview"),
            path("<path:object_id>/operate/<str:operation>/", wrap(self.operate_view),
                 name="invoicing_invoice_operate"),
            *super().get_urls(),
        ]  # fmt: skip

    def _viewable_job(self, request, object_id, job_id) -> tuple[Invoice, PdfJob]:
        invoice = self.get_object(request, object_id)
        if invoice is None:
            raise Http404("no such invoice")
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        job = PdfJob.objects.filter(invoice=invoice, pk=job_id).first()
        if job is None or job.state != PdfJob.State.READY:
            raise Http404("no ready PDF with this id")
        return invoice, job

    def pdf_view(self, request, object_id, job_id):
        """The stored PDF inline, for staff: any version, retired ones too."""
        invoice, job = self._viewable_job(request, object_id, job_id)
        try:
            stored = default_storage.open(job.storage_key, "rb")
        except OSError as exc:
            raise Http404("the stored PDF is missing") from exc
        filename = f"{invoice.number or invoice.pk}-v{job.version}.pdf"
        response = FileResponse(stored, content_type="application/pdf", filename=filename)
        response["Cache-Control"] = "private, no-store"
        return response

    def preview_view(self, request, object_id, job_id):
        _, job = self._viewable_job(request, object_id, job_id)
        try:
            png = preview_png(job)
        except PreviewUnavailable as exc:
            return HttpResponse(f"no preview: {exc}", status=503, content_type="text/plain")
        response = HttpResponse(png, content_type="image/png")
        # Named by checksum, so a version's preview never changes.
        response["Cache-Control"] = "private, max-age=86400"
        return response

    def operate_view(self, request, object_id, operation):
        return require_POST(self._operate)(request, object_id, operation)

    def _operate(self, request, object_id, operation):
        invoice = self.get_object(request, object_id)
        if invoice is None:
            raise Http404("no such invoice")
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        if operation == "regenerate":
            self.message_user(request, regenerate_pdfs([invoice]), messages.SUCCESS)
        elif operation == "request-missing":
            self.message_user(request, request_missing_pdfs([invoice]), messages.SUCCESS)
        elif operation == "retry-deliveries":
            summary, refused = retry_failed_deliveries([invoice])
            self.message_user(request, summary, messages.SUCCESS)
            for line in refused:
                self.message_user(request, line, messages.WARNING)
        else:
            raise Http404("no such operation")
        return HttpResponseRedirect(self._url("change", invoice.pk))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "invoice_operations": [
                (label, self._url("operate", object_id, name)) for name, label in OPERATIONS.items()
            ],
        }
        return super().change_view(request, object_id, form_url, extra_context)
