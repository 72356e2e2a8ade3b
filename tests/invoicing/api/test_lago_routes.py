"""The routes Lago clients call that were missing (deletions, a customer's
invoices), ``file_url`` wherever the PDF is stored, the download's empty 200,
and the fields of Lago's schema this service left null or formatted its own
way. lago-api files cited per rule."""

import re

import httpx
import pytest

from invoicing.models import Customer, Invoice, Tax, WebhookEvent
from invoicing.services.invoices import FeeInput
from tests.factories import (
    make_add_on,
    make_customer,
    make_invoice,
    make_organization,
    make_tax,
)
from tests.invoicing.api.lotus.conftest import make_rich_invoice, render_now

pytestmark = pytest.mark.django_db

# Time#iso8601 of a UTC time: whole seconds, "Z".
LAGO_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()


# ------------------------------------------------------- DELETE /invoices


def test_deleting_a_draft_keeps_it_hidden(api, organization):
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    # Invoices::DeleteService: draft -> deleted, answered with the invoice.
    body = _ok(api.delete(f"/api/v1/invoices/{draft.id}"))["invoice"]
    assert body["lago_id"] == str(draft.id) and body["status"] == "deleted"
    assert Invoice.objects.get(pk=draft.pk).status == "deleted"
    # Not visible any more: show, list, finalize, delete again.
    assert _error(api.get(f"/api/v1/invoices/{draft.id}"), 404)["code"] == "invoice_not_found"
    assert _ok(api.get("/api/v1/invoices"))["invoices"] == []
    assert api.put(f"/api/v1/invoices/{draft.id}/finalize").status_code == 404
    assert api.delete(f"/api/v1/invoices/{draft.id}").status_code == 404
    # SendWebhookJob.perform_later("invoice.deleted", invoice).
    event = WebhookEvent.objects.get(event_type="invoice.deleted")
    assert event.payload["invoice"]["status"] == "deleted"


def test_an_issued_invoice_cannot_be_deleted(api, organization):
    finalized = make_invoice(organization)
    voided = make_invoice(organization)
    api.post(f"/api/v1/invoices/{voided.id}/void")
    for invoice in (finalized, voided):
        before = Invoice.objects.get(pk=invoice.pk)
        assert _error(api.delete(f"/api/v1/invoices/{invoice.id}"), 405) == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "not_deletable",
        }
        after = Invoice.objects.get(pk=invoice.pk)
        assert (after.status, after.number, after.updated_at) == (
            before.status, before.number, before.updated_at
        )  # fmt: skip
    missing = api.delete("/api/v1/invoices/00000000-0000-0000-0000-000000000000")
    assert _error(missing, 404)["code"] == "invoice_not_found"


# --------------------------------------------------------- DELETE /taxes


def test_deleting_a_tax(api, organization):
    vat = make_tax(organization, code="vat", rate="20")
    add_on = make_add_on(organization, code="setup", amount_cents=1000, taxes=[vat])
    make_customer(organization, "c1", currency="EUR", tax_codes=["vat"])
    issued = make_invoice(organization, Customer.objects.get(external_id="c1"),
                          [FeeInput(add_on_code=add_on.code)])  # fmt: skip
    shown_before = _ok(api.get(f"/api/v1/invoices/{issued.id}"))["invoice"]

    # Taxes::DestroyService: soft deletion, answered with the tax.
    body = _ok(api.delete("/api/v1/taxes/vat"))["tax"]
    assert body["code"] == "vat" and body["lago_id"] == str(vat.id)
    assert Tax.all_objects.get(pk=vat.pk).deleted_at is not None
    assert _error(api.get("/api/v1/taxes/vat"), 404)["code"] == "tax_not_found"
    assert _ok(api.get("/api/v1/taxes"))["taxes"] == []
    # ...and no longer on the customer (applied_taxes) or the add-on (add_ons_taxes).
    assert _ok(api.get("/api/v1/customers/c1"))["customer"]["taxes"] == []
    assert _ok(api.get("/api/v1/add_ons/setup"))["add_on"]["taxes"] == []
    # The issued invoice is unchanged.
    shown_after = _ok(api.get(f"/api/v1/invoices/{issued.id}"))["invoice"]
    assert shown_after["applied_taxes"] == shown_before["applied_taxes"]
    assert shown_after["total_amount_cents"] == shown_before["total_amount_cents"] == 1200
    # A new invoice no longer finds it; its code stays taken (Tax's uniqueness
    # validation reads deleted taxes: Rails checks ``unscoped``).
    fee = {"add_on_code": "setup", "tax_codes": ["vat"]}
    create = {"invoice": {"external_customer_id": "c1", "fees": [fee]}}
    assert _error(api.post("/api/v1/invoices", create, format="json"), 404)["code"] == (
        "tax_not_found"
    )
    again = api.post("/api/v1/taxes", {"tax": {"code": "vat", "name": "VAT", "rate": 5}},
                     format="json")  # fmt: skip
    assert _error(again, 422)["error_details"] == {"code": ["value_already_exist"]}
    assert _error(api.delete("/api/v1/taxes/vat"), 404)["code"] == "tax_not_found"


def test_a_deleted_default_tax_no_longer_applies(api, organization):
    make_tax(organization, code="default", rate="10", applied_to_organization=True)
    customer = make_customer(organization, "c1", currency="EUR")
    add_on = make_add_on(organization, amount_cents=1000)
    taxed = make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)])
    assert taxed.taxes_amount_cents == 100
    api.delete("/api/v1/taxes/default")
    untaxed = make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)])
    assert untaxed.taxes_amount_cents == 0


# ------------------------------------------------------- DELETE /add_ons


def test_deleting_an_add_on(api, organization):
    make_customer(organization, "c1", currency="EUR")
    add_on = make_add_on(organization, code="setup", amount_cents=1000)
    issued = make_invoice(organization, Customer.objects.get(external_id="c1"),
                          [FeeInput(add_on_code="setup")])  # fmt: skip
    # AddOns::DestroyService: discard!, answered with the add-on.
    body = _ok(api.delete("/api/v1/add_ons/setup"))["add_on"]
    assert body["lago_id"] == str(add_on.id) and body["code"] == "setup"
    assert _error(api.get("/api/v1/add_ons/setup"), 404)["code"] == "add_on_not_found"
    assert _ok(api.get("/api/v1/add_ons"))["add_ons"] == []
    create = {"invoice": {"external_customer_id": "c1", "fees": [{"add_on_code": "setup"}]}}
    assert _error(api.post("/api/v1/invoices", create, format="json"), 404)["code"] == (
        "add_on_not_found"
    )
    # Issued fees keep it.
    fee = _ok(api.get(f"/api/v1/invoices/{issued.id}"))["invoice"]["fees"][0]
    assert fee["item"]["lago_item_id"] == str(add_on.id)
    # AddOn's code uniqueness skips deleted add-ons: the code is free again.
    new = {"add_on": {"code": "setup", "name": "New", "amount_cents": 5, "amount_currency": "EUR"}}
    assert _ok(api.post("/api/v1/add_ons", new, format="json"))["add_on"]["lago_id"] != str(
        add_on.id
    )


# ----------------------------------------------------- DELETE /customers


def test_deleting_a_customer_keeps_its_invoices_and_frees_its_id(api, organization):
    customer = make_customer(organization, "c1", currency="EUR")
    add_on = make_add_on(organization, amount_cents=1000)
    issued = make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)])
    draft = make_invoice(organization, customer, [FeeInput(add_on_code=add_on.code)],
                         status=Invoice.Status.DRAFT)  # fmt: skip
    issued_before = _ok(api.get(f"/api/v1/invoices/{issued.id}"))["invoice"]

    # Customers::DestroyService: discard!, answered with the customer.
    body = _ok(api.delete("/api/v1/customers/c1"))["customer"]
    assert body["lago_id"] == str(customer.id) and body["sequential_id"] == 1
    assert Customer.all_objects.get(pk=customer.pk).deleted_at is not None
    assert _error(api.get("/api/v1/customers/c1"), 404)["code"] == "customer_not_found"
    assert _ok(api.get("/api/v1/customers"))["customers"] == []
    assert _error(api.delete("/api/v1/customers/c1"), 404)["code"] == "customer_not_found"
    # The issued invoice is unchanged and still shows its customer (as the
    # customer is now: its updated_at moved when it was deleted).
    issued_after = _ok(api.get(f"/api/v1/invoices/{issued.id}"))["invoice"]
    customer_before, customer_after = issued_before.pop("customer"), issued_after.pop("customer")
    assert issued_after == issued_before
    customer_before.pop("updated_at"), customer_after.pop("updated_at")
    assert customer_after == customer_before
    # Customers::TerminateRelationsService finalizes the drafts.
    draft.refresh_from_db()
    assert draft.status == "finalized" and draft.number

    # The external id names a new customer (the uniqueness is among kept
    # customers), with the next number (Sequenced counts deleted ones too).
    again = _ok(api.post("/api/v1/customers", {"customer": {"external_id": "c1"}},
                         format="json"))["customer"]  # fmt: skip
    assert again["lago_id"] != str(customer.id) and again["sequential_id"] == 2
    # Invoices are listed by external id whatever became of their customer
    # (Invoice belongs_to :customer, -> { with_discarded }).
    listed = _ok(api.get("/api/v1/invoices", {"external_customer_id": "c1"}))["invoices"]
    assert {i["lago_id"] for i in listed} == {str(issued.id), str(draft.id)}
    # So does the customer's route: Customers::InvoicesController filters by
    # the customer's external id too, not by the row.
    listed = _ok(api.get("/api/v1/customers/c1/invoices"))["invoices"]
    assert {i["lago_id"] for i in listed} == {str(issued.id), str(draft.id)}


# ------------------------------------------------------------- file_url


def test_file_url_is_set_wherever_the_pdf_is_stored(api, organization):
    invoice = make_rich_invoice(organization)
    # Not stored yet: null (lago-api's file_url is nil until the file is attached).
    assert _ok(api.get(f"/api/v1/invoices/{invoice.id}"))["invoice"]["file_url"] is None
    render_now(invoice)
    shown = _ok(api.get(f"/api/v1/invoices/{invoice.id}"))["invoice"]["file_url"]
    assert shown and shown.startswith("http")
    listed = _ok(api.get("/api/v1/invoices"))["invoices"][0]["file_url"]
    assert listed
    updated = api.put(f"/api/v1/invoices/{invoice.id}",
                      {"invoice": {"payment_status": "succeeded"}}, format="json")  # fmt: skip
    assert _ok(updated)["invoice"]["file_url"]
    # Voiding replaces the PDF (a VOID mark): none stored until it is rendered.
    voided = _ok(api.post(f"/api/v1/invoices/{invoice.id}/void"))["invoice"]
    assert voided["file_url"] is None
    render_now(Invoice.objects.get(pk=invoice.pk))
    assert _ok(api.get(f"/api/v1/invoices/{invoice.id}"))["invoice"]["file_url"]


def test_the_list_reads_every_stored_pdf_in_one_query(api, organization, django_assert_num_queries):
    for _ in range(3):
        render_now(make_rich_invoice(organization))
    # key, organization, count, page, applied taxes, customers' organization,
    # stored PDFs; the same for 3 invoices as for 1.
    with django_assert_num_queries(7):
        invoices = _ok(api.get("/api/v1/invoices"))["invoices"]
    assert len(invoices) == 3 and all(i["file_url"] for i in invoices)


@pytest.mark.django_db(transaction=True)
def test_the_empty_download_answer_is_json_over_http(live_server):
    organization, key = make_organization()
    invoice = make_invoice(organization)  # its PDF is queued, not rendered (no worker)
    response = httpx.post(
        f"{live_server.url}/api/v1/invoices/{invoice.id}/download",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Type"] == "application/json"


# ---------------------------------------------- fields of Lago's schema


def test_customers_are_numbered_per_organization_with_a_slug(api, organization):
    first = _ok(api.post("/api/v1/customers", {"customer": {"external_id": "a"}}, format="json"))
    second = _ok(api.post("/api/v1/customers", {"customer": {"external_id": "b"}}, format="json"))
    # Sequenced (per organization) and Customer#ensure_slug:
    # "<document_number_prefix>-<sequential_id, 3 digits>", the prefix being
    # the name's first 3 letters upcased and the id's last 4 characters.
    prefix = f"{organization.name[:3].upper()}-{organization.id.hex[-4:].upper()}"
    assert (first["customer"]["sequential_id"], first["customer"]["slug"]) == (1, f"{prefix}-001")
    assert (second["customer"]["sequential_id"], second["customer"]["slug"]) == (
        2, f"{prefix}-002"
    )  # fmt: skip
    # An upsert keeps them.
    again = api.post("/api/v1/customers", {"customer": {"external_id": "a", "name": "A"}},
                     format="json")  # fmt: skip
    assert _ok(again)["customer"]["slug"] == f"{prefix}-001"
    # Another organization counts from 1.
    other, key = make_organization(name="Zeta", numbering_scheme="sequence", number_prefix="zt")
    customer = make_customer(other, "z")
    assert (customer.sequential_id, customer.slug) == (1, "ZT-001")


def test_unset_customer_strings_are_null(api, organization):
    customer = _ok(api.post("/api/v1/customers", {"customer": {"external_id": "bare"}},
                            format="json"))["customer"]  # fmt: skip
    # lago-api's customer columns are nullable with no default.
    for field in ("name", "firstname", "lastname", "customer_type", "country", "address_line1",
                  "address_line2", "state", "zipcode", "email", "city", "url", "phone",
                  "legal_name", "legal_number", "currency", "tax_identification_number",
                  "timezone", "logo_url"):  # fmt: skip
        assert customer[field] is None, field
    assert customer["billing_configuration"] == {
        "invoice_grace_period": None,
        "payment_provider": None,
        "payment_provider_code": None,
        "document_locale": None,
        "subscription_invoice_issuing_date_anchor": None,
        "subscription_invoice_issuing_date_adjustment": None,
    }
    assert customer["billing_entity_code"] == organization.billing_entity_code


def test_billing_entity_code_is_the_parameterized_name(db):
    # Organizations::CreateService: name.parameterize(separator: "_").
    organization, _ = make_organization(name="Émile & Fils -- Ltd.")
    assert organization.billing_entity_code == "emile_fils_--_ltd"
    nameless, _ = make_organization(name="株式会社")
    assert nameless.billing_entity_code == f"org_{nameless.id.hex[:8]}"


def test_timestamps_are_whole_seconds_in_utc(api, organization):
    invoice = make_rich_invoice(organization, metadata=[{"key": "po", "value": "1"}])
    customer = invoice.customer
    body = {"customer": {"external_id": customer.external_id,
                         "metadata": [{"key": "crm", "value": "7"}]}}  # fmt: skip
    api.post("/api/v1/customers", body, format="json")
    shown = _ok(api.get(f"/api/v1/invoices/{invoice.id}"))["invoice"]
    stamps = [shown["created_at"], shown["updated_at"], shown["customer"]["created_at"],
              shown["customer"]["updated_at"], shown["metadata"][0]["created_at"],
              shown["fees"][0]["created_at"], shown["applied_taxes"][0]["created_at"],
              shown["fees"][0]["applied_taxes"][0]["created_at"]]  # fmt: skip
    customer = _ok(api.get(f"/api/v1/customers/{customer.external_id}"))["customer"]
    stamps.append(customer["metadata"][0]["created_at"])
    tax = _ok(api.get("/api/v1/taxes"))["taxes"][0]
    add_on = _ok(api.get("/api/v1/add_ons"))["add_ons"][0]
    voided = _ok(api.post(f"/api/v1/invoices/{invoice.id}/void"))["invoice"]
    stamps += [tax["created_at"], add_on["created_at"], voided["voided_at"]]
    for stamp in stamps:
        assert LAGO_TIMESTAMP.match(stamp), stamp
