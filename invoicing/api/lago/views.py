"""The Lago face: thin views that validate, call one service or selector, and
render with an output serializer."""

from __future__ import annotations

import functools
import threading

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing import selectors
from invoicing.api.lago import serializers as s
from invoicing.api.lago.errors import ParamMissing, exception_handler
from invoicing.api.pagination import PAGE_PARAMETERS, page_params, paginate
from invoicing.api.throttling import rate_limit_of
from invoicing.errors import NotAllowed, NotFound
from invoicing.models import Invoice, PdfJob, WebhookEndpoint
from invoicing.representations import lago
from invoicing.services import (
    catalog,
    credit_notes,
    invoices,
    organizations,
    pdf,
    webhook_endpoints,
    webhooks,
)
from invoicing.services.files import download_urls, pdf_download_url, xml_download_url
from invoicing.services.invoices import FeeInput

# What the download of a stored PDF reads: the columns its answer renders.
INVOICE_BASE_COLUMNS = lago.INVOICE_BASE.columns()


# One serializer of each input class per thread, its fields built and bound
# once: DRF builds a serializer's fields anew for every instance (a deep copy
# of the declared ones), which was 0.25 ms of a create's 0.36 ms of
# validation. Validating keeps no state on the serializer or its fields (none
# of the input serializers reads initial_data, context or instance), so one
# serves request after request; per thread, as a field's binding is not
# meant to be shared while in use.
_bound_inputs = threading.local()


def _validated(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        data = {}
    serializers_ = _bound_inputs.__dict__.setdefault("by_class", {})
    serializer = serializers_.get(serializer_class)
    if serializer is None:
        serializer = serializers_[serializer_class] = serializer_class()
    # What is_valid(raise_exception=True) runs, without the instance's state:
    # the ValidationError raised carries the same details.
    return serializer.run_validation(data)


def _root(request, name: str) -> dict:
    """Lago wraps every body in its resource name: ``{"invoice": {...}}``.
    Absent, empty or not an object, it is lago-api's 400 (Rails'
    ``params.require``; lago-api answers a non-empty text with a 500)."""
    body = request.data if isinstance(request.data, dict) else {}
    inner = body.get(name)
    if not isinstance(inner, dict) or not inner:
        raise ParamMissing(name)
    return inner


def _page(request, queryset) -> tuple[list, dict]:
    page, per_page = page_params(request.query_params)
    return paginate(queryset, page=page, per_page=per_page)


class LagoErrorOutput(serializers.Serializer):
    status = serializers.IntegerField()
    error = serializers.CharField()
    code = serializers.CharField(required=False)
    error_details = serializers.DictField(required=False)


# An empty list answers 0 as ``current_page`` and ``total_pages``
# (``Pagination#pagination_metadata``).
PAGINATION_META = inline_serializer(
    name="PaginationMeta",
    fields={
        "current_page": serializers.IntegerField(),
        "next_page": serializers.IntegerField(allow_null=True),
        "prev_page": serializers.IntegerField(allow_null=True),
        "total_pages": serializers.IntegerField(),
        "total_count": serializers.IntegerField(),
    },
)


# Cached so each envelope is one schema component, however many views use it.
@functools.cache
def _wrapped(name: str, serializer_class):
    return inline_serializer(
        name=f"{serializer_class.__name__}Envelope", fields={name: serializer_class()}
    )


@functools.cache
def _list_envelope(name: str, serializer_class):
    return inline_serializer(
        name=f"{serializer_class.__name__}List",
        fields={name: serializer_class(many=True), "meta": PAGINATION_META},
    )


# Any request may carry a body, and the parser answers before the view runs:
# malformed JSON (400), over MAX_REQUEST_BYTES (413), not JSON at all (415).
BODY_ERRORS = (400, 413, 415)
# Any request may also meet a database outage: 503 with Retry-After (api/unavailable.py),
# and any authenticated one the rate limits: 429 with Retry-After (api/throttling.py).
UNAVAILABLE = 503
RATE_LIMITED = 429


def _responses(ok, *errors: int) -> dict:
    """The success body and Lago's error bodies an operation can answer."""
    always = (*BODY_ERRORS, RATE_LIMITED, UNAVAILABLE)
    return {
        200: ok,
        401: LagoErrorOutput,
        **{status: LagoErrorOutput for status in (*always, *errors)},
    }


class WebhookEndpointMaybeSecretOutput(s.WebhookEndpointOutput):
    """Schema only: create and update show ``secret`` only when they have just
    issued a standard secret; otherwise the body has no ``secret`` at all."""

    secret = serializers.CharField(required=False)


class LagoApi(APIView):
    def get_exception_handler(self):
        return exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # lago-python-client reads these into LagoRateLimitError (on a 429)
        # and hands them to its rate-limit callback (on every answer).
        limit = rate_limit_of(request)
        if limit is not None:
            response["x-ratelimit-limit"] = str(limit.limit)
            response["x-ratelimit-remaining"] = str(limit.remaining)
            response["x-ratelimit-reset"] = str(limit.reset_s)
        return response

    @property
    def organization(self):
        return self.request.user.organization


# ---------------------------------------------------------- organization


class OrganizationApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("organization", s.OrganizationOutput)))
    def get(self, request):
        return Response({"organization": lago.ORGANIZATION.render(self.organization)})

    @extend_schema(
        request=_wrapped("organization", s.OrganizationInput),
        responses=_responses(_wrapped("organization", s.OrganizationOutput), 422),
        description=(
            "lago-api's organization update, for the fields this service keeps, and beyond "
            "Lago the e-invoicing settings: `einvoicing_enabled` (Factur-X PDFs and UBL XML "
            "for every invoice finalized from then on), `electronic_address` and "
            "`electronic_address_scheme` (the Peppol endpoint), `iban` and `bic`."
        ),
    )
    def put(self, request):
        data = _validated(s.OrganizationInput, _root(request, "organization"))
        organization = organizations.organization_update(organization=self.organization, data=data)
        return Response({"organization": lago.ORGANIZATION.render(organization)})


# ------------------------------------------------------------- customers


def _customer_response(customer, organization) -> Response:
    customer.organization = organization
    return Response({"customer": lago.CUSTOMER_DETAILED.render(customer)})


CUSTOMER_LIST_PARAMETERS = [
    *PAGE_PARAMETERS,
    OpenApiParameter(
        "search_term",
        str,
        description="Part of the name, first or last name, legal name, external id or email.",
    ),
    OpenApiParameter(
        "billing_entity_codes[]",
        {"type": "array", "items": {"type": "string"}},
        description="Only the customers of these billing entities (404 if one is unknown).",
    ),
]


class CustomersApi(LagoApi):
    @extend_schema(
        request=_wrapped("customer", s.CustomerInput),
        responses=_responses(_wrapped("customer", s.CustomerDetailedOutput), 404, 422),
        summary="Create or update a customer (upsert by external_id)",
    )
    def post(self, request):
        inner = _root(request, "customer")
        # ``Customers::UpsertFromApiService`` resolves the billing entity first.
        code = inner.get("billing_entity_code")
        if code:
            selectors.billing_entities_check(organization=self.organization, codes=[str(code)])
        data = _validated(s.CustomerInput, inner)
        customer, _ = catalog.customer_upsert(
            organization=self.organization, external_id=data.pop("external_id"), data=data
        )
        return _customer_response(customer, self.organization)

    @extend_schema(
        operation_id="customers_list",
        parameters=CUSTOMER_LIST_PARAMETERS,
        responses=_responses(_list_envelope("customers", s.CustomerWithTaxesOutput), 404),
    )
    def get(self, request):
        codes = s.billing_entity_codes(request.query_params)
        if codes is not None:
            selectors.billing_entities_check(
                organization=self.organization, codes=codes, distinct=True
            )
        qs = selectors.customer_list(
            organization=self.organization,
            search_term=(request.query_params.get("search_term") or "").strip(),
            filters=s.customer_filters(request.query_params),
        )
        items, meta = _page(request, qs)
        for customer in items:
            customer.organization = self.organization
        return Response(
            {"customers": [lago.CUSTOMER_WITH_TAXES.render(c) for c in items], "meta": meta}
        )


class CustomerApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("customer", s.CustomerDetailedOutput), 404, 422))
    def get(self, request, external_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=external_id)
        return _customer_response(customer, self.organization)

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("customer", s.CustomerDetailedOutput), 404, 422),
        summary="Delete a customer",
        description=(
            "Soft deletion, as Lago's: the customer's issued invoices stay as they are, its "
            "drafts are finalized, and its external_id may name a new customer. The answer is "
            "the customer as it was deleted. With e-invoicing on, a draft that could not be "
            "a valid e-invoice is refused as its finalization would be (422 naming what it "
            "lacks), and the customer is not deleted."
        ),
    )
    def delete(self, request, external_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=external_id)
        customer = catalog.customer_delete(customer=customer)
        return _customer_response(customer, self.organization)


# ----------------------------------------------------------------- taxes


class TaxApiBase(LagoApi):
    def render_tax(self, tax) -> dict:
        context = {"billing_entity_code": self.organization.billing_entity_code}
        return lago.TAX_WITH_BILLING_ENTITIES.render(tax, context)


class TaxesApi(TaxApiBase):
    @extend_schema(
        request=_wrapped("tax", s.TaxInput),
        responses=_responses(_wrapped("tax", s.TaxWithBillingEntitiesOutput), 404, 422),
    )
    def post(self, request):
        data = _validated(s.TaxInput, _root(request, "tax"))
        tax = catalog.tax_create(organization=self.organization, data=data)
        return Response({"tax": self.render_tax(tax)})

    @extend_schema(
        operation_id="taxes_list",
        parameters=PAGE_PARAMETERS,
        responses=_responses(_list_envelope("taxes", s.TaxWithBillingEntitiesOutput)),
    )
    def get(self, request):
        items, meta = _page(request, selectors.tax_list(organization=self.organization))
        return Response({"taxes": [self.render_tax(t) for t in items], "meta": meta})


class TaxApi(TaxApiBase):
    @extend_schema(responses=_responses(_wrapped("tax", s.TaxWithBillingEntitiesOutput), 404, 422))
    def get(self, request, code: str):
        tax = selectors.tax_get(organization=self.organization, code=code)
        return Response({"tax": self.render_tax(tax)})

    @extend_schema(
        request=_wrapped("tax", s.TaxInput),
        responses=_responses(_wrapped("tax", s.TaxWithBillingEntitiesOutput), 404, 422),
    )
    def put(self, request, code: str):
        # lago-api reads the body's root key before looking the tax up.
        body = _root(request, "tax")
        tax = selectors.tax_get(organization=self.organization, code=code)
        serializer = s.TaxInput(data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        tax = catalog.tax_update(tax=tax, data=serializer.validated_data)
        return Response({"tax": self.render_tax(tax)})

    patch = put

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("tax", s.TaxWithBillingEntitiesOutput), 404),
        summary="Delete a tax",
        description=(
            "Soft deletion, as Lago's: invoices already made keep the tax as they were issued "
            "with it; customers and add-ons no longer carry it. Its code stays taken."
        ),
    )
    def delete(self, request, code: str):
        tax = selectors.tax_get(organization=self.organization, code=code)
        return Response({"tax": self.render_tax(catalog.tax_delete(tax=tax))})


# --------------------------------------------------------------- add-ons


class AddOnsApi(LagoApi):
    @extend_schema(
        request=_wrapped("add_on", s.AddOnInput),
        responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422),
    )
    def post(self, request):
        data = _validated(s.AddOnInput, _root(request, "add_on"))
        add_on = catalog.add_on_create(organization=self.organization, data=data)
        return Response({"add_on": lago.ADD_ON.render(add_on)})

    @extend_schema(
        operation_id="add_ons_list",
        parameters=PAGE_PARAMETERS,
        responses=_responses(_list_envelope("add_ons", s.AddOnOutput)),
    )
    def get(self, request):
        items, meta = _page(request, selectors.add_on_list(organization=self.organization))
        return Response({"add_ons": [lago.ADD_ON.render(a) for a in items], "meta": meta})


class AddOnApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422))
    def get(self, request, code: str):
        add_on = selectors.add_on_get(organization=self.organization, code=code)
        return Response({"add_on": lago.ADD_ON.render(add_on)})

    @extend_schema(
        request=_wrapped("add_on", s.AddOnInput),
        responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422),
    )
    def put(self, request, code: str):
        # lago-api reads the body's root key before looking the add-on up.
        body = _root(request, "add_on")
        add_on = selectors.add_on_get(organization=self.organization, code=code)
        serializer = s.AddOnInput(data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        add_on = catalog.add_on_update(add_on=add_on, data=serializer.validated_data)
        return Response({"add_on": lago.ADD_ON.render(add_on)})

    patch = put

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("add_on", s.AddOnOutput), 404),
        summary="Delete an add-on",
        description=(
            "Soft deletion, as Lago's: fees already made from it keep it; its code may be "
            "used again."
        ),
    )
    def delete(self, request, code: str):
        add_on = selectors.add_on_get(organization=self.organization, code=code)
        return Response({"add_on": lago.ADD_ON.render(catalog.add_on_delete(add_on=add_on))})


# -------------------------------------------------------------- invoices


def _invoice_response(invoice: Invoice, organization, *, pdf_urls: dict | None = None) -> Response:
    """The invoice in full; ``pdf_urls`` when the caller knows them already
    (an invoice made in this request has no stored PDF)."""
    # The customer's organization is the caller's, already loaded.
    invoice.customer.organization = organization
    selectors.invoice_load_details([invoice])
    xml_urls: dict = {}
    if pdf_urls is None:
        pdf_urls, xml_urls = download_urls([invoice])
    context = {"pdf_urls": pdf_urls, "xml_urls": xml_urls}
    return Response({"invoice": lago.INVOICE.render(invoice, context)})


def _invoice_list_response(request, organization, filters) -> Response:
    codes = s.billing_entity_codes(request.query_params)
    if codes is not None:
        # ``InvoiceIndex#invoice_index`` checks the codes before anything else.
        selectors.billing_entities_check(organization=organization, codes=codes)
    qs = selectors.invoice_list_filtered(organization=organization, filters=filters)
    items, meta = _page(request, qs)
    selectors.invoice_load_summaries(items)
    pdf_urls, xml_urls = download_urls(items)
    context = {"pdf_urls": pdf_urls, "xml_urls": xml_urls}
    return Response(
        {
            "invoices": [lago.INVOICE_LIST_ITEM.render(i, context) for i in items],
            "meta": meta,
        }
    )


def _choices(name: str, values, description: str, *, many: bool = False) -> OpenApiParameter:
    schema = {"type": "string", "enum": list(values)}
    if many:
        schema = {"type": "array", "items": schema}
    return OpenApiParameter(name, schema, description=description)


_STATUSES = ("draft", "finalized", "voided", "failed", "pending")
_BOOLEAN = {"type": "string", "enum": ["true", "false"]}

# The invoice list's filters, as lago-api's ``InvoiceIndex`` reads them.
INVOICE_FILTER_PARAMETERS = [
    _choices("status", _STATUSES, "One status (`statuses[]` for several)."),
    _choices("statuses[]", _STATUSES, "Any of these statuses.", many=True),
    _choices("payment_status", s.PAYMENT_STATUSES, "One payment status."),
    _choices("payment_statuses[]", s.PAYMENT_STATUSES, "Any of these.", many=True),
    OpenApiParameter("currency", str, description="ISO 4217 code, exact."),
    _choices("invoice_type", Invoice.InvoiceType.values, "One invoice type."),
    OpenApiParameter(
        "search_term",
        str,
        description=(
            "Part of the number, the whole id, or part of the customer's name, first or last "
            "name, external id or email (not the customer's when listing one customer's)."
        ),
    ),
    OpenApiParameter("issuing_date_from", OpenApiTypes.DATE, description="Unreadable: ignored."),
    OpenApiParameter("issuing_date_to", OpenApiTypes.DATE, description="Unreadable: ignored."),
    OpenApiParameter("amount_from", int, description="Total at least this, in cents."),
    OpenApiParameter("amount_to", int, description="Total at most this, in cents."),
    OpenApiParameter("payment_overdue", _BOOLEAN, description="Past due and not paid."),
    OpenApiParameter("payment_dispute_lost", _BOOLEAN, description="A payment dispute lost."),
    OpenApiParameter("self_billed", _BOOLEAN, description="Self-billed (none are, here)."),
    OpenApiParameter(
        "metadata",
        {"type": "object", "additionalProperties": {"type": "string"}},
        style="deepObject",
        explode=True,
        description=(
            "`metadata[key]=value`: every pair present; an empty value asks for invoices "
            "without that key."
        ),
    ),
    OpenApiParameter(
        "billing_entity_codes[]",
        {"type": "array", "items": {"type": "string"}},
        description="Only these billing entities' invoices (404 if one is unknown).",
    ),
]


class InvoicesApi(LagoApi):
    @extend_schema(
        request=_wrapped("invoice", s.InvoiceCreateInput),
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422),
        summary="Create a one-off invoice (finalized unless status is draft)",
    )
    def post(self, request):
        data = _validated(s.InvoiceCreateInput, _root(request, "invoice"))
        invoice = invoices.invoice_create(
            # Its row is read with the customer's, not on its own.
            organization_id=request.user.organization_id,
            external_customer_id=data.get("external_customer_id"),
            currency=data.get("currency"),
            status=data.get("status", Invoice.Status.FINALIZED),
            purchase_order_number=data.get("purchase_order_number", ""),
            net_payment_term=data.get("net_payment_term"),
            metadata=data.get("metadata"),
            fees=[FeeInput(**fee) for fee in data.get("fees") or ()],
            billing_entity_code=data.get("billing_entity_code"),
        )
        # A draft has no PDF, and a finalized invoice's was asked for in this
        # request's transaction: not stored yet, nothing to look up.
        return _invoice_response(invoice, invoice.organization, pdf_urls={})

    @extend_schema(
        operation_id="invoices_list",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("external_customer_id", str, description="The customer's."),
            OpenApiParameter("customer_external_id", str, description="The same, as spelled too."),
            *INVOICE_FILTER_PARAMETERS,
        ],
        responses=_responses(_list_envelope("invoices", s.InvoiceListItemOutput), 404, 422),
    )
    def get(self, request):
        filters = s.invoice_filters(request.query_params)
        return _invoice_list_response(request, self.organization, filters)


class CustomerInvoicesApi(LagoApi):
    @extend_schema(
        operation_id="customer_invoices_list",
        parameters=[*PAGE_PARAMETERS, *INVOICE_FILTER_PARAMETERS],
        responses=_responses(_list_envelope("invoices", s.InvoiceListItemOutput), 404, 422),
        summary="List a customer's invoices",
    )
    def get(self, request, external_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=external_id)
        filters = s.invoice_filters(request.query_params, customer_external_id=customer.external_id)
        return _invoice_list_response(request, self.organization, filters)


class InvoiceApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422))
    def get(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        return _invoice_response(invoice, self.organization)

    @extend_schema(
        request=_wrapped("invoice", s.InvoiceUpdateInput),
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 400, 404, 405, 422),
        description=(
            "Refused with 405 `update_on_voided_invoice` for a voided invoice, "
            "`metadata_on_draft_invoice` for metadata on a draft. Metadata: at most 5 items, "
            "keys of up to 20 characters, values of up to 140."
        ),
    )
    def put(self, request, invoice_id: str):
        # lago-api's order: the invoice, refused if voided, then the body's
        # root key, then not found, then the service's own checks.
        try:
            invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        except NotFound:
            invoice = None
        if invoice is not None and invoice.status == Invoice.Status.VOIDED:
            raise NotAllowed("a voided invoice cannot change", code="update_on_voided_invoice")
        inner = _root(request, "invoice")
        if invoice is None:
            raise NotFound("invoice")
        data = _validated(s.InvoiceUpdateInput, inner)
        invoice = invoices.invoice_update(
            invoice=invoice,
            payment_status=data.get("payment_status"),
            metadata=data.get("metadata"),
        )
        return _invoice_response(invoice, self.organization)

    patch = put

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 405),
        summary="Delete a draft invoice",
        description=(
            "Drafts only (405 `not_deletable` otherwise): the draft is kept with status "
            "`deleted`, never shown again, and an `invoice.deleted` webhook is sent."
        ),
    )
    def delete(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        return _invoice_response(invoices.invoice_delete(invoice=invoice), self.organization)


class InvoiceFinalizeApi(LagoApi):
    @extend_schema(
        request=None, responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422)
    )
    def put(self, request, invoice_id: str):
        # The draft is looked up (404 unless it is one of the caller's) as it
        # is locked, in the finalizing transaction.
        invoice = invoices.invoice_finalize_draft(
            organization_id=request.user.organization_id, invoice_id=invoice_id
        )
        # Its PDF was asked for in this request's transaction: not stored yet.
        return _invoice_response(invoice, invoice.organization, pdf_urls={})


def _void_body(request) -> dict:
    """The void's optional parameters; a client that sends none may send no
    body, or one of any type (Rails ignores it), so none is never an error."""
    try:
        data = request.data
    except UnsupportedMediaType:
        return {}
    return data if isinstance(data, dict) else {}


class InvoiceVoidApi(LagoApi):
    @extend_schema(
        request=s.InvoiceVoidInput,
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 405, 422),
        description=(
            "With `generate_credit_note`, a credit note of `credit_amount` and `refund_amount` "
            "(cents) is issued over the fees pro rata, and the rest creditable is credited by a "
            "credit note voided at once; 422 `total_amount_exceeds_invoice_amount` when the "
            "amounts exceed what is creditable or refundable."
        ),
    )
    def post(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        # Rails' params: the query and the body's top level (``void_params``).
        params = {**request.query_params.dict(), **_void_body(request)}
        voided = credit_notes.invoice_void_with_credit_note(
            organization=self.organization, invoice=invoice, params=params
        )
        return _invoice_response(voided, self.organization)


class InvoiceDownloadApi(LagoApi):
    def read_with_key(self, request, prefix: str):
        return _key_and_stored_pdf(request, prefix)

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("invoice", s.InvoiceBaseOutput), 404),
        summary="Download an invoice's PDF",
        description=(
            "With the PDF stored: the invoice with `file_url`. Otherwise its generation is "
            "queued and the answer is an empty 200; an `invoice.generated` webhook follows."
        ),
    )
    def post(self, request, invoice_id: str):
        # A stored PDF (the common case) is read with the API key, in one
        # query; otherwise the invoice is looked up (404 if not the caller's)
        # and its PDF asked for.
        job = _stored_pdf(request, invoice_id)
        if job is None:
            invoice = _downloadable_invoice(self.organization, invoice_id)
            job = pdf.invoice_pdf_request(invoice=invoice)
            if job.state != PdfJob.State.READY:
                # Never wait for rendering here: lago-python-client times out at 5 s.
                return _empty_200()
        else:
            invoice = job.invoice
        return _stored_response(invoice, job)


# The invoices whose files Lago's download actions serve.
_DOWNLOADABLE = (Invoice.Status.FINALIZED,)


def _key_and_stored_pdf(request, prefix: str):
    """The API key with ``prefix`` and its organization's finalized invoice's stored
    PDF job (the download actions' ``read_with_key``): one query for both, the common
    case; api/auth.py checks the key before the job is used."""
    return selectors.api_key_and_stored_pdf(
        prefix=prefix,
        invoice_id=request.parser_context["kwargs"]["invoice_id"],
        statuses=_DOWNLOADABLE,
        with_customer=True,
        only=INVOICE_BASE_COLUMNS,
    )


def _stored_pdf(request, invoice_id: str) -> PdfJob | None:
    """The caller's finalized invoice's stored PDF job, with the invoice and its customer:
    read with the key when the view reads with it, else one query."""
    if hasattr(request, "read_with_key"):
        return request.read_with_key
    return selectors.invoice_stored_pdf_get(
        organization_id=request.user.organization_id,
        invoice_id=invoice_id,
        statuses=_DOWNLOADABLE,
        with_customer=True,
        only=INVOICE_BASE_COLUMNS,
    )


def _downloadable_invoice(organization, invoice_id: str) -> Invoice:
    """The caller's finalized invoice (404 otherwise), when it has no stored PDF yet."""
    return selectors.invoice_get(
        organization=organization, invoice_id=invoice_id, statuses=_DOWNLOADABLE,
        with_customer=False,
    )  # fmt: skip


def _empty_200() -> HttpResponse:
    # Lago's "queued, a webhook follows". A plain response: DRF's drops Content-Type
    # from an empty body.
    return HttpResponse(b"", status=200, content_type="application/json")


def _stored_urls(invoice: Invoice, job: PdfJob) -> dict:
    xml = {invoice.pk: xml_download_url(job)} if job.xml_checksum else {}
    return {"pdf_urls": {invoice.pk: pdf_download_url(job)}, "xml_urls": xml}


def _stored_response(invoice: Invoice, job: PdfJob) -> Response:
    return Response({"invoice": lago.INVOICE_BASE.render(invoice, _stored_urls(invoice, job))})


class InvoiceDownloadXmlApi(LagoApi):
    def read_with_key(self, request, prefix: str):
        return _key_and_stored_pdf(request, prefix)

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("invoice", s.InvoiceBaseOutput), 404),
        summary="Download an invoice's e-invoice XML",
        description=(
            "lago-api's `download_xml`: with the UBL XML (Peppol BIS Billing 3.0) stored, "
            "the invoice with `xml_url`. Otherwise an empty 200: for an organization with "
            "e-invoicing on, the invoice's PDF job (which stores the XML beside the PDF) is "
            "queued if it has none yet, and an `invoice.generated` webhook follows; an "
            "invoice issued without e-invoicing has no XML."
        ),
    )
    def post(self, request, invoice_id: str):
        job = _stored_pdf(request, invoice_id)
        if job is None:
            invoice = _downloadable_invoice(self.organization, invoice_id)
            if self.organization.einvoicing_enabled:
                pdf.invoice_pdf_request(invoice=invoice)
        elif job.xml_checksum:
            return _stored_response(job.invoice, job)
        return _empty_200()


# -------------------------------------------------------------- webhooks


def _endpoint_response(endpoint, *, with_secret: bool = False) -> Response:
    shape = lago.WEBHOOK_ENDPOINT_WITH_SECRET if with_secret else lago.WEBHOOK_ENDPOINT
    return Response({"webhook_endpoint": shape.render(endpoint)})


class WebhookEndpointsApi(LagoApi):
    @extend_schema(
        request=_wrapped("webhook_endpoint", s.WebhookEndpointInput),
        responses=_responses(
            _wrapped("webhook_endpoint", WebhookEndpointMaybeSecretOutput), 404, 422
        ),
        summary="Create a webhook endpoint",
        description=(
            'With `signature_algo: "standard"` the answer carries the endpoint\'s `whsec_` '
            "secret, shown only here and on `rotate_secret`."
        ),
    )
    def post(self, request):
        data = _validated(s.WebhookEndpointInput, _root(request, "webhook_endpoint"))
        endpoint = webhook_endpoints.webhook_endpoint_create(
            organization=self.organization, data=data
        )
        return _endpoint_response(endpoint, with_secret=bool(endpoint.standard_secret))

    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=PAGE_PARAMETERS,
        responses=_responses(_list_envelope("webhook_endpoints", s.WebhookEndpointOutput)),
    )
    def get(self, request):
        qs = WebhookEndpoint.objects.filter(organization=self.organization).order_by(
            "created_at", "id"
        )
        items, meta = _page(request, qs)
        return Response(
            {"webhook_endpoints": [lago.WEBHOOK_ENDPOINT.render(e) for e in items], "meta": meta}
        )


class WebhookEndpointApi(LagoApi):
    def _endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return webhook_endpoints.webhook_endpoint_get(
            organization=self.organization, endpoint_id=endpoint_id
        )

    @extend_schema(responses=_responses(_wrapped("webhook_endpoint", s.WebhookEndpointOutput), 404))
    def get(self, request, endpoint_id: str):
        return _endpoint_response(self._endpoint(endpoint_id))

    @extend_schema(
        request=_wrapped("webhook_endpoint", s.WebhookEndpointInput),
        responses=_responses(
            _wrapped("webhook_endpoint", WebhookEndpointMaybeSecretOutput), 404, 422
        ),
        description="Switching to `standard` issues a `whsec_` secret, shown in this answer.",
    )
    def put(self, request, endpoint_id: str):
        # lago-api reads the body's root key before looking the endpoint up.
        body = _root(request, "webhook_endpoint")
        endpoint = self._endpoint(endpoint_id)
        serializer = s.WebhookEndpointInput(data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        secret_before = endpoint.standard_secret
        endpoint = webhook_endpoints.webhook_endpoint_update(
            endpoint=endpoint, data=serializer.validated_data
        )
        issued = bool(endpoint.standard_secret) and endpoint.standard_secret != secret_before
        return _endpoint_response(endpoint, with_secret=issued)

    patch = put

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("webhook_endpoint", s.WebhookEndpointOutput), 404),
    )
    def delete(self, request, endpoint_id: str):
        endpoint = webhook_endpoints.webhook_endpoint_delete(endpoint=self._endpoint(endpoint_id))
        return _endpoint_response(endpoint)


class WebhookEndpointRotateSecretApi(LagoApi):
    @extend_schema(
        request=None,
        responses=_responses(
            _wrapped("webhook_endpoint", s.WebhookEndpointWithSecretOutput), 404, 405
        ),
        summary="Rotate a standard endpoint's secret (beyond Lago)",
        description=(
            "Issues a new `whsec_` secret, shown only in this answer. The previous one keeps "
            "signing beside it (two `v1,` signatures) for `WEBHOOK_SECRET_ROTATION_GRACE_SECONDS`."
        ),
    )
    def post(self, request, endpoint_id: str):
        endpoint = webhook_endpoints.webhook_endpoint_get(
            organization=self.organization, endpoint_id=endpoint_id
        )
        endpoint = webhook_endpoints.webhook_endpoint_rotate_secret(endpoint=endpoint)
        return _endpoint_response(endpoint, with_secret=True)


class WebhookHmacKeyApi(LagoApi):
    """Beyond Lago, whose API never shows the key: without it nobody can
    verify `hmac` signatures."""

    @extend_schema(
        responses=_responses(_wrapped("webhook", s.WebhookHmacKeyOutput)),
        summary="The organization's key of hmac webhook signatures",
    )
    def get(self, request):
        return Response({"webhook": lago.WEBHOOK_HMAC_KEY.render(self.organization.hmac_key)})

    @extend_schema(
        request=None,
        responses=_responses(_wrapped("webhook", s.WebhookHmacKeyOutput)),
        summary="Rotate the key of hmac webhook signatures",
        description="A new key, answered once here; deliveries signed from now on use it.",
    )
    def post(self, request):
        organization = organizations.organization_hmac_key_rotate(organization=self.organization)
        return Response({"webhook": lago.WEBHOOK_HMAC_KEY.render(organization.hmac_key)})


class WebhookPublicKeyApi(LagoApi):
    @extend_schema(
        responses=_responses(_wrapped("webhook", s.WebhookPublicKeyOutput)),
        summary="The public key of jwt webhook signatures",
    )
    def get(self, request):
        return Response(
            {"webhook": lago.WEBHOOK_PUBLIC_KEY.render(webhooks.webhook_public_key_b64())}
        )


class WebhookPublicKeyTextApi(LagoApi):
    """lago-api's deprecated form of ``json_public_key``: the same Base64 text,
    as plain text."""

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            401: LagoErrorOutput,
            **{status: LagoErrorOutput for status in (*BODY_ERRORS, RATE_LIMITED, UNAVAILABLE)},
        },
        summary="The public key of jwt webhook signatures, as plain text (deprecated)",
    )
    def get(self, request):
        return HttpResponse(
            webhooks.webhook_public_key_b64(), content_type="text/plain; charset=utf-8"
        )
