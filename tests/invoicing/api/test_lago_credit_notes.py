"""Lago's credit note API in-process: each answer's shape against Lago's
OpenAPI schema (``CreditNoteObject``, ``CreditNoteItemObject``,
``CreditNoteAppliedTaxObject``, ``CreditNoteEstimated``; closed objects, as
``lago_schema`` builds them), key order as lago-api's serializers write it,
the routes, the errors and the list's filters. Amounts are worked out by hand
from the lago-api rule named."""

from __future__ import annotations

import pytest

from invoicing.models import CreditNote, PdfJob, WebhookEvent
from invoicing.representations import lago
from invoicing.services import pdf
from invoicing.services.invoices import FeeInput
from invoicing.services.webhooks import webhook_body
from tests.factories import make_add_on, make_customer, make_invoice, make_tax
from tests.invoicing.api import lago_schema as S

pytestmark = pytest.mark.django_db

_NULLABLE_STRING = S.STRING_OR_NULL
CREDIT_NOTE_APPLIED_TAX = S.closed(
    {
        "lago_id": S.UUID,
        "lago_credit_note_id": S.UUID,
        "lago_tax_id": S.UUID_OR_NULL,
        "tax_name": S.STRING,
        "tax_code": S.STRING,
        "tax_rate": S.NUMBER,
        "tax_description": _NULLABLE_STRING,
        "base_amount_cents": S.INTEGER,
        "amount_cents": S.INTEGER,
        "amount_currency": S.CURRENCY,
        "created_at": S.DATE_TIME,
    },
    ["lago_id", "lago_credit_note_id", "tax_name", "tax_code", "tax_rate", "base_amount_cents",
     "amount_cents", "amount_currency", "created_at"],
)  # fmt: skip
CREDIT_NOTE_ITEM = S.closed(
    {
        "lago_id": S.UUID,
        "amount_cents": S.INTEGER,
        # lago-api's CreditNoteItemSerializer writes it; the document does not list it.
        "precise_amount_cents": S.DECIMAL_STRING,
        "amount_currency": S.CURRENCY,
        "fee": S.FEE,
    },
    ["lago_id", "amount_cents", "amount_currency", "fee"],
)
_BASE = {
    "lago_id": S.UUID,
    "billing_entity_code": S.STRING,
    "sequential_id": S.INTEGER,
    "number": {"type": "string", "pattern": r"^.+-CN[0-9]{3,}$"},
    "lago_invoice_id": S.UUID,
    "invoice_number": S.STRING,
    "purchase_order_number": _NULLABLE_STRING,
    "issuing_date": S.DATE,
    "credit_status": {"type": ["string", "null"],
                      "enum": ["available", "consumed", "voided", None]},
    "refund_status": {"type": ["string", "null"], "enum": ["pending", "succeeded", "failed", None]},
    "reason": {"enum": ["duplicated_charge", "product_unsatisfactory", "order_change",
                        "order_cancellation", "fraudulent_charge", "other"]},
    "description": _NULLABLE_STRING,
    "currency": S.CURRENCY,
    "total_amount_cents": S.INTEGER,
    # lago-api wins: CreditNoteSerializer writes these (ActiveSupport's BigDecimal#to_s).
    "precise_total_amount_cents": S.DECIMAL_STRING,
    "taxes_amount_cents": S.INTEGER,
    "precise_taxes_amount_cents": S.DECIMAL_STRING,
    "sub_total_excluding_taxes_amount_cents": S.INTEGER,
    "balance_amount_cents": S.INTEGER,
    "credit_amount_cents": S.INTEGER,
    "refund_amount_cents": S.INTEGER,
    "offset_amount_cents": S.INTEGER,
    "coupons_adjustment_amount_cents": S.INTEGER,
    "taxes_rate": S.NUMBER,
    "created_at": S.DATE_TIME,
    "updated_at": S.DATE_TIME,
    "file_url": S.ABSOLUTE_URL_OR_NULL,
    "xml_url": S.ABSOLUTE_URL_OR_NULL,
    "self_billed": S.BOOLEAN,
}  # fmt: skip
_REQUIRED = ["lago_id", "sequential_id", "billing_entity_code", "number", "lago_invoice_id",
             "invoice_number", "issuing_date", "reason", "currency", "total_amount_cents",
             "credit_amount_cents", "refund_amount_cents", "offset_amount_cents",
             "balance_amount_cents", "taxes_amount_cents", "taxes_rate",
             "sub_total_excluding_taxes_amount_cents", "coupons_adjustment_amount_cents",
             "created_at", "updated_at"]  # fmt: skip
CREDIT_NOTE_BASE = S.closed(_BASE, [*_REQUIRED, "file_url"])
CREDIT_NOTE = S.closed(
    {
        **_BASE,
        "customer": S.CUSTOMER,
        "items": S.array_of(CREDIT_NOTE_ITEM),
        "applied_taxes": S.array_of(CREDIT_NOTE_APPLIED_TAX),
        "error_details": S.array_of(S.ERROR_DETAIL),
    },
    [*_REQUIRED, "file_url", "customer", "items", "applied_taxes", "error_details"],
)
ESTIMATED = S.closed(
    {
        "lago_invoice_id": S.UUID,
        "invoice_number": S.STRING,
        "currency": S.CURRENCY,
        "taxes_amount_cents": S.INTEGER,
        # lago-api wins: a BigDecimal, which Rails writes as a string.
        "precise_taxes_amount_cents": S.DECIMAL_STRING,
        "sub_total_excluding_taxes_amount_cents": S.INTEGER,
        "max_creditable_amount_cents": S.INTEGER,
        "max_refundable_amount_cents": S.INTEGER,
        "max_offsettable_amount_cents": S.INTEGER,
        "coupons_adjustment_amount_cents": S.INTEGER,
        "precise_coupons_adjustment_amount_cents": S.DECIMAL_STRING,
        "taxes_rate": S.NUMBER,
        "items": S.array_of(
            S.closed({"lago_fee_id": S.UUID, "amount_cents": S.INTEGER},
                     ["lago_fee_id", "amount_cents"])
        ),
        "applied_taxes": S.array_of(
            S.closed({k: v for k, v in CREDIT_NOTE_APPLIED_TAX["properties"].items()
                      if k not in ("lago_id", "lago_credit_note_id", "created_at")},
                     ["tax_name", "tax_code", "tax_rate", "base_amount_cents", "amount_cents"])
        ),
    },
    ["lago_invoice_id", "invoice_number", "currency", "taxes_amount_cents",
     "precise_taxes_amount_cents", "sub_total_excluding_taxes_amount_cents",
     "max_creditable_amount_cents", "max_refundable_amount_cents",
     "max_offsettable_amount_cents", "coupons_adjustment_amount_cents",
     "precise_coupons_adjustment_amount_cents", "taxes_rate", "items"],
)  # fmt: skip
# lago-api's CreditNoteSerializer, in its order.
SERIALIZER_ORDER = [
    "lago_id", "billing_entity_code", "sequential_id", "number", "lago_invoice_id",
    "invoice_number", "purchase_order_number", "issuing_date", "credit_status", "refund_status",
    "reason", "description", "currency", "total_amount_cents", "precise_total_amount_cents",
    "taxes_amount_cents", "precise_taxes_amount_cents", "sub_total_excluding_taxes_amount_cents",
    "balance_amount_cents", "credit_amount_cents", "refund_amount_cents", "offset_amount_cents",
    "coupons_adjustment_amount_cents", "taxes_rate", "created_at", "updated_at", "file_url",
    "xml_url", "self_billed",
]  # fmt: skip


def _ok(schema, body):
    assert S.errors(body, schema) == []


@pytest.fixture
def world(organization):
    vat, reduced = make_tax(organization, "vat20", "20"), make_tax(organization, "r55", "5.5")
    customer = make_customer(organization, "cust-cn", currency="EUR", name="Globex")
    make_add_on(organization, "a", 10_000, taxes=[vat])
    make_add_on(organization, "b", 5_000, taxes=[vat, reduced])
    invoice = make_invoice(
        organization, customer, fees=[FeeInput(add_on_code="a"), FeeInput(add_on_code="b")]
    )
    fee1, fee2 = invoice.fees.all()
    return invoice, fee1, fee2


def _create(api, invoice, items, **more):
    body = {"credit_note": {"invoice_id": str(invoice.pk), "items": items, **more}}
    return api.post("/api/v1/credit_notes", body, format="json")


def test_create_show_list_update_void(api, world):
    invoice, fee1, fee2 = world
    # ApplyTaxesService: 25.00 + 10.00 at 20 % = 7.00, 10.00 at 5.5 % = 0.55.
    response = _create(
        api, invoice,
        [{"fee_id": str(fee1.pk), "amount_cents": 2500},
         {"fee_id": str(fee2.pk), "amount_cents": 1000}],
        reason="duplicated_charge", description="Twice", credit_amount_cents=4255,
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    _ok(S.envelope("credit_note", CREDIT_NOTE), body)
    note = body["credit_note"]
    assert list(note)[: len(SERIALIZER_ORDER)] == SERIALIZER_ORDER
    assert list(note)[len(SERIALIZER_ORDER) :] == [
        "customer", "items", "applied_taxes", "error_details"
    ]  # fmt: skip
    assert note["number"] == f"{invoice.number}-CN001"
    assert (note["total_amount_cents"], note["taxes_amount_cents"]) == (4255, 755)
    assert (note["precise_total_amount_cents"], note["taxes_rate"]) == ("4255.0", 21.57143)
    assert note["file_url"] is None and note["description"] == "Twice"
    assert [i["fee"]["lago_id"] for i in note["items"]] == [str(fee1.pk), str(fee2.pk)]
    assert [(t["tax_code"], t["amount_cents"]) for t in note["applied_taxes"]] == [
        ("r55", 55),
        ("vat20", 700),
    ]

    shown = api.get(f"/api/v1/credit_notes/{note['lago_id']}").json()
    assert shown == body

    _create(api, invoice, [{"fee_id": str(fee1.pk), "amount_cents": 1000}], refund_amount_cents=0,
            credit_amount_cents=1200, reason="other")  # fmt: skip
    listed = api.get("/api/v1/credit_notes").json()
    _ok(S.page("credit_notes", CREDIT_NOTE), listed)
    assert listed["meta"]["total_count"] == 2
    assert [n["number"] for n in listed["credit_notes"]] == [
        f"{invoice.number}-CN002",
        f"{invoice.number}-CN001",
    ]

    def numbers(**query):
        return [
            n["number"][-5:] for n in api.get("/api/v1/credit_notes", query).json()["credit_notes"]
        ]

    assert numbers(reason="duplicated_charge") == ["CN001"]
    assert numbers(reason="nonsense") == ["CN002", "CN001"]  # unknown: no filter, as lago-api
    assert numbers(amount_from=2000) == ["CN001"]
    assert numbers(amount_to=2000) == ["CN002"]
    assert numbers(invoice_number=invoice.number) == ["CN002", "CN001"]
    assert numbers(external_customer_id="nobody") == []
    assert numbers(search_term="CN002") == ["CN002"]
    assert numbers(**{"types[]": ["refund"]}) == []
    customer_list = api.get("/api/v1/customers/cust-cn/credit_notes").json()
    assert customer_list["meta"]["total_count"] == 2
    assert api.get("/api/v1/credit_notes", {"amount_from": "x"}).status_code == 422
    assert api.get("/api/v1/credit_notes", {"billing_entity_codes[]": "nope"}).status_code == 404

    path = f"/api/v1/credit_notes/{note['lago_id']}"
    updated = api.put(path, {"credit_note": {"refund_status": "failed"}}, format="json")
    assert updated.status_code == 200 and updated.json()["credit_note"]["refund_status"] == "failed"
    bad = api.put(path, {"credit_note": {"refund_status": "lost"}}, format="json")
    assert bad.json() == {"status": 422, "error": "Unprocessable Entity",
                          "code": "validation_errors",
                          "error_details": {"refund_status": ["value_is_invalid"]}}  # fmt: skip
    # lago-api finds the credit note before it reads the body.
    assert api.put(path, {}, format="json").status_code == 400
    missing = "/api/v1/credit_notes/00000000-0000-4000-8000-000000000000"
    assert api.put(missing, {}, format="json").json()["code"] == "credit_note_not_found"

    voided = api.put(f"{path}/void")
    assert voided.status_code == 200
    assert voided.json()["credit_note"]["credit_status"] == "voided"
    assert voided.json()["credit_note"]["balance_amount_cents"] == 0
    again = api.put(f"{path}/void")
    assert (again.status_code, again.json()["code"]) == (405, "no_voidable_amount")


def test_lagos_errors(api, world, organization):
    invoice, fee1, _ = world
    over = _create(api, invoice, [{"fee_id": str(fee1.pk), "amount_cents": 10_001}],
                   credit_amount_cents=12_001)  # fmt: skip
    assert over.status_code == 422
    assert over.json()["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    _ok(S.UNPROCESSABLE, over.json())
    unknown_fee = _create(api, invoice, [{"fee_id": "nope", "amount_cents": 1}],
                          credit_amount_cents=1)  # fmt: skip
    assert unknown_fee.status_code == 404 and unknown_fee.json()["code"] == "fee_not_found"
    body = {"credit_note": {"invoice_id": "00000000-0000-4000-8000-000000000000", "items": []}}
    missing = api.post("/api/v1/credit_notes", body, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "invoice_not_found"
    draft = make_invoice(organization, invoice.customer, fees=[FeeInput(add_on_code="a")],
                         status="draft")  # fmt: skip
    refused = _create(api, draft, [{"fee_id": str(draft.fees.get().pk), "amount_cents": 1}],
                      credit_amount_cents=1)  # fmt: skip
    assert refused.status_code == 405 and refused.json()["code"] == "invalid_type_or_status"
    _ok(S.NOT_ALLOWED, refused.json())
    not_array = _create(api, invoice, "all", credit_amount_cents=1)
    assert not_array.json()["error_details"] == {"items": ["must_be_an_array"]}
    assert api.post("/api/v1/credit_notes", {}, format="json").status_code == 400
    assert not CreditNote.objects.exists()


def test_estimate(api, world):
    invoice, fee1, fee2 = world
    body = {"credit_note": {"invoice_id": str(invoice.pk), "items": [
        {"fee_id": str(fee1.pk), "amount_cents": 2500},
        {"fee_id": str(fee2.pk), "amount_cents": 1000}]}}  # fmt: skip
    response = api.post("/api/v1/credit_notes/estimate", body, format="json")
    assert response.status_code == 200, response.content
    _ok(S.envelope("estimated_credit_note", ESTIMATED), response.json())
    estimate = response.json()["estimated_credit_note"]
    # EstimateService: 35.00 + 7.55; nothing was paid, so nothing is refundable.
    assert (estimate["max_creditable_amount_cents"], estimate["max_refundable_amount_cents"]) == (
        4255,
        0,
    )
    assert estimate["items"] == [
        {"lago_fee_id": str(fee1.pk), "amount_cents": 2500},
        {"lago_fee_id": str(fee2.pk), "amount_cents": 1000},
    ]
    assert not CreditNote.objects.exists()


def test_download_then_stored_and_webhooks(api, world, organization):
    invoice, fee1, _ = world
    api.post("/api/v1/webhook_endpoints",
             {"webhook_endpoint": {"webhook_url": "https://hooks.example.com/lago",
                                   "signature_algo": "hmac"}}, format="json")  # fmt: skip
    note = _create(api, invoice, [{"fee_id": str(fee1.pk), "amount_cents": 1000}],
                   credit_amount_cents=1200).json()["credit_note"]  # fmt: skip
    path = f"/api/v1/credit_notes/{note['lago_id']}/download"
    first = api.post(path)
    assert (first.status_code, first.content, first["Content-Type"]) == (
        200,
        b"",
        "application/json",
    )
    job = PdfJob.objects.get(credit_note_id=note["lago_id"], is_current=True)
    assert job.invoice_id is None and job.version == 1
    assert pdf.pdf_job_run(job_id=str(job.pk)).outcome == "ready"
    job.refresh_from_db()
    assert job.storage_key.startswith(f"credit_notes/{organization.pk}/{note['lago_id']}/")
    stored = api.post(path)
    _ok(S.envelope("credit_note", CREDIT_NOTE_BASE), stored.json())
    url = stored.json()["credit_note"]["file_url"]
    file = api.get(url)
    assert file.status_code == 200
    assert f'filename="{note["number"]}.pdf"' in file["Content-Disposition"]
    assert b"".join(file.streaming_content).startswith(b"%PDF")

    created = WebhookEvent.objects.get(object_id=note["lago_id"], event_type="credit_note.created")
    generated = WebhookEvent.objects.get(
        object_id=note["lago_id"], event_type="credit_note.generated"
    )
    import json

    body = json.loads(webhook_body(created))
    assert list(body) == ["webhook_type", "object_type", "organization_id", "credit_note"]
    assert body["object_type"] == "credit_note"
    assert list(body["credit_note"]) == [*SERIALIZER_ORDER, "customer", "items", "applied_taxes"]
    assert created.deliveries.count() == 1
    generated_body = json.loads(webhook_body(generated))
    assert list(generated_body["credit_note"]) == [*SERIALIZER_ORDER, "customer"]
    # Each attempt carries a fresh link to the stored PDF.
    assert generated_body["credit_note"]["file_url"].startswith("http")
    assert lago.CREDIT_NOTE_GENERATED_WEBHOOK.names == [*SERIALIZER_ORDER, "customer"]


def test_void_an_invoice_with_a_credit_note(api, world):
    invoice, _, _ = world
    # Creditable: 150.00 + round(20 % of 100 + 25.5 % of 50) = 182.75.
    too_much = api.post(f"/api/v1/invoices/{invoice.pk}/void",
                        {"generate_credit_note": True, "credit_amount": 18_276},
                        format="json")  # fmt: skip
    assert too_much.status_code == 422
    assert too_much.json()["error_details"] == {
        "credit_refund_amount": ["total_amount_exceeds_invoice_amount"]
    }
    response = api.post(f"/api/v1/invoices/{invoice.pk}/void",
                        {"generate_credit_note": True, "credit_amount": 18_275},
                        format="json")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["invoice"]["status"] == "voided"
    # All of it credited: nothing left for a second, voided, credit note.
    [note] = CreditNote.objects.filter(invoice=invoice)
    assert (note.credit_amount_cents, note.credit_status) == (18_275, "available")
