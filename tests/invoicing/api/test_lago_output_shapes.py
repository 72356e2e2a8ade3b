"""The Lago output serializers render with plain functions: what they render
is what their declared fields (the OpenAPI schema) say, key for key and value
for value, at every level."""

import json

import pytest
from django.db.models import Manager
from rest_framework import serializers

from invoicing import selectors
from invoicing.api.lago import serializers as s
from invoicing.models import Invoice
from invoicing.services.events import invoice_payload
from invoicing.services.invoices import CreditInput, invoice_update
from tests.invoicing.api.lotus.conftest import make_rich_invoice, render_now
from tests.invoicing.api.shapes import assert_declared_shape

pytestmark = pytest.mark.django_db


def _drf(serializer, instance):
    """What DRF's own field-by-field rendering gives for ``instance``: the
    declared fields, each formatted by its field class (not by the class's
    ``to_representation``, which this checks)."""
    out = {}
    for name, field in serializer.fields.items():
        attribute = field.get_attribute(instance)
        if attribute is None:
            out[name] = None
        elif isinstance(field, serializers.ListSerializer):
            items = attribute.all() if isinstance(attribute, Manager) else attribute
            out[name] = [_drf(field.child, item) for item in items]
        elif isinstance(field, serializers.Serializer):
            out[name] = _drf(field, attribute)
        else:
            out[name] = field.to_representation(attribute)
    return out


def _same(rendered, serializer, instance):
    # JSON text: the same keys in the same order, the same values and types.
    assert json.dumps(rendered) == json.dumps(_drf(serializer, instance))


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


def test_rendered_values_are_drf_field_renderings(rich):
    selectors.invoice_load_details([rich])
    assert rich.fees.all() and rich.credits.all() and rich.applied_taxes.all()
    assert any(f.applied_taxes.all() for f in rich.fees.all())
    _same(s.InvoiceOutput(rich).data, s.InvoiceOutput(), rich)
    _same(s.InvoiceListItemOutput(rich).data, s.InvoiceListItemOutput(), rich)
    base = s.InvoiceBaseOutput(rich, context={"file_url": "https://x.example/f"})
    assert base.data["file_url"] == "https://x.example/f"
    _same(base.data, s.InvoiceBaseOutput(context={"file_url": "https://x.example/f"}), rich)
    _same(s.CustomerOutput(rich.customer).data, s.CustomerOutput(), rich.customer)
    assert s.CustomerOutput(rich.customer).data["metadata"][0]["key"] == "crm"
    fee = rich.fees.all()[0]
    _same(s.FeeOutput(fee).data, s.FeeOutput(), fee)
    credit = rich.credits.all()[0]
    _same(s.CreditOutput(credit).data, s.CreditOutput(), credit)


def test_draft_and_voided_render_like_drf(organization):
    from invoicing.services.invoices import invoice_void

    draft = make_rich_invoice(organization, status=Invoice.Status.DRAFT)
    voided = invoice_void(invoice=make_rich_invoice(organization))
    for invoice in (draft, voided):
        invoice = Invoice.objects.get(pk=invoice.pk)
        selectors.invoice_load_details([invoice])
        _same(s.InvoiceOutput(invoice).data, s.InvoiceOutput(), invoice)


def test_api_answers_have_the_declared_shape(api, rich):
    render_now(rich)
    shown = api.get(f"/api/v1/invoices/{rich.id}").json()["invoice"]
    assert_declared_shape(shown, s.InvoiceOutput())
    listed = api.get("/api/v1/invoices").json()["invoices"]
    assert_declared_shape(listed, s.InvoiceListItemOutput(many=True))
    download = api.post(f"/api/v1/invoices/{rich.id}/download").json()["invoice"]
    assert download["file_url"]
    assert_declared_shape(download, s.InvoiceBaseOutput())
    customer = api.get(f"/api/v1/customers/{rich.customer.external_id}").json()["customer"]
    assert_declared_shape(customer, s.CustomerWithTaxesOutput())


def test_webhook_payload_is_the_base_invoice_and_its_customer(rich):
    payload = invoice_payload(rich, "invoice.created")
    _same({k: v for k, v in payload["invoice"].items() if k != "customer"},
          s.InvoiceBaseOutput(), rich)  # fmt: skip
    _same(payload["invoice"]["customer"], s.CustomerOutput(), rich.customer)


def test_download_of_a_stored_pdf_costs_two_queries(api, rich, django_assert_num_queries):
    render_now(rich)
    with django_assert_num_queries(2):  # key, stored PDF with its invoice
        response = api.post(f"/api/v1/invoices/{rich.id}/download")
    assert response.json()["invoice"]["file_url"]


def test_show_does_not_reload_the_callers_organization(api, rich, django_assert_num_queries):
    # key, organization (once), invoice with customer, fees, fee taxes,
    # credits, invoice taxes, stored PDF (file_url)
    with django_assert_num_queries(8):
        response = api.get(f"/api/v1/invoices/{rich.id}")
    assert response.json()["invoice"]["customer"]["applicable_timezone"]
