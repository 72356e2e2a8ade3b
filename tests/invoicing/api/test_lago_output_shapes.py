"""The Lago shapes are declared once (invoicing/representations/lago.py): the
answers, the webhook payloads and the schema's serializer classes all come
from the declarations. What is rendered has the declared keys, in order, and
values of the declared kinds, at every level; the columns a hot path reads
are those the declaration names."""

import uuid

import pytest

from invoicing import selectors
from invoicing.api.lago import serializers as s
from invoicing.models import Invoice
from invoicing.representations import lago
from invoicing.services.events import invoice_payload
from invoicing.services.invoices import CreditInput, invoice_update, invoice_void
from tests.invoicing.api.lotus.conftest import make_rich_invoice, render_now
from tests.invoicing.api.shapes import assert_declared_shape, assert_matches_shape

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(organization):
    invoice = make_rich_invoice(
        organization,
        credits=[CreditInput(kind="coupon", amount_cents=500, code="WELCOME", name="Welcome")],
        metadata=[{"key": "po", "value": "42", "display_in_invoice": True}],
    )
    invoice_update(invoice=invoice, payment_status=Invoice.PaymentStatus.FAILED)
    invoice.customer.metadata = [{"id": "m1", "key": "crm", "value": "7"}]
    invoice.customer.save(update_fields=["metadata"])
    return Invoice.objects.get(pk=invoice.pk)


def test_rendered_values_are_of_the_declared_kinds(rich):
    selectors.invoice_load_details([rich])
    assert rich.fees.all() and rich.credits.all() and rich.applied_taxes.all()
    assert any(f.applied_taxes.all() for f in rich.fees.all())
    urls = {"pdf_urls": {rich.pk: "https://x.example/f"}}
    full = lago.INVOICE.render(rich, urls)
    assert_matches_shape(full, lago.INVOICE)
    assert full["file_url"] == "https://x.example/f"
    assert full["customer"]["metadata"][0]["key"] == "crm"
    item = full["credits"][0]["item"]
    assert {k: item[k] for k in ("type", "code", "name", "description")} == {
        "type": "coupon", "code": "WELCOME", "name": "Welcome", "description": None,
    }  # fmt: skip
    # One coupon, one item id: the same for every credit of that coupon.
    assert item["lago_item_id"] == str(uuid.uuid5(rich.organization_id, "coupon:WELCOME"))
    assert_matches_shape(lago.INVOICE_LIST_ITEM.render(rich), lago.INVOICE_LIST_ITEM)
    assert lago.INVOICE_LIST_ITEM.render(rich)["file_url"] is None


def test_serializer_classes_render_through_their_shape(rich):
    selectors.invoice_load_details([rich])
    context = {"pdf_urls": {rich.pk: "https://x.example/f"}}
    assert s.InvoiceOutput(rich, context=context).data == lago.INVOICE.render(rich, context)
    assert list(s.InvoiceOutput().fields) == lago.INVOICE.names
    assert list(s.FeeOutput().fields["applied_taxes"].child.fields) == (lago.FEE_APPLIED_TAX.names)


def test_draft_and_voided_render_as_declared(organization):
    draft = make_rich_invoice(organization, status=Invoice.Status.DRAFT)
    voided = invoice_void(invoice=make_rich_invoice(organization))
    for invoice in (draft, voided):
        invoice = Invoice.objects.get(pk=invoice.pk)
        selectors.invoice_load_details([invoice])
        assert_matches_shape(lago.INVOICE.render(invoice), lago.INVOICE)
    # Lago's ``<document prefix>-DRAFT``: the first three letters of the
    # organization's name, the last four of its id.
    org = draft.organization
    expected = f"{org.name[:3].upper()}-{org.id.hex[-4:].upper()}-DRAFT"
    assert lago.INVOICE.render(Invoice.objects.get(pk=draft.pk))["number"] == expected


def test_api_answers_have_the_declared_shape(api, rich):
    render_now(rich)
    shown = api.get(f"/api/v1/invoices/{rich.id}").json()["invoice"]
    assert_declared_shape(shown, s.InvoiceOutput())
    assert_matches_shape(shown, lago.INVOICE)
    listed = api.get("/api/v1/invoices").json()["invoices"]
    assert_declared_shape(listed, s.InvoiceListItemOutput(many=True))
    download = api.post(f"/api/v1/invoices/{rich.id}/download").json()["invoice"]
    assert download["file_url"]
    assert_matches_shape(download, lago.INVOICE_BASE)
    customer = api.get(f"/api/v1/customers/{rich.customer.external_id}").json()["customer"]
    assert_matches_shape(customer, lago.CUSTOMER_DETAILED)


def test_webhook_payload_is_the_base_invoice_and_its_customer(rich):
    payload = invoice_payload(rich, "invoice.created")
    assert list(payload) == ["webhook_type", "object_type", "organization_id", "invoice"]
    assert_matches_shape(payload["invoice"], lago.INVOICE_WEBHOOK)
    assert payload["invoice"]["file_url"] is None  # each attempt adds a fresh one
    assert lago.INVOICE_WEBHOOK.names == [*lago.INVOICE_BASE.names, "customer"]


def test_reordering_a_stored_payload_restores_the_declared_order(rich):
    payload = invoice_payload(rich, "invoice.created")
    shuffled = {
        "invoice": {
            "customer": dict(reversed(payload["invoice"]["customer"].items())),
            **dict(reversed([(k, v) for k, v in payload["invoice"].items() if k != "customer"])),
        },
        **{k: v for k, v in payload.items() if k != "invoice"},
    }
    assert lago.invoice_webhook_reordered(shuffled) == payload
    assert list(lago.invoice_webhook_reordered(shuffled)["invoice"]) == list(payload["invoice"])


def test_the_download_reads_the_columns_the_declaration_names():
    columns = dict(lago.INVOICE_BASE.columns())
    from invoicing.models import Customer, Organization

    assert "metadata" not in columns[Invoice]  # only the list and show render it
    assert {"number", "total_amount_cents", "total_paid_amount_cents"} <= set(columns[Invoice])
    assert columns[Customer] == ("timezone",)
    # A draft's number is made from the organization's name (or prefix).
    assert set(columns[Organization]) == {
        "billing_entity_code",
        "timezone",
        "name",
        "number_prefix",
    }


def test_download_of_a_stored_pdf_costs_one_round_trip(api, rich, django_assert_num_queries):
    render_now(rich)
    with django_assert_num_queries(1):  # the key and the stored PDF with its invoice, together
        response = api.post(f"/api/v1/invoices/{rich.id}/download")
    assert response.json()["invoice"]["file_url"]


def test_show_does_not_reload_the_callers_organization(api, rich, django_assert_num_queries):
    # key, organization (once), invoice with customer, fees, fee taxes,
    # credits, invoice taxes, stored PDF (file_url)
    with django_assert_num_queries(8):
        response = api.get(f"/api/v1/invoices/{rich.id}")
    assert response.json()["invoice"]["customer"]["applicable_timezone"]
