"""The Lago face: thin views that validate, call one service or selector, and
render with an output serializer."""

from __future__ import annotations

import functools

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing import selectors
from invoicing.api.lago import serializers as s
from invoicing.api.lago.errors import exception_handler
from invoicing.api.pagination import paginate
from invoicing.models import AddOn, Customer, Invoice, PdfJob, Tax, WebhookEndpoint
from invoicing.services import catalog, invoices, pdf, webhook_endpoints, webhooks
from invoicing.services.files import pdf_download_url
from invoicing.services.invoices import FeeInput


def _validated(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        data = {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _root(request, name: str) -> dict:
    """Lago wraps every body in its resource name: ``{"invoice": {...}}``."""
    body = request.data if isinstance(request.data, dict) else {}
    inner = body.get(name)
    if not isinstance(inner, dict):
        raise serializers.ValidationError({name: ["value_is_mandatory"]}, code="required")
    return inner


class LagoErrorOutput(serializers.Serializer):
    status = serializers.IntegerField()
    error = serializers.CharField()
    code = serializers.CharField(required=False)
    error_details = serializers.DictField(required=False)


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
# Any request may also meet a database outage: 503 with Retry-After (api/unavailable.py).
UNAVAILABLE = 503


def _responses(ok, *errors: int) -> dict:
    """The success body and Lago's error bodies an operation can answer."""
    return {
        200: ok,
        401: LagoErrorOutput,
        **{status: LagoErrorOutput for status in (*BODY_ERRORS, UNAVAILABLE, *errors)},
    }


class WebhookEndpointMaybeSecretOutput(s.WebhookEndpointOutput):
    """Schema only: create and update show ``secret`` only when they have just
    issued a standard secret; otherwise the body has no ``secret`` at all."""

    secret = serializers.CharField(required=False)


class LagoApi(APIView):
    def get_exception_handler(self):
        return exception_handler

    @property
    def organization(self):
        return self.request.user.organization


# ------------------------------------------------------------- customers


class CustomersApi(LagoApi):
    @extend_schema(
        request=_wrapped("customer", s.CustomerInput),
        responses=_responses(_wrapped("customer", s.CustomerWithTaxesOutput), 404, 422),
        summary="Create or update a customer (upsert by external_id)",
    )
    def post(self, request):
        data = _validated(s.CustomerInput, _root(request, "customer"))
        customer, _ = catalog.customer_upsert(
            organization=self.organization, external_id=data.pop("external_id"), data=data
        )
        return Response({"customer": s.CustomerWithTaxesOutput(customer).data})

    @extend_schema(
        operation_id="customers_list",
        parameters=[s.PageFilters],
        responses=_responses(_list_envelope("customers", s.CustomerWithTaxesOutput), 422),
    )
    def get(self, request):
        f = _validated(s.PageFilters, request.query_params.dict())
        qs = (
            Customer.objects.filter(organization=self.organization)
            .order_by("-created_at", "id")
            .prefetch_related("taxes")
        )
        items, meta = paginate(qs, page=f["page"], per_page=f["per_page"])
        for customer in items:
            customer.organization = self.organization
        return Response(
            {"customers": s.CustomerWithTaxesOutput(items, many=True).data, "meta": meta}
        )


class CustomerApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("customer", s.CustomerWithTaxesOutput), 404, 422))
    def get(self, request, external_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=external_id)
        return Response({"customer": s.CustomerWithTaxesOutput(customer).data})


# ----------------------------------------------------------------- taxes


class TaxesApi(LagoApi):
    @extend_schema(
        request=_wrapped("tax", s.TaxInput),
        responses=_responses(_wrapped("tax", s.TaxOutput), 404, 422),
    )
    def post(self, request):
        data = _validated(s.TaxInput, _root(request, "tax"))
        tax = catalog.tax_create(organization=self.organization, data=data)
        return Response({"tax": s.TaxOutput(tax).data})

    @extend_schema(
        operation_id="taxes_list",
        parameters=[s.PageFilters],
        responses=_responses(_list_envelope("taxes", s.TaxOutput), 422),
    )
    def get(self, request):
        f = _validated(s.PageFilters, request.query_params.dict())
        qs = Tax.objects.filter(organization=self.organization).order_by("code")
        items, meta = paginate(qs, page=f["page"], per_page=f["per_page"])
        return Response({"taxes": s.TaxOutput(items, many=True).data, "meta": meta})


class TaxApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("tax", s.TaxOutput), 404, 422))
    def get(self, request, code: str):
        tax = selectors.tax_get(organization=self.organization, code=code)
        return Response({"tax": s.TaxOutput(tax).data})

    @extend_schema(
        request=_wrapped("tax", s.TaxInput),
        responses=_responses(_wrapped("tax", s.TaxOutput), 404, 422),
    )
    def put(self, request, code: str):
        tax = selectors.tax_get(organization=self.organization, code=code)
        serializer = s.TaxInput(data=_root(request, "tax"), partial=True)
        serializer.is_valid(raise_exception=True)
        tax = catalog.tax_update(tax=tax, data=serializer.validated_data)
        return Response({"tax": s.TaxOutput(tax).data})


# --------------------------------------------------------------- add-ons


class AddOnsApi(LagoApi):
    @extend_schema(
        request=_wrapped("add_on", s.AddOnInput),
        responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422),
    )
    def post(self, request):
        data = _validated(s.AddOnInput, _root(request, "add_on"))
        add_on = catalog.add_on_create(organization=self.organization, data=data)
        return Response({"add_on": s.AddOnOutput(add_on).data})

    @extend_schema(
        operation_id="add_ons_list",
        parameters=[s.PageFilters],
        responses=_responses(_list_envelope("add_ons", s.AddOnOutput), 422),
    )
    def get(self, request):
        f = _validated(s.PageFilters, request.query_params.dict())
        qs = (
            AddOn.objects.filter(organization=self.organization)
            .prefetch_related("taxes")
            .order_by("code")
        )
        items, meta = paginate(qs, page=f["page"], per_page=f["per_page"])
        return Response({"add_ons": s.AddOnOutput(items, many=True).data, "meta": meta})


class AddOnApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422))
    def get(self, request, code: str):
        add_on = selectors.add_on_get(organization=self.organization, code=code)
        return Response({"add_on": s.AddOnOutput(add_on).data})

    @extend_schema(
        request=_wrapped("add_on", s.AddOnInput),
        responses=_responses(_wrapped("add_on", s.AddOnOutput), 404, 422),
    )
    def put(self, request, code: str):
        add_on = selectors.add_on_get(organization=self.organization, code=code)
        serializer = s.AddOnInput(data=_root(request, "add_on"), partial=True)
        serializer.is_valid(raise_exception=True)
        add_on = catalog.add_on_update(add_on=add_on, data=serializer.validated_data)
        return Response({"add_on": s.AddOnOutput(add_on).data})


# -------------------------------------------------------------- invoices


def _invoice_response(invoice: Invoice, organization) -> Response:
    # The customer's organization is the caller's, already loaded.
    invoice.customer.organization = organization
    selectors.invoice_load_details([invoice])
    return Response({"invoice": s.render_invoice(invoice)})


class InvoicesApi(LagoApi):
    @extend_schema(
        request=_wrapped("invoice", s.InvoiceCreateInput),
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422),
        summary="Create a one-off invoice (finalized unless status is draft)",
    )
    def post(self, request):
        data = _validated(s.InvoiceCreateInput, _root(request, "invoice"))
        invoice = invoices.invoice_create(
            organization=self.organization,
            external_customer_id=data["external_customer_id"],
            currency=data.get("currency"),
            status=data.get("status", Invoice.Status.FINALIZED),
            purchase_order_number=data.get("purchase_order_number", ""),
            net_payment_term=data.get("net_payment_term"),
            metadata=data.get("metadata"),
            fees=[FeeInput(**fee) for fee in data["fees"]],
        )
        return _invoice_response(invoice, self.organization)

    @extend_schema(
        operation_id="invoices_list",
        parameters=[s.InvoiceListFilters],
        responses=_responses(_list_envelope("invoices", s.InvoiceListItemOutput), 422),
    )
    def get(self, request):
        f = _validated(s.InvoiceListFilters, request.query_params.dict())
        qs = selectors.invoice_list(organization=self.organization)
        if "external_customer_id" in f:
            qs = qs.filter(customer__external_id=f["external_customer_id"])
        for field in ("status", "payment_status"):
            if field in f:
                qs = qs.filter(**{field: f[field]})
        if "issuing_date_from" in f:
            qs = qs.filter(issuing_date__gte=f["issuing_date_from"])
        if "issuing_date_to" in f:
            qs = qs.filter(issuing_date__lte=f["issuing_date_to"])
        qs = qs.order_by("-issuing_date", "-created_at", "id")
        items, meta = paginate(qs, page=f["page"], per_page=f["per_page"])
        selectors.invoice_load_summaries(items)
        return Response({"invoices": s.InvoiceListItemOutput(items, many=True).data, "meta": meta})


class InvoiceApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422))
    def get(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        return _invoice_response(invoice, self.organization)

    @extend_schema(
        request=_wrapped("invoice", s.InvoiceUpdateInput),
        responses=_responses(_wrapped("invoice", s.InvoiceOutput), 400, 404, 405, 422),
    )
    def put(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        data = _validated(s.InvoiceUpdateInput, _root(request, "invoice"))
        invoice = invoices.invoice_update(
            invoice=invoice,
            payment_status=data.get("payment_status"),
            metadata=data.get("metadata"),
        )
        return _invoice_response(invoice, self.organization)


class InvoiceFinalizeApi(LagoApi):
    @extend_schema(
        request=None, responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 422)
    )
    def put(self, request, invoice_id: str):
        invoice = selectors.invoice_get(
            organization=self.organization,
            invoice_id=invoice_id,
            statuses=(Invoice.Status.DRAFT,),
        )
        return _invoice_response(invoices.invoice_finalize(invoice=invoice), self.organization)


class InvoiceVoidApi(LagoApi):
    @extend_schema(
        request=None, responses=_responses(_wrapped("invoice", s.InvoiceOutput), 404, 405)
    )
    def post(self, request, invoice_id: str):
        invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id)
        return _invoice_response(invoices.invoice_void(invoice=invoice), self.organization)


class InvoiceDownloadApi(LagoApi):
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
        statuses = (Invoice.Status.FINALIZED,)
        # A stored PDF (the common case) costs one query; otherwise the
        # invoice is looked up (404 if not the caller's) and its PDF asked for.
        job = selectors.invoice_stored_pdf_get(
            organization_id=request.user.organization_id,
            invoice_id=invoice_id,
            statuses=statuses,
            with_customer=True,
            only=s.INVOICE_BASE_COLUMNS,
        )
        if job is None:
            invoice = selectors.invoice_get(organization=self.organization, invoice_id=invoice_id,
                                            statuses=statuses, with_customer=False)  # fmt: skip
            job = pdf.invoice_pdf_request(invoice=invoice)
            if job.state != PdfJob.State.READY:
                # Never wait for rendering here: lago-python-client times out at 5 s.
                return Response(status=200, content_type="application/json")
        else:
            invoice = job.invoice
        body = s.render_invoice_base(invoice, file_url=pdf_download_url(job))
        return Response({"invoice": body})


# -------------------------------------------------------------- webhooks


def _endpoint_response(endpoint, *, with_secret: bool = False) -> Response:
    output = s.WebhookEndpointWithSecretOutput if with_secret else s.WebhookEndpointOutput
    return Response({"webhook_endpoint": output(endpoint).data})


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
        parameters=[s.PageFilters],
        responses=_responses(_list_envelope("webhook_endpoints", s.WebhookEndpointOutput), 422),
    )
    def get(self, request):
        f = _validated(s.PageFilters, request.query_params.dict())
        qs = WebhookEndpoint.objects.filter(organization=self.organization).order_by(
            "created_at", "id"
        )
        items, meta = paginate(qs, page=f["page"], per_page=f["per_page"])
        return Response(
            {"webhook_endpoints": s.WebhookEndpointOutput(items, many=True).data, "meta": meta}
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
        endpoint = self._endpoint(endpoint_id)
        serializer = s.WebhookEndpointInput(data=_root(request, "webhook_endpoint"), partial=True)
        serializer.is_valid(raise_exception=True)
        secret_before = endpoint.standard_secret
        endpoint = webhook_endpoints.webhook_endpoint_update(
            endpoint=endpoint, data=serializer.validated_data
        )
        issued = bool(endpoint.standard_secret) and endpoint.standard_secret != secret_before
        return _endpoint_response(endpoint, with_secret=issued)

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


class WebhookPublicKeyApi(LagoApi):
    @extend_schema(
        responses=_responses(_wrapped("webhook", s.WebhookPublicKeyOutput)),
        summary="The public key of jwt webhook signatures",
    )
    def get(self, request):
        return Response({"webhook": {"public_key": webhooks.webhook_public_key_b64()}})
