"""The Lotus face: thin views that validate, call one service or selector, and
render with an output serializer. Errors are Lotus's (``errors.py``)."""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing import selectors
from invoicing.api.lotus import serializers as s
from invoicing.api.lotus.errors import PdfGenerationFailed, exception_handler
from invoicing.api.lotus.lookups import VISIBLE_STATUSES, invoice_find
from invoicing.api.lotus.pagination import PAGE_PARAMETERS, LinkHeaderCursorPagination
from invoicing.models import Customer, Organization, PdfJob
from invoicing.representations import lotus
from invoicing.services import catalog
from invoicing.services.files import pdf_download_url, pdf_download_urls
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
# Any request may also meet a database outage: 503 with Retry-After (api/unavailable.py),
# and any authenticated one the rate limits: 429 with Retry-After (api/throttling.py).
UNAVAILABLE = 503
RATE_LIMITED = 429


def _responses(ok, *errors: int) -> dict:
    """The success body and Lotus's error bodies an operation can answer."""
    always = (*BODY_ERRORS, RATE_LIMITED, UNAVAILABLE)
    return {
        **ok,
        401: LotusErrorOutput,
        **{status: LotusErrorOutput for status in (*always, *errors)},
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


def _customers_context(customers: list[Customer], organization: Organization) -> dict:
    """Each customer's recent invoices loaded, and the context rendering them."""
    invoices = selectors.customers_load_recent_invoices(
        customers, organization, to_attr=lotus.CUSTOMER_INVOICES_ATTR
    )
    return {"pdf_urls": pdf_download_urls(invoices)}


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
            selectors.lotus_customer_list(organization=self.organization), request, view=self
        )
        context = _customers_context(page, self.organization)
        return paginator.get_paginated_response([lotus.CUSTOMER.render(c, context) for c in page])

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
        context = _customers_context([customer], self.organization)
        return Response(lotus.CUSTOMER.render(customer, context), status=201)


class CustomerApi(LotusApi):
    @extend_schema(
        operation_id="lotus_customers_retrieve",
        tags=TAGS,
        responses=_responses({200: s.LotusCustomerOutput}, 404),
        summary="Get a customer by its customer_id",
    )
    def get(self, request, customer_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=customer_id)
        context = _customers_context([customer], self.organization)
        return Response(lotus.CUSTOMER.render(customer, context))


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
        qs = selectors.lotus_invoice_list(
            organization=self.organization,
            payment_statuses=set(f.get("payment_status") or {"paid"}),
            customer_external_id=f.get("customer_id"),
        )
        paginator = LinkHeaderCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        paginator.keep_first(selectors.invoices_within_lines(page))
        page = selectors.invoices_load_lines(paginator.page, self.organization)
        context = {"pdf_urls": pdf_download_urls(page)}
        return paginator.get_paginated_response([lotus.INVOICE.render(i, context) for i in page])


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
        selectors.invoices_load_lines([invoice], self.organization)
        return Response(lotus.INVOICE.render(invoice, {"pdf_urls": pdf_download_urls([invoice])}))


# What pdf_url reads for a stored PDF: the columns its answer renders.
PDF_URL_COLUMNS = lotus.PDF_URL.columns()


class InvoicePdfUrlApi(LotusApi):
    def read_with_key(self, request, prefix: str):
        # A stored PDF (the common case) is found with the API key, its
        # invoice, customer, seller and lines in one round trip, without
        # asking for or waiting on anything (api/auth.py checks the key first).
        invoice_id = request.parser_context["kwargs"]["invoice_id"]
        if not _PLAIN_ID.match(invoice_id):
            return selectors.api_key_get_by_prefix(prefix=prefix), None
        return selectors.api_key_and_stored_pdf(
            prefix=prefix,
            invoice_id=invoice_id,
            statuses=VISIBLE_STATUSES,
            with_customer=True,
            fees_to_attr=lotus.LINES_ATTR,
            only=PDF_URL_COLUMNS,
        )

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
                        "header (seconds) says when to ask again. The same answer comes at once, "
                        "without waiting, when the PDF cannot be ready within the wait (backing "
                        "off after a failed attempt, or queued behind too many others) or when "
                        "too many requests of the organization, or in all, are waiting already."
                    ),
                )
            },
            400,
            404,
        ),
        summary="Get the invoice's PDF URL, waiting a bounded time for its rendering",
    )
    def get(self, request, invoice_id: str):
        job = getattr(request, "read_with_key", None)
        headers = None
        if job is not None:
            invoice, ready = job.invoice, True
        else:
            invoice = invoice_find(organization=self.organization, invoice_id=invoice_id)
            # Waits only when the job can finish in time and a waiting slot is
            # free (one tenant must not hold every worker); otherwise answers
            # at once, as a wait that ran out does.
            awaited = invoice_pdf_await(invoice=invoice, timeout=settings.LOTUS_PDF_WAIT_SECONDS)
            job = awaited.job
            if job.is_current and job.state == PdfJob.State.FAILED:
                raise PdfGenerationFailed()
            ready = job.is_current and job.state == PdfJob.State.READY
            if not ready:
                headers = {"Retry-After": str(retry_after_seconds(awaited))}
            selectors.invoices_load_lines([invoice], self.organization)
        urls = {invoice.pk: pdf_download_url(job)} if ready else {}
        return Response(lotus.PDF_URL.render(invoice, {"pdf_urls": urls}), headers=headers)
