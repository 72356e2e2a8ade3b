"""The Lotus face: thin views that validate, call one service or selector, and
render with an output serializer. Errors are Lotus's (``errors.py``)."""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Max,
    Min,
    Prefetch,
    Q,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import RowNumber
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing import selectors
from invoicing.api.lotus import serializers as s
from invoicing.api.lotus.errors import PdfGenerationFailed, exception_handler
from invoicing.api.lotus.lookups import VISIBLE_STATUSES, invoice_find
from invoicing.api.lotus.pagination import PAGE_PARAMETERS, LinkHeaderCursorPagination
from invoicing.models import Customer, Fee, Invoice, Organization, PdfJob
from invoicing.services import catalog
from invoicing.services.files import pdf_download_url
from invoicing.services.pdf_wait import invoice_pdf_await, retry_after_seconds

TAGS = ["lotus"]


class LotusErrorOutput(serializers.Serializer):
    type = serializers.CharField()
    detail = serializers.CharField()
    title = serializers.CharField()
    validation_errors = serializers.ListField(child=serializers.DictField(), required=False)


# Any request may carry a body, and the parser answers before the view runs:
# malformed JSON (400), over MAX_REQUEST_BYTES (413), not JSON at all (415).
BODY_ERRORS = (400, 413, 415)
# Any request may also meet a database outage: 503 with Retry-After (api/unavailable.py).
UNAVAILABLE = 503


def _responses(ok, *errors: int) -> dict:
    """The success body and Lotus's error bodies an operation can answer."""
    return {
        **ok,
        401: LotusErrorOutput,
        **{status: LotusErrorOutput for status in (*BODY_ERRORS, UNAVAILABLE, *errors)},
    }


INVOICE_ID = OpenApiParameter(
    "invoice_id",
    location=OpenApiParameter.PATH,
    description=(
        "An invoice ID (`invoice_<32 hex>`; a bare 32-hex or dashed UUID works too) or an "
        "invoice number (`YYMMDD-000001`, or as the organization's numbering scheme made it)."
    ),
)


# The id spellings that ``invoice_find`` reads as an id whatever else is true
# (never a number, never a 400): they may take the one-query stored PDF path.
_PLAIN_ID = re.compile(r"^(?:invoice_[0-9a-f]{32}|[0-9a-fA-F]{32}|[0-9a-fA-F-]{36})$")


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _pdf_urls(invoices: list[Invoice]) -> dict:
    """Download URLs of the invoices' stored PDFs, in one query."""
    jobs = selectors.invoice_stored_pdf_jobs(invoice_ids=[i.pk for i in invoices])
    return {invoice_id: pdf_download_url(job) for invoice_id, job in jobs.items()}


# Lines a page of invoices may carry: a page is cut after the invoice that
# reaches it (always at least one), so 500 invoices of 10,000 lines each
# never load 5 million rows into one request.
MAX_LINES_PER_PAGE = 10_000
# A customer's nested ``invoices`` holds its most recent finalized invoices;
# all of them are one call away (``GET /api/invoices/?customer_id=``).
CUSTOMER_INVOICES_SHOWN = 100


def _invoices_within_lines(invoices: list[Invoice]) -> int:
    """How many of ``invoices``, in order, fit MAX_LINES_PER_PAGE lines."""
    if not invoices:
        return 0
    counts = dict(
        Fee.objects.filter(invoice__in=invoices)
        .order_by()
        .values_list("invoice_id")
        .annotate(n=Count("id"))
    )
    total = 0
    for index, invoice in enumerate(invoices):
        total += counts.get(invoice.pk, 0)
        if total > MAX_LINES_PER_PAGE and index > 0:
            return index
    return len(invoices)


def _load_invoices(invoices: list[Invoice], organization: Organization) -> list[Invoice]:
    """Lines in one query; seller and customer's organization from the
    caller's (already loaded) organization, so nothing else queries."""
    prefetch_related_objects(invoices, "fees")
    for invoice in invoices:
        invoice.organization = organization
        invoice.customer.organization = organization
    return invoices


def _load_customers(customers: list[Customer], organization: Organization) -> dict:
    """Each customer's finalized invoices (``lotus_invoices``) with their
    periods, in one query, and the URLs of their PDFs; returns the context."""
    # The organization too, not only the customer: a row moved between
    # organizations at the database level must not carry its invoices along.
    recent = Window(
        RowNumber(),
        partition_by=[F("customer_id")],
        order_by=[F("issuing_date").desc(), F("created_at").desc()],
    )
    invoices = (
        Invoice.objects.filter(organization=organization, status=Invoice.Status.FINALIZED)
        .annotate(rank=recent)
        .filter(rank__lte=CUSTOMER_INVOICES_SHOWN)
        .annotate(period_from=Min("fees__from_datetime"), period_to=Max("fees__to_datetime"))
    )
    prefetch_related_objects(
        customers,
        Prefetch(
            "invoices",
            queryset=invoices.order_by("-issuing_date", "-created_at"),
            to_attr="lotus_invoices",
        ),
    )
    every_invoice = []
    for customer in customers:
        customer.organization = organization
        for invoice in customer.lotus_invoices:
            invoice.organization = organization
            invoice.customer = customer
            every_invoice.append(invoice)
    return {"pdf_urls": _pdf_urls(every_invoice) if every_invoice else {}}


class LotusApi(APIView):
    def get_exception_handler(self):
        return exception_handler

    @property
    def organization(self) -> Organization:
        return self.request.user.organization


# ------------------------------------------------------------- customers


class CustomersApi(LotusApi):
    @extend_schema(
        operation_id="lotus_customers_list",
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses=_responses({200: s.LotusCustomerOutput(many=True)}, 404),
        summary="List customers",
        description="Newest first, a bare array; further pages via the `Link` header.",
    )
    def get(self, request):
        paginator = LinkHeaderCursorPagination()
        page = paginator.paginate_queryset(
            Customer.objects.filter(organization=self.organization), request, view=self
        )
        context = _load_customers(page, self.organization)
        return paginator.get_paginated_response(
            s.LotusCustomerOutput(page, many=True, context=context).data
        )

    @extend_schema(
        operation_id="lotus_customers_create",
        tags=TAGS,
        request=s.LotusCustomerCreateInput,
        responses=_responses({201: s.LotusCustomerOutput}, 400),
        summary="Create a customer (an existing customer_id is refused)",
    )
    def post(self, request):
        serializer = s.LotusCustomerCreateInput(
            data=request.data if isinstance(request.data, dict) else {}
        )
        serializer.is_valid(raise_exception=True)
        customer = catalog.customer_create(
            organization=self.organization,
            external_id=serializer.validated_data["customer_id"],
            data=serializer.to_customer_data(),
        )
        context = _load_customers([customer], self.organization)
        return Response(s.LotusCustomerOutput(customer, context=context).data, status=201)


class CustomerApi(LotusApi):
    @extend_schema(
        operation_id="lotus_customers_retrieve",
        tags=TAGS,
        responses=_responses({200: s.LotusCustomerOutput}, 404),
        summary="Get a customer by its customer_id",
    )
    def get(self, request, customer_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=customer_id)
        context = _load_customers([customer], self.organization)
        return Response(s.LotusCustomerOutput(customer, context=context).data)


# -------------------------------------------------------------- invoices


class InvoicesApi(LotusApi):
    @extend_schema(
        operation_id="lotus_invoices_list",
        tags=TAGS,
        parameters=[s.LotusInvoiceListFilters, *PAGE_PARAMETERS],
        responses=_responses({200: s.LotusInvoiceOutput(many=True)}, 400, 404),
        summary="List invoices",
        description=(
            "Finalized invoices, newest first, as a bare array (further pages via the `Link` "
            "header). `payment_status` defaults to `paid`, as upstream; drafts and voided "
            "invoices are never listed."
        ),
    )
    def get(self, request):
        f = _validated(s.LotusInvoiceListFilters, request.query_params)
        wanted = f.get("payment_status") or {"paid"}
        qs = selectors.invoice_list(organization=self.organization).filter(
            status=Invoice.Status.FINALIZED
        )
        paid = Q(payment_status=Invoice.PaymentStatus.SUCCEEDED)
        if wanted == {"paid"}:
            qs = qs.filter(paid)
        elif wanted == {"unpaid"}:
            qs = qs.exclude(paid)
        if "customer_id" in f:
            qs = qs.filter(customer__external_id=f["customer_id"])
        paginator = LinkHeaderCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        paginator.keep_first(_invoices_within_lines(page))
        page = _load_invoices(paginator.page, self.organization)
        context = {"pdf_urls": _pdf_urls(page) if page else {}}
        return paginator.get_paginated_response(
            s.LotusInvoiceOutput(page, many=True, context=context).data
        )


class InvoiceApi(LotusApi):
    @extend_schema(
        operation_id="lotus_invoices_retrieve",
        tags=TAGS,
        parameters=[INVOICE_ID],
        responses=_responses({200: s.LotusInvoiceOutput}, 400, 404),
        summary="Get an invoice by id or number",
    )
    def get(self, request, invoice_id: str):
        invoice = invoice_find(organization=self.organization, invoice_id=invoice_id)
        _load_invoices([invoice], self.organization)
        context = {"pdf_urls": _pdf_urls([invoice])}
        return Response(s.LotusInvoiceOutput(invoice, context=context).data)


class InvoicePdfUrlApi(LotusApi):
    @extend_schema(
        operation_id="lotus_invoices_pdf_url",
        tags=TAGS,
        parameters=[INVOICE_ID],
        responses=_responses(
            {
                200: OpenApiResponse(
                    s.LotusInvoicePdfUrlOutput,
                    description=(
                        "The invoice with `invoice_pdf` and `url`, a signed download URL. If the "
                        "PDF is not stored within the wait, both are null and a `Retry-After` "
                        "header (seconds) says when to ask again."
                    ),
                )
            },
            400,
            404,
        ),
        summary="Get the invoice's PDF URL, waiting a bounded time for its rendering",
    )
    def get(self, request, invoice_id: str):
        # A stored PDF (the common case) is found with its invoice, customer,
        # seller and lines in one round trip, without asking for or waiting
        # on anything.
        job = None
        if _PLAIN_ID.match(invoice_id):
            job = selectors.invoice_stored_pdf_get(
                organization_id=request.user.organization_id,
                invoice_id=invoice_id,
                statuses=VISIBLE_STATUSES,
                with_customer=True,
                fees_to_attr=s.LINES_ATTR,
                only=s.INVOICE_COLUMNS,
            )
        if job is not None:
            invoice, ready = job.invoice, True
        else:
            invoice = invoice_find(organization=self.organization, invoice_id=invoice_id)
            job = invoice_pdf_await(invoice=invoice, timeout=settings.LOTUS_PDF_WAIT_SECONDS)
            if job.is_current and job.state == PdfJob.State.FAILED:
                raise PdfGenerationFailed()
            ready = job.is_current and job.state == PdfJob.State.READY
            _load_invoices([invoice], self.organization)
        headers = None if ready else {"Retry-After": str(retry_after_seconds(job))}
        # LotusInvoicePdfUrlOutput's body, without a serializer instance.
        body = s.render_pdf_url(invoice, pdf_download_url(job) if ready else None)
        return Response(body, headers=headers)
