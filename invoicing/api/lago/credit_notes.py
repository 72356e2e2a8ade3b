"""The Lago face's credit notes (lago-api's ``Api::V1::CreditNotesController``):
thin views over ``services/credit_notes``, rendered with the shapes of
``representations/lago``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from invoicing import selectors
from invoicing.api.lago import serializers as s
from invoicing.api.lago.views import (
    LagoApi,
    _choices,
    _empty_200,
    _list_envelope,
    _page,
    _responses,
    _root,
    _wrapped,
)
from invoicing.api.pagination import PAGE_PARAMETERS
from invoicing.errors import ValidationFailed
from invoicing.models import CreditNote, PdfJob
from invoicing.representations import lago
from invoicing.services import credit_notes as service
from invoicing.services.files import pdf_download_url, xml_download_url

CreditNoteOutput = lago.CREDIT_NOTE.serializer
CreditNoteBaseOutput = lago.CREDIT_NOTE_BASE.serializer
EstimatedCreditNoteOutput = lago.ESTIMATED_CREDIT_NOTE.serializer


class CreditNoteItemInput(serializers.Serializer):
    fee_id = serializers.CharField(required=False, allow_null=True)
    amount_cents = serializers.DecimalField(
        max_digits=30, decimal_places=5, required=False, allow_null=True
    )


class CreditNoteCreateInput(serializers.Serializer):
    invoice_id = serializers.CharField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    credit_amount_cents = serializers.IntegerField(required=False, allow_null=True)
    refund_amount_cents = serializers.IntegerField(required=False, allow_null=True)
    offset_amount_cents = serializers.IntegerField(
        required=False, allow_null=True, help_text="Offsets are not offered: 0 or absent."
    )
    items = CreditNoteItemInput(many=True, required=False)


class CreditNoteEstimateInput(serializers.Serializer):
    invoice_id = serializers.CharField(required=False, allow_null=True)
    items = CreditNoteItemInput(many=True, required=False)


class CreditNoteUpdateInput(serializers.Serializer):
    refund_status = serializers.CharField(required=False, allow_null=True)


def _items(data: dict, raw: dict) -> list[service.ItemInput] | object:
    # Not an array: left to the service, which answers Lago's must_be_an_array.
    if not isinstance(raw.get("items"), list):
        return raw.get("items")
    return [
        service.ItemInput(fee_id=item.get("fee_id"), amount_cents=item.get("amount_cents") or 0)
        for item in data.get("items") or []
    ]


def _validated(serializer_class, raw: dict) -> dict:
    # A non-array ``items`` is the service's to refuse, in Lago's words.
    shown = {k: v for k, v in raw.items() if not (k == "items" and not isinstance(v, list))}
    serializer = serializer_class(data=shown)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _note_response(note: CreditNote, organization) -> Response:
    loaded = selectors.credit_note_get(organization=organization, credit_note_id=str(note.pk))
    return Response({"credit_note": lago.CREDIT_NOTE.render(loaded, _urls([loaded]))})


def _urls(notes) -> dict:
    jobs = service.credit_note_stored_pdf_jobs([n.pk for n in notes])
    return _job_urls(jobs)


def _job_urls(jobs: dict) -> dict:
    # ``file_url`` for each stored PDF, ``xml_url`` for each stored UBL.
    return {
        "pdf_urls": {pk: pdf_download_url(job) for pk, job in jobs.items()},
        "xml_urls": {pk: xml_download_url(job) for pk, job in jobs.items() if job.xml_checksum},
    }


def _decimal(name: str, value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if amount is None or not amount.is_finite():
        raise ValidationFailed({name: ["value_is_invalid"]})
    return amount


def _known(value, allowed) -> tuple[str, ...] | None:
    """``CreditNotesQuery``'s ``valid_*``: the known values only; none known
    is no filter at all."""
    if value in (None, "", []):
        return None
    values = [value] if isinstance(value, str) else list(value)
    known = tuple(v for v in values if v in allowed)
    return known or None


def credit_note_filters(query, *, customer_external_id: str | None = None) -> dict:
    """The list's query string as ``CreditNoteIndex`` and ``CreditNotesQuery``
    read it: unknown enum values and unreadable dates are ignored."""
    q = query
    value = s._query_value
    return {
        "customer_external_id": customer_external_id
        if customer_external_id is not None
        else q.get("external_customer_id"),
        "currency": q.get("currency"),
        "reason": _known(value(q, "reason"), CreditNote.Reason.values),
        "credit_status": _known(value(q, "credit_status"), CreditNote.CreditStatus.values),
        "refund_status": _known(value(q, "refund_status"), CreditNote.RefundStatus.values),
        "types": _known(value(q, "types"), ("credit", "refund", "offset")),
        "invoice_number": q.get("invoice_number"),
        "purchase_order_number": q.get("purchase_order_number"),
        "issuing_date_from": s._query_date(q.get("issuing_date_from")),
        "issuing_date_to": s._query_date(q.get("issuing_date_to")),
        "amount_from": _decimal("amount_from", q.get("amount_from")),
        "amount_to": _decimal("amount_to", q.get("amount_to")),
        "self_billed": s._boolean("self_billed", q.get("self_billed"), contract=False),
        "search_term": q.get("search_term"),
    }


CREDIT_NOTE_FILTER_PARAMETERS = [
    _choices("reason", CreditNote.Reason.values, "One reason (`reason[]` for several)."),
    _choices("credit_status", CreditNote.CreditStatus.values, "One credit status."),
    _choices("refund_status", CreditNote.RefundStatus.values, "One refund status."),
    _choices("types[]", ("credit", "refund", "offset"), "Credit notes of these kinds.", many=True),
    OpenApiParameter("currency", str, description="ISO 4217 code, exact."),
    OpenApiParameter("invoice_number", str, description="The amended invoice's number, whole."),
    OpenApiParameter("purchase_order_number", str, description="The invoice's, whole, any case."),
    OpenApiParameter("issuing_date_from", OpenApiTypes.DATE, description="Unreadable: ignored."),
    OpenApiParameter("issuing_date_to", OpenApiTypes.DATE, description="Unreadable: ignored."),
    OpenApiParameter("amount_from", int, description="Total at least this, in cents."),
    OpenApiParameter("amount_to", int, description="Total at most this, in cents."),
    OpenApiParameter("self_billed", {"type": "string", "enum": ["true", "false"]}),
    OpenApiParameter("search_term", str, description="Part of the number, or the whole id."),
    OpenApiParameter(
        "billing_entity_codes[]",
        {"type": "array", "items": {"type": "string"}},
        description="Only these billing entities' credit notes (404 if one is unknown).",
    ),
]


def _list_response(request, organization, filters) -> Response:
    codes = s.billing_entity_codes(request.query_params)
    if codes is not None:
        selectors.billing_entities_check(organization=organization, codes=codes)
    qs = selectors.credit_note_list_filtered(organization=organization, filters=filters)
    items, meta = _page(request, qs)
    context = _urls(items)
    return Response(
        {"credit_notes": [lago.CREDIT_NOTE.render(n, context) for n in items], "meta": meta}
    )


class CreditNotesApi(LagoApi):
    @extend_schema(
        request=_wrapped("credit_note", CreditNoteCreateInput),
        responses=_responses(_wrapped("credit_note", CreditNoteOutput), 400, 404, 405, 422),
        summary="Issue a credit note on a finalized invoice",
        description=(
            "Items by fee, taxed at the fee's rates; `credit_amount_cents` becomes credit "
            "applied to the customer's next invoices, `refund_amount_cents` is recorded with "
            "`refund_status` pending. 405 `invalid_type_or_status` for an invoice that is not "
            "finalized; 422 `higher_than_remaining_fee_amount`, "
            "`higher_than_remaining_invoice_amount`, `does_not_match_item_amounts`, "
            "`cannot_refund_unpaid_invoice`, `total_amount_must_be_positive`."
        ),
    )
    def post(self, request):
        raw = _root(request, "credit_note")
        data = _validated(CreditNoteCreateInput, raw)
        if data.get("offset_amount_cents"):
            raise ValidationFailed({"offset_amount_cents": ["value_is_invalid"]})
        note = service.credit_note_create(
            organization=self.organization,
            invoice_id=data.get("invoice_id"),
            items=_items(data, raw),
            reason=data.get("reason"),
            description=data.get("description"),
            credit_amount_cents=data.get("credit_amount_cents"),
            refund_amount_cents=data.get("refund_amount_cents"),
        )
        return _note_response(note, self.organization)

    @extend_schema(
        operation_id="credit_notes_list",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("external_customer_id", str, description="The customer's."),
            *CREDIT_NOTE_FILTER_PARAMETERS,
        ],
        responses=_responses(_list_envelope("credit_notes", CreditNoteOutput), 404, 422),
    )
    def get(self, request):
        return _list_response(request, self.organization, credit_note_filters(request.query_params))


class CustomerCreditNotesApi(LagoApi):
    @extend_schema(
        operation_id="customer_credit_notes_list",
        parameters=[*PAGE_PARAMETERS, *CREDIT_NOTE_FILTER_PARAMETERS],
        responses=_responses(_list_envelope("credit_notes", CreditNoteOutput), 404, 422),
        summary="List a customer's credit notes",
    )
    def get(self, request, external_id: str):
        customer = selectors.customer_get(organization=self.organization, external_id=external_id)
        filters = credit_note_filters(
            request.query_params, customer_external_id=customer.external_id
        )
        return _list_response(request, self.organization, filters)


class CreditNoteApi(LagoApi):
    @extend_schema(responses=_responses(_wrapped("credit_note", CreditNoteOutput), 404))
    def get(self, request, credit_note_id: str):
        note = selectors.credit_note_get(
            organization=self.organization, credit_note_id=credit_note_id
        )
        return Response({"credit_note": lago.CREDIT_NOTE.render(note, _urls([note]))})

    @extend_schema(
        request=_wrapped("credit_note", CreditNoteUpdateInput),
        responses=_responses(_wrapped("credit_note", CreditNoteOutput), 400, 404, 422),
        description="Only `refund_status` changes (pending, succeeded, failed, or null).",
    )
    def put(self, request, credit_note_id: str):
        # lago-api finds the credit note (404) before it reads the body (400).
        selectors.credit_note_get(organization=self.organization, credit_note_id=credit_note_id)
        raw = _root(request, "credit_note")
        note = service.credit_note_update(
            organization=self.organization, credit_note_id=credit_note_id, changes=raw
        )
        return _note_response(note, self.organization)

    patch = put


class CreditNoteVoidApi(LagoApi):
    @extend_schema(
        request=None,
        responses=_responses(_wrapped("credit_note", CreditNoteOutput), 404, 405),
        description="The credit left is voided; 405 `no_voidable_amount` when none is left.",
    )
    def put(self, request, credit_note_id: str):
        note = service.credit_note_void(
            organization=self.organization, credit_note_id=credit_note_id
        )
        return _note_response(note, self.organization)


class CreditNoteEstimateApi(LagoApi):
    @extend_schema(
        request=_wrapped("credit_note", CreditNoteEstimateInput),
        responses=_responses(
            _wrapped("estimated_credit_note", EstimatedCreditNoteOutput), 400, 404, 405, 422
        ),
        summary="What a credit note of these items would be (nothing is issued)",
    )
    def post(self, request):
        raw = _root(request, "credit_note")
        data = _validated(CreditNoteEstimateInput, raw)
        estimate = service.credit_note_estimate(
            organization=self.organization,
            invoice_id=data.get("invoice_id"),
            items=_items(data, raw),
        )
        return Response({"estimated_credit_note": lago.ESTIMATED_CREDIT_NOTE.render(estimate)})


class CreditNoteDownloadApi(LagoApi):
    @extend_schema(
        request=None,
        responses=_responses(_wrapped("credit_note", CreditNoteBaseOutput), 404),
        summary="Download a credit note's PDF",
        description=(
            "With the PDF stored: the credit note with `file_url`. Otherwise its generation is "
            "queued and the answer is an empty 200; a `credit_note.generated` webhook follows."
        ),
    )
    def post(self, request, credit_note_id: str):
        note = selectors.credit_note_get(
            organization=self.organization, credit_note_id=credit_note_id
        )
        job = service.credit_note_pdf_request(credit_note=note)
        if job.state != PdfJob.State.READY:
            # Never wait for rendering: lago-python-client times out at 5 s.
            return _empty_200()
        body = lago.CREDIT_NOTE_BASE.render(note, _job_urls({note.pk: job}))
        return Response({"credit_note": body})


class CreditNoteDownloadXmlApi(LagoApi):
    @extend_schema(
        request=None,
        responses=_responses(_wrapped("credit_note", CreditNoteBaseOutput), 404),
        summary="Download a credit note's e-invoice XML",
        description=(
            "lago-api's `download_xml`: with the UBL CreditNote (Peppol BIS Billing 3.0) "
            "stored, the credit note with `xml_url`. Otherwise an empty 200: for an "
            "organization with e-invoicing on, the credit note's PDF job (which stores the XML "
            "beside the PDF) is queued if it has none yet, and a `credit_note.generated` "
            "webhook follows; a credit note issued as a plain PDF has no XML."
        ),
    )
    def post(self, request, credit_note_id: str):
        note = selectors.credit_note_get(
            organization=self.organization, credit_note_id=credit_note_id
        )
        job = service.credit_note_stored_pdf_jobs([note.pk]).get(note.pk)
        if job is not None and job.xml_checksum:
            body = lago.CREDIT_NOTE_BASE.render(note, _job_urls({note.pk: job}))
            return Response({"credit_note": body})
        if job is None and self.organization.einvoicing_enabled:
            service.credit_note_pdf_request(credit_note=note)
        return _empty_200()
