"""Every route of the Lago face (invoicing/api/lago/urls.py), for its success
and for each error it can answer, checked against the JSON Schemas of Lago's
objects and error bodies (``lago_schema.py``, from Lago's OpenAPI document and
lago-api's serializers and controllers).

A case marked ``xfail(strict=True)`` is how Lago answers where this service
answers otherwise: its reason names the difference and the lago-api file
behind the expectation. It fails the run the day the service answers as Lago
does, so the mark is then removed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from rest_framework.test import APIClient

from invoicing.models import Invoice
from invoicing.services.invoices import CreditInput, FeeInput, invoice_update, invoice_void
from invoicing.services.webhook_endpoints import webhook_endpoint_create
from tests.factories import make_add_on, make_customer, make_invoice, make_tax
from tests.invoicing.api import lago_schema as schemas
from tests.invoicing.api.lotus.conftest import render_now

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"
# ``expect`` value: the key is there, whatever its value.
PRESENT = object()


@pytest.fixture
def world(organization) -> dict[str, Any]:
    """Two customers, taxes, add-ons, an invoice in each state and two webhook
    endpoints, made through the services. Returns what paths are made of."""
    vat = make_tax(organization, code="vat", rate="20")
    make_tax(organization, code="reduced", rate="5.5")
    make_add_on(organization, code="setup", amount_cents=10_000, taxes=[vat])
    make_add_on(organization, code="support", amount_cents=2_500, currency="USD")
    acme = make_customer(organization, "acme", name="Acme Corp", email="billing@acme.example",
                         currency="EUR", country="FR", tax_codes=["vat"])  # fmt: skip
    globex = make_customer(organization, "globex", name="Globex", currency="USD")
    finalized = make_invoice(organization, acme, [FeeInput(add_on_code="setup")])
    draft = make_invoice(organization, acme, [FeeInput(add_on_code="setup")],
                         status=Invoice.Status.DRAFT)  # fmt: skip
    to_void = make_invoice(organization, globex, [FeeInput(add_on_code="support")],
                           currency="USD")  # fmt: skip
    voided = invoice_void(invoice=to_void)
    paid = make_invoice(organization, globex, [FeeInput(add_on_code="support")], currency="USD",
                        invoice_type=Invoice.InvoiceType.SUBSCRIPTION)  # fmt: skip
    invoice_update(invoice=paid, payment_status=Invoice.PaymentStatus.SUCCEEDED)
    jwt = webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": "https://hooks.example/lago", "name": "Main", "signature_algo": "jwt"},
    )
    standard = webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": "https://hooks.example/std", "signature_algo": "standard"},
    )
    return {
        "organization": organization,
        "finalized": str(finalized.id),
        "draft": str(draft.id),
        "voided": str(voided.id),
        "paid": str(paid.id),
        "jwt_endpoint": str(jwt.id),
        "standard_endpoint": str(standard.id),
        "missing": MISSING,
    }


def _invoice(world, name: str) -> Invoice:
    return Invoice.objects.get(pk=world[name])


def _dig(body, path: str):
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _send(api: APIClient, method: str, path: str, body=None, query=None):
    send = getattr(api, method.lower())
    if body is not None:
        return send(path, body, format="json")
    return send(path, query or {})


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # under /api/v1/, formatted with the world's ids
    status: int
    schema: dict | None  # None: an empty body
    body: Any = None
    query: dict | None = None
    prepare: Any = None  # called with the world before the request
    expect: dict = field(default_factory=dict)  # dotted path -> value (or PRESENT)


def case(label, method, path, status, schema, *, xfail=None, **kwargs):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    test_id = f"{method} {path} {status} {label}".strip()
    return pytest.param(Case(method, path, status, schema, **kwargs), id=test_id, marks=marks)


def _store_pdf(world):
    render_now(_invoice(world, "finalized"))


def _credited_invoice(kind: str, **credit):
    """An invoice with one credit of ``kind``, made through the services (no
    API makes credits: they come from the billing systems that send invoices)."""

    def prepare(world):
        invoice = make_invoice(
            world["organization"],
            _invoice(world, "finalized").customer,
            [FeeInput(add_on_code="setup")],
            credits=[CreditInput(kind=kind, amount_cents=1_000, **credit)],
        )
        world["credited"] = str(invoice.id)

    return prepare


S = schemas
NEW_CUSTOMER = {
    "external_id": "initech",
    "name": "Initech",
    "firstname": "Bill",
    "lastname": "Lumbergh",
    "customer_type": "company",
    "email": "ap@initech.example",
    "country": "US",
    "city": "Austin",
    "currency": "USD",
    "timezone": "America/Chicago",
    "net_payment_term": 30,
    "tax_codes": ["reduced"],
    "billing_configuration": {"document_locale": "fr"},
    "metadata": [{"key": "crm", "value": "42", "display_in_invoice": True}],
}
ONE_FEE = [{"add_on_code": "setup"}]

CASES = [
    # ------------------------------------------------------------ customers
    case("create", "POST", "customers", 200, S.CUSTOMER_ENVELOPE,
         body={"customer": NEW_CUSTOMER},
         expect={"customer.external_id": "initech", "customer.taxes.0.code": "reduced",
                 "customer.metadata.0.key": "crm"}),
    case("upsert", "POST", "customers", 200, S.CUSTOMER_ENVELOPE,
         body={"customer": {"external_id": "acme", "phone": "+33 1 23 45 67 89"}},
         expect={"customer.name": "Acme Corp", "customer.phone": "+33 1 23 45 67 89"}),
    case("no root key", "POST", "customers", 400, S.BAD_REQUEST, body={"external_id": "x"}),
    case("no external_id", "POST", "customers", 422, S.UNPROCESSABLE,
         body={"customer": {"name": "Nobody"}},
         expect={"error_details.external_id": ["value_is_mandatory"]}),
    case("country", "POST", "customers", 422, S.UNPROCESSABLE,
         body={"customer": {"external_id": "x", "country": "ZZ"}},
         expect={"error_details.country": ["not_a_valid_country_code"]}),
    case("billing entity", "POST", "customers", 404, S.NOT_FOUND,
         body={"customer": {"external_id": "x", "billing_entity_code": "nope"}},
         expect={"code": "billing_entity_not_found"}),
    case("unknown tax", "POST", "customers", 404, S.NOT_FOUND,
         body={"customer": {"external_id": "x", "tax_codes": ["nope"]}},
         expect={"code": "tax_not_found"}),
    case("currency Lago does not take", "POST", "customers", 422, S.UNPROCESSABLE,
         body={"customer": {"external_id": "x", "currency": "VES"}},
         expect={"error_details.currency": ["value_is_invalid"]}),
    case("time zone Lago does not take", "POST", "customers", 422, S.UNPROCESSABLE,
         body={"customer": {"external_id": "x", "timezone": "Europe/Monaco"}},
         expect={"error_details.timezone": ["invalid_timezone"]}),
    case("list", "GET", "customers", 200, S.CUSTOMERS_PAGE,
         expect={"meta.total_count": 2, "customers.0.external_id": "globex"}),
    case("search", "GET", "customers", 200, S.CUSTOMERS_PAGE, query={"search_term": "acme"},
         expect={"meta.total_count": 1, "customers.0.external_id": "acme"}),
    case("billing entity", "GET", "customers", 404, S.NOT_FOUND,
         query={"billing_entity_codes[]": ["nope"]}, expect={"code": "billing_entity_not_found"}),
    case("show", "GET", "customers/acme", 200, S.CUSTOMER_ENVELOPE,
         expect={"customer.taxes.0.code": "vat"}),
    case("unknown", "GET", "customers/nobody", 404, S.NOT_FOUND,
         expect={"code": "customer_not_found"}),
    case("delete", "DELETE", "customers/globex", 200, S.CUSTOMER_ENVELOPE,
         expect={"customer.external_id": "globex"}),
    case("unknown", "DELETE", "customers/nobody", 404, S.NOT_FOUND,
         expect={"code": "customer_not_found"}),
    case("list", "GET", "customers/acme/invoices", 200, S.INVOICES_PAGE,
         expect={"meta.total_count": 2}),
    case("status filter", "GET", "customers/acme/invoices", 200, S.INVOICES_PAGE,
         query={"status": "draft"}, expect={"meta.total_count": 1}),
    case("unknown customer", "GET", "customers/nobody/invoices", 404, S.NOT_FOUND,
         expect={"code": "customer_not_found"}),
    case("bad status", "GET", "customers/acme/invoices", 422, S.UNPROCESSABLE,
         query={"status": "paid"}),
    # ---------------------------------------------------------------- taxes
    case("create", "POST", "taxes", 200, S.TAX_ENVELOPE,
         body={"tax": {"code": "gst", "name": "GST", "rate": 10, "description": "Goods"}},
         expect={"tax.code": "gst", "tax.rate": 10.0}),
    case("no root key", "POST", "taxes", 400, S.BAD_REQUEST, body={"code": "gst"}),
    case("code taken", "POST", "taxes", 422, S.UNPROCESSABLE,
         body={"tax": {"code": "vat", "name": "VAT", "rate": 20}},
         expect={"error_details.code": ["value_already_exist"]}),
    case("no rate", "POST", "taxes", 422, S.UNPROCESSABLE,
         body={"tax": {"code": "gst", "name": "GST"}}),
    case("list", "GET", "taxes", 200, S.TAXES_PAGE, expect={"meta.total_count": 2}),
    case("show", "GET", "taxes/vat", 200, S.TAX_ENVELOPE, expect={"tax.rate": 20.0}),
    case("unknown", "GET", "taxes/nope", 404, S.NOT_FOUND, expect={"code": "tax_not_found"}),
    case("update", "PUT", "taxes/vat", 200, S.TAX_ENVELOPE, body={"tax": {"name": "TVA"}},
         expect={"tax.name": "TVA"}),
    case("unknown", "PUT", "taxes/nope", 404, S.NOT_FOUND, body={"tax": {"name": "x"}},
         expect={"code": "tax_not_found"}),
    case("no root key", "PUT", "taxes/vat", 400, S.BAD_REQUEST, body={"name": "x"}),
    case("code taken", "PUT", "taxes/vat", 422, S.UNPROCESSABLE, body={"tax": {"code": "reduced"}},
         expect={"error_details.code": ["value_already_exist"]}),
    case("unknown, no root key", "PUT", "taxes/nope", 400, S.BAD_REQUEST, body={"name": "x"}),
    case("delete", "DELETE", "taxes/reduced", 200, S.TAX_ENVELOPE,
         expect={"tax.code": "reduced"}),
    case("unknown", "DELETE", "taxes/nope", 404, S.NOT_FOUND, expect={"code": "tax_not_found"}),
    # -------------------------------------------------------------- add-ons
    case("create", "POST", "add_ons", 200, S.ADD_ON_ENVELOPE,
         body={"add_on": {"code": "training", "name": "Training", "amount_cents": 50_000,
                          "amount_currency": "EUR", "invoice_display_name": "On-site training",
                          "description": "One day", "tax_codes": ["vat"]}},
         expect={"add_on.code": "training", "add_on.taxes.0.code": "vat"}),
    case("no root key", "POST", "add_ons", 400, S.BAD_REQUEST, body={"code": "x"}),
    case("code taken", "POST", "add_ons", 422, S.UNPROCESSABLE,
         body={"add_on": {"code": "setup", "name": "X", "amount_cents": 1,
                          "amount_currency": "EUR"}},
         expect={"error_details.code": ["value_already_exist"]}),
    case("no amount", "POST", "add_ons", 422, S.UNPROCESSABLE,
         body={"add_on": {"code": "x", "name": "X", "amount_currency": "EUR"}}),
    case("currency Lago does not take", "POST", "add_ons", 422, S.UNPROCESSABLE,
         body={"add_on": {"code": "x", "name": "X", "amount_cents": 100,
                          "amount_currency": "VES"}},
         expect={"error_details.amount_currency": ["value_is_invalid"]}),
    case("zero amount", "POST", "add_ons", 422, S.UNPROCESSABLE,
         body={"add_on": {"code": "x", "name": "X", "amount_cents": 0,
                          "amount_currency": "EUR"}},
         expect={"error_details.amount_cents": ["value_is_out_of_range"]}),
    case("list", "GET", "add_ons", 200, S.ADD_ONS_PAGE, expect={"meta.total_count": 2}),
    case("show", "GET", "add_ons/setup", 200, S.ADD_ON_ENVELOPE,
         expect={"add_on.amount_cents": 10_000}),
    case("unknown", "GET", "add_ons/nope", 404, S.NOT_FOUND, expect={"code": "add_on_not_found"}),
    case("update", "PUT", "add_ons/setup", 200, S.ADD_ON_ENVELOPE,
         body={"add_on": {"amount_cents": 12_000}}, expect={"add_on.amount_cents": 12_000}),
    case("unknown", "PUT", "add_ons/nope", 404, S.NOT_FOUND, body={"add_on": {"name": "x"}},
         expect={"code": "add_on_not_found"}),
    case("no root key", "PUT", "add_ons/setup", 400, S.BAD_REQUEST, body={"name": "x"}),
    case("negative amount", "PUT", "add_ons/setup", 422, S.UNPROCESSABLE,
         body={"add_on": {"amount_cents": -1}}),
    case("unknown, no root key", "PUT", "add_ons/nope", 400, S.BAD_REQUEST, body={"name": "x"}),
    case("delete", "DELETE", "add_ons/support", 200, S.ADD_ON_ENVELOPE,
         expect={"add_on.code": "support"}),
    case("unknown", "DELETE", "add_ons/nope", 404, S.NOT_FOUND,
         expect={"code": "add_on_not_found"}),
    # ------------------------------------------------------------- invoices
    case("create", "POST", "invoices", 200, S.INVOICE_ENVELOPE,
         body={"invoice": {"external_customer_id": "acme", "currency": "EUR",
                           "purchase_order_number": "PO-7",
                           "fees": [{"add_on_code": "setup", "units": "2",
                                     "description": "Two sessions"}]}},
         expect={"invoice.status": "finalized", "invoice.fees_amount_cents": 20_000,
                 "invoice.purchase_order_number": "PO-7"}),
    case("create draft", "POST", "invoices", 200, S.INVOICE_ENVELOPE,
         body={"invoice": {"external_customer_id": "globex", "status": "draft",
                           "fees": [{"add_on_code": "support"}]}},
         expect={"invoice.status": "draft", "invoice.sequential_id": None}),
    case("no root key", "POST", "invoices", 400, S.BAD_REQUEST, body={"fees": ONE_FEE}),
    # Invoices::CreateOneOffService: the customer, then the fees, are looked up.
    case("no fees", "POST", "invoices", 404, S.NOT_FOUND,
         body={"invoice": {"external_customer_id": "acme"}}, expect={"code": "fees_not_found"}),
    case("empty fees", "POST", "invoices", 404, S.NOT_FOUND,
         body={"invoice": {"external_customer_id": "acme", "fees": []}},
         expect={"code": "fees_not_found"}),
    case("no customer", "POST", "invoices", 404, S.NOT_FOUND,
         body={"invoice": {"fees": ONE_FEE}}, expect={"code": "customer_not_found"}),
    case("bad period", "POST", "invoices", 422, S.UNPROCESSABLE,
         body={"invoice": {"external_customer_id": "acme",
                           "fees": [{"add_on_code": "setup", "from_datetime": "soon"}]}},
         expect={"error_details.boundaries": ["values_are_invalid"]}),
    case("unknown customer", "POST", "invoices", 404, S.NOT_FOUND,
         body={"invoice": {"external_customer_id": "nobody", "fees": ONE_FEE}},
         expect={"code": "customer_not_found"}),
    case("unknown add-on", "POST", "invoices", 404, S.NOT_FOUND,
         body={"invoice": {"external_customer_id": "acme", "fees": [{"add_on_code": "nope"}]}},
         expect={"code": "add_on_not_found"}),
    case("list", "GET", "invoices", 200, S.INVOICES_PAGE, expect={"meta.total_count": 4}),
    case("page 2", "GET", "invoices", 200, S.INVOICES_PAGE, query={"per_page": 3, "page": 2},
         expect={"meta.current_page": 2, "meta.prev_page": 1, "meta.next_page": None}),
    case("filtered", "GET", "invoices", 200, S.INVOICES_PAGE,
         query={"statuses[]": ["finalized", "voided"], "currency": "USD",
                "payment_statuses[]": ["pending"]},
         expect={"meta.total_count": 1}),
    case("bad status", "GET", "invoices", 422, S.UNPROCESSABLE, query={"statuses[]": ["paid"]},
         expect={"error_details.status.0": PRESENT}),
    case("bad boolean", "GET", "invoices", 422, S.UNPROCESSABLE,
         query={"payment_overdue": "perhaps"},
         expect={"error_details.payment_overdue": ["must be boolean"]}),
    case("billing entity", "GET", "invoices", 404, S.NOT_FOUND,
         query={"billing_entity_codes[]": ["nope"]}, expect={"code": "billing_entity_not_found"}),
    case("finalized", "GET", "invoices/{finalized}", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.total_amount_cents": 12_000,
                 "invoice.fees.0.applied_taxes.0.amount_cents": 2_000}),
    case("draft", "GET", "invoices/{draft}", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.status": "draft"}),
    case("voided", "GET", "invoices/{voided}", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.voided_at": PRESENT}),
    case("paid subscription invoice", "GET", "invoices/{paid}", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.payment_status": "succeeded", "invoice.total_due_amount_cents": 0}),
    case("unknown", "GET", "invoices/{missing}", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("coupon credit", "GET", "invoices/{credited}", 200, S.INVOICE_ENVELOPE,
         prepare=_credited_invoice("coupon", code="WELCOME", name="Welcome"),
         expect={"invoice.credits.0.item.type": "coupon"}),
    case("credit note credit", "GET", "invoices/{credited}", 200, S.INVOICE_ENVELOPE,
         prepare=_credited_invoice("credit_note", code="CN-1", name="CN-1"),
         expect={"invoice.credits.0.item.type": "credit_note"}),
    case("prepaid credit", "GET", "invoices/{credited}", 200, S.INVOICE_ENVELOPE,
         prepare=_credited_invoice("prepaid"),
         expect={"invoice.prepaid_credit_amount_cents": 1_000}),
    case("not an id", "GET", "invoices/not-an-id", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("payment status", "PUT", "invoices/{finalized}", 200, S.INVOICE_ENVELOPE,
         body={"invoice": {"payment_status": "succeeded"}},
         expect={"invoice.payment_status": "succeeded", "invoice.total_paid_amount_cents": 12_000}),
    case("metadata", "PUT", "invoices/{finalized}", 200, S.INVOICE_ENVELOPE,
         body={"invoice": {"metadata": [{"key": "po", "value": "42"}]}},
         expect={"invoice.metadata.0.key": "po"}),
    case("no root key", "PUT", "invoices/{finalized}", 400, S.BAD_REQUEST,
         body={"payment_status": "succeeded"}),
    case("unknown", "PUT", "invoices/{missing}", 404, S.NOT_FOUND,
         body={"invoice": {"payment_status": "succeeded"}}, expect={"code": "invoice_not_found"}),
    case("voided", "PUT", "invoices/{voided}", 405, S.NOT_ALLOWED,
         body={"invoice": {"payment_status": "succeeded"}},
         expect={"code": "update_on_voided_invoice"}),
    case("metadata on a draft", "PUT", "invoices/{draft}", 405, S.NOT_ALLOWED,
         body={"invoice": {"metadata": [{"key": "po", "value": "42"}]}},
         expect={"code": "metadata_on_draft_invoice"}),
    case("payment status of a draft", "PUT", "invoices/{draft}", 405, S.NOT_ALLOWED,
         body={"invoice": {"payment_status": "succeeded"}},
         expect={"code": "payment_status_update_on_draft_invoice"}),
    case("bad payment status", "PUT", "invoices/{finalized}", 422, S.UNPROCESSABLE,
         body={"invoice": {"payment_status": "paid"}},
         expect={"error_details.payment_status": ["value_is_invalid"]}),
    case("draft", "DELETE", "invoices/{draft}", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.status": "deleted"}),
    case("finalized", "DELETE", "invoices/{finalized}", 405, S.NOT_ALLOWED,
         expect={"code": "not_deletable"}),
    case("unknown", "DELETE", "invoices/{missing}", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("draft", "PUT", "invoices/{draft}/finalize", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.status": "finalized", "invoice.sequential_id": PRESENT}),
    case("finalized", "PUT", "invoices/{finalized}/finalize", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("unknown", "PUT", "invoices/{missing}/finalize", 404, S.NOT_FOUND),
    case("finalized", "POST", "invoices/{finalized}/void", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.status": "voided", "invoice.voided_at": PRESENT}),
    case("voided", "POST", "invoices/{voided}/void", 405, S.NOT_ALLOWED,
         expect={"code": "not_voidable"}),
    case("draft", "POST", "invoices/{draft}/void", 405, S.NOT_ALLOWED,
         expect={"code": "not_voidable"}),
    case("unknown", "POST", "invoices/{missing}/void", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("stored", "POST", "invoices/{finalized}/download", 200, S.INVOICE_BASE_ENVELOPE,
         prepare=_store_pdf, expect={"invoice.file_url": PRESENT}),
    # InvoicesController#download_pdf: ``head(:ok)`` while the PDF is generated.
    case("not stored yet", "POST", "invoices/{finalized}/download", 200, None),
    case("draft", "POST", "invoices/{draft}/download", 404, S.NOT_FOUND,
         expect={"code": "invoice_not_found"}),
    case("unknown", "POST", "invoices/{missing}/download", 404, S.NOT_FOUND),
    # ---------------------------------------------------- webhook endpoints
    case("create", "POST", "webhook_endpoints", 200, S.WEBHOOK_ENDPOINT_ENVELOPE,
         body={"webhook_endpoint": {"webhook_url": "https://hooks.example/new",
                                    "signature_algo": "hmac", "name": "Audit",
                                    "event_types": ["invoice.created"]}},
         expect={"webhook_endpoint.signature_algo": "hmac",
                 "webhook_endpoint.event_types": ["invoice.created"]}),
    # WebhookEndpoints::CreateService: jwt unless asked otherwise.
    case("create, default algorithm", "POST", "webhook_endpoints", 200,
         S.WEBHOOK_ENDPOINT_ENVELOPE,
         body={"webhook_endpoint": {"webhook_url": "https://hooks.example/default"}},
         expect={"webhook_endpoint.signature_algo": "jwt", "webhook_endpoint.event_types": None}),
    case("create standard", "POST", "webhook_endpoints", 200, S.WEBHOOK_ENDPOINT_ENVELOPE,
         body={"webhook_endpoint": {"webhook_url": "https://hooks.example/s2",
                                    "signature_algo": "standard"}},
         expect={"webhook_endpoint.secret": PRESENT}),
    case("no root key", "POST", "webhook_endpoints", 400, S.BAD_REQUEST,
         body={"webhook_url": "https://hooks.example/x"}),
    case("not http", "POST", "webhook_endpoints", 422, S.UNPROCESSABLE,
         body={"webhook_endpoint": {"webhook_url": "ftp://hooks.example/x"}},
         expect={"error_details.webhook_url": ["url_is_invalid"]}),
    case("url taken", "POST", "webhook_endpoints", 422, S.UNPROCESSABLE,
         body={"webhook_endpoint": {"webhook_url": "https://hooks.example/lago"}},
         expect={"error_details.webhook_url": ["value_already_exist"]}),
    case("unknown event type", "POST", "webhook_endpoints", 422, S.UNPROCESSABLE,
         body={"webhook_endpoint": {"webhook_url": "https://hooks.example/x",
                                    "event_types": ["invoice.exploded"]}},
         expect={"error_details.event_types": PRESENT}),
    case("list", "GET", "webhook_endpoints", 200, S.WEBHOOK_ENDPOINTS_PAGE,
         expect={"meta.total_count": 2}),
    case("show", "GET", "webhook_endpoints/{jwt_endpoint}", 200, S.WEBHOOK_ENDPOINT_ENVELOPE,
         expect={"webhook_endpoint.name": "Main", "webhook_endpoint.signature_algo": "jwt"}),
    case("unknown", "GET", "webhook_endpoints/{missing}", 404, S.NOT_FOUND,
         expect={"code": "webhook_endpoint_not_found"}),
    case("update", "PUT", "webhook_endpoints/{jwt_endpoint}", 200, S.WEBHOOK_ENDPOINT_ENVELOPE,
         body={"webhook_endpoint": {"name": "Renamed", "signature_algo": "hmac"}},
         expect={"webhook_endpoint.name": "Renamed"}),
    case("unknown", "PUT", "webhook_endpoints/{missing}", 404, S.NOT_FOUND,
         body={"webhook_endpoint": {"name": "x"}}, expect={"code": "webhook_endpoint_not_found"}),
    case("no root key", "PUT", "webhook_endpoints/{jwt_endpoint}", 400, S.BAD_REQUEST,
         body={"name": "x"}),
    case("not http", "PUT", "webhook_endpoints/{jwt_endpoint}", 422, S.UNPROCESSABLE,
         body={"webhook_endpoint": {"webhook_url": "not a url"}},
         expect={"error_details.webhook_url": ["url_is_invalid"]}),
    case("unknown, no root key", "PUT", "webhook_endpoints/{missing}", 400, S.BAD_REQUEST,
         body={"name": "x"}),
    case("delete", "DELETE", "webhook_endpoints/{jwt_endpoint}", 200, S.WEBHOOK_ENDPOINT_ENVELOPE,
         expect={"webhook_endpoint.webhook_url": "https://hooks.example/lago"}),
    case("unknown", "DELETE", "webhook_endpoints/{missing}", 404, S.NOT_FOUND,
         expect={"code": "webhook_endpoint_not_found"}),
    case("standard", "POST", "webhook_endpoints/{standard_endpoint}/rotate_secret", 200,
         S.WEBHOOK_ENDPOINT_ENVELOPE, expect={"webhook_endpoint.secret": PRESENT}),
    case("jwt", "POST", "webhook_endpoints/{jwt_endpoint}/rotate_secret", 405, S.NOT_ALLOWED,
         expect={"code": "not_standard_endpoint"}),
    case("unknown", "POST", "webhook_endpoints/{missing}/rotate_secret", 404, S.NOT_FOUND),
    case("", "GET", "webhooks/json_public_key", 200, S.WEBHOOK_PUBLIC_KEY_ENVELOPE),
    case("", "GET", "webhooks/hmac_key", 200, S.WEBHOOK_HMAC_KEY_ENVELOPE),
    case("rotate", "POST", "webhooks/hmac_key", 200, S.WEBHOOK_HMAC_KEY_ENVELOPE),
    # ---------------------------------------------------------- any route
    case("unknown route", "GET", "nothing/here", 404, S.NOT_FOUND,
         expect={"code": "resource_not_found"}),
    # Lago routes only what exists (config/routes.rb `match "*unmatched"`).
    case("no such method", "DELETE", "invoices", 404, S.NOT_FOUND,
         expect={"code": "resource_not_found"}),
    case("no such method", "PATCH", "customers/acme", 404, S.NOT_FOUND,
         expect={"code": "resource_not_found"}),
    case("update", "PATCH", "invoices/{finalized}", 200, S.INVOICE_ENVELOPE,
         body={"invoice": {"payment_status": "succeeded"}}),
    case("update", "PATCH", "taxes/vat", 200, S.TAX_ENVELOPE, body={"tax": {"name": "TVA"}}),
    case("update", "PATCH", "add_ons/setup", 200, S.ADD_ON_ENVELOPE,
         body={"add_on": {"name": "Set-up"}}),
    case("update", "PATCH", "webhook_endpoints/{jwt_endpoint}", 200,
         S.WEBHOOK_ENDPOINT_ENVELOPE, body={"webhook_endpoint": {"name": "x"}}),
    # Lago's invoice routes this service does not serve.
    case("lose dispute", "POST", "invoices/{finalized}/lose_dispute", 200, S.INVOICE_ENVELOPE,
         expect={"invoice.payment_dispute_lost_at": PRESENT},
         xfail="lago-api serves POST /invoices/:id/lose_dispute (InvoicesController#lose_dispute, "
               "Invoices::LoseDisputeService): the invoice with payment_dispute_lost_at set. The "
               "service has no such route: 404 resource_not_found."),
    case("download_pdf", "POST", "invoices/{finalized}/download_pdf", 200,
         S.INVOICE_BASE_ENVELOPE, prepare=_store_pdf, expect={"invoice.file_url": PRESENT}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_answer_is_lagos(api, world, case):
    if case.prepare:
        case.prepare(world)
    path = "/api/v1/" + case.path.format(**world)
    response = _send(api, case.method, path, case.body, case.query)
    assert response.status_code == case.status, response.content
    if case.schema is None:
        assert response.content == b""
        return
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert schemas.errors(body, case.schema) == []
    for dotted, expected in case.expect.items():
        value = _dig(body, dotted)
        if expected is not PRESENT:
            assert value == expected, dotted
        else:
            assert value not in (None, "", [], {}), dotted


# Every route of invoicing/api/lago/urls.py with each method it serves.
ROUTES = [
    ("GET", "customers"), ("POST", "customers"), ("GET", "customers/acme"),
    ("DELETE", "customers/acme"), ("GET", "customers/acme/invoices"),
    ("GET", "taxes"), ("POST", "taxes"), ("GET", "taxes/vat"), ("PUT", "taxes/vat"),
    ("DELETE", "taxes/vat"),
    ("GET", "add_ons"), ("POST", "add_ons"), ("GET", "add_ons/setup"), ("PUT", "add_ons/setup"),
    ("DELETE", "add_ons/setup"),
    ("GET", "invoices"), ("POST", "invoices"), ("GET", "invoices/{finalized}"),
    ("PUT", "invoices/{finalized}"), ("DELETE", "invoices/{draft}"),
    ("PUT", "invoices/{draft}/finalize"), ("POST", "invoices/{finalized}/void"),
    ("POST", "invoices/{finalized}/download"),
    ("GET", "webhook_endpoints"), ("POST", "webhook_endpoints"),
    ("GET", "webhook_endpoints/{jwt_endpoint}"), ("PUT", "webhook_endpoints/{jwt_endpoint}"),
    ("DELETE", "webhook_endpoints/{jwt_endpoint}"),
    ("POST", "webhook_endpoints/{standard_endpoint}/rotate_secret"),
    ("GET", "webhooks/json_public_key"), ("GET", "webhooks/hmac_key"),
    ("POST", "webhooks/hmac_key"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("credentials", ["none", "unknown key"])
def test_every_route_answers_lagos_401_without_a_valid_key(db, method, path, credentials):
    """``Api::BaseController#authenticate`` runs before anything else: the same
    401, without a code, whatever the route, the object (none exists here)
    or the body."""
    client = APIClient()
    if credentials == "unknown key":
        client.credentials(HTTP_AUTHORIZATION="Bearer ik_0000000000000000000000000000000000")
    ids = dict.fromkeys(("finalized", "draft", "jwt_endpoint", "standard_endpoint"), MISSING)
    full_path = "/api/v1/" + path.format(**ids)
    response = _send(client, method, full_path, {"anything": {}} if method != "GET" else None)
    assert response.status_code == 401, response.content
    assert schemas.errors(response.json(), schemas.UNAUTHORIZED) == []


def test_over_the_rate_is_the_documented_429(api, world):
    rates = {"api_key": "1/day", "organization": None}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        assert api.get("/api/v1/taxes").status_code == 200
        refused = api.get("/api/v1/taxes")
    assert refused.status_code == 429, refused.content
    assert schemas.errors(refused.json(), schemas.TOO_MANY_REQUESTS) == []


def test_malformed_json_is_rails_400(api, world):
    response = api.generic(
        "POST", "/api/v1/customers", b'{"customer": {', content_type="application/json"
    )
    assert response.status_code == 400
    assert schemas.errors(response.json(), schemas.BAD_REQUEST) == []


def test_the_deprecated_plain_public_key(api, world):
    response = api.get("/api/v1/webhooks/public_key")
    assert response.status_code == 200
    as_json = api.get("/api/v1/webhooks/json_public_key").json()["webhook"]["public_key"]
    assert response.content.decode() == as_json


# ------------------------------------------------------------ list filters


def _past(world, name: str, **fields):
    """Dates and a lost dispute no API of this service can set: written on the
    row (nothing else reads them)."""
    Invoice.objects.filter(pk=world[name]).update(**fields)


def _overdue(world):
    _past(world, "finalized", payment_due_date=timezone.now().date() - dt.timedelta(days=3))


def _dispute_lost(world):
    _past(world, "finalized", payment_dispute_lost_at=timezone.now())


def _with_metadata(world):
    invoice_update(invoice=_invoice(world, "finalized"), metadata=[{"key": "po", "value": "42"}])


def _with_purchase_order(world):
    make_invoice(world["organization"], _invoice(world, "finalized").customer,
                 [FeeInput(add_on_code="setup")], purchase_order_number="PO-9")  # fmt: skip


def filtered(label, query, expected, *, prepare=None, xfail=None, path="invoices"):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(path, query, expected, prepare, id=label, marks=marks)


# World: finalized (acme, EUR 120.00, pending), draft (acme, EUR, draft),
# voided (globex, USD 25.00), paid (globex, USD 25.00, succeeded, a
# subscription invoice). Selections as lago-api's InvoicesQuery makes them.
FILTERS = [
    filtered("statuses[]", {"statuses[]": ["draft", "voided"]}, {"draft", "voided"}),
    filtered("status", {"status": "finalized"}, {"finalized", "paid"}),
    filtered("payment_statuses[]", {"payment_statuses[]": ["succeeded"]}, {"paid"}),
    filtered("payment_status", {"payment_status": "pending"}, {"finalized", "draft", "voided"}),
    filtered("currency", {"currency": "USD"}, {"voided", "paid"}),
    filtered("invoice_type", {"invoice_type": "subscription"}, {"paid"}),
    filtered("search_term name", {"search_term": "ACME"}, {"finalized", "draft"}),
    filtered("amount_from", {"amount_from": 10_000}, {"finalized", "draft"}),
    filtered("amount_to", {"amount_to": 2_500}, {"voided", "paid"}),
    filtered("external_customer_id", {"external_customer_id": "globex"}, {"voided", "paid"}),
    filtered("customer_external_id", {"customer_external_id": "acme"}, {"finalized", "draft"}),
    filtered("payment_overdue true", {"payment_overdue": "true"}, {"finalized"},
             prepare=_overdue),
    filtered("payment_overdue false", {"payment_overdue": "false"}, {"draft", "voided", "paid"},
             prepare=_overdue),
    filtered("payment_dispute_lost true", {"payment_dispute_lost": "true"}, {"finalized"},
             prepare=_dispute_lost),
    filtered("self_billed false", {"self_billed": "false"}, {"finalized", "draft", "voided",
                                                              "paid"}),
    filtered("self_billed true", {"self_billed": "true"}, set()),
    filtered("metadata", {"metadata[po]": "42"}, {"finalized"}, prepare=_with_metadata),
    filtered("metadata absent", {"metadata[po]": ""}, {"draft", "voided", "paid"},
             prepare=_with_metadata),
    filtered("customer's, by status", {"status": "draft"}, {"draft"},
             path="customers/acme/invoices"),
    filtered("payment_dispute_lost false", {"payment_dispute_lost": "false"}, {"finalized"},
             prepare=_dispute_lost),
    filtered("purchase_order_number", {"purchase_order_number": "po-9"}, {"new"},
             prepare=_with_purchase_order),
    filtered("partially_paid", {"partially_paid": "true"}, set()),
]  # fmt: skip


@pytest.mark.parametrize(("path", "query", "expected", "prepare"), FILTERS)
def test_invoice_list_filters_select_as_lago(api, world, path, query, expected, prepare):
    if prepare:
        prepare(world)
    response = api.get(f"/api/v1/{path}", query)
    assert response.status_code == 200, response.content
    body = response.json()
    names = {world_id: name for name, world_id in world.items() if isinstance(world_id, str)}
    assert {names.get(i["lago_id"], "new") for i in body["invoices"]} == expected


# CustomersController#index: search_term over CustomersQuery::SEARCHABLE_FIELDS
# (name, firstname, lastname, legal_name, external_id, email), plus filters.
CUSTOMER_FILTERS = [
    pytest.param({"search_term": "acme.EX"}, {"acme"}, id="search_term email"),
    pytest.param({"search_term": "glob"}, {"globex"}, id="search_term external_id"),
    pytest.param({"search_term": "corp"}, {"acme"}, id="search_term name"),
    pytest.param({"search_term": "initech"}, set(), id="search_term nothing"),
    pytest.param(
        {"external_id": "globex"}, {"globex"}, id="external_id",
    ),
    pytest.param(
        {"currencies[]": ["USD"]}, {"globex"}, id="currencies[]",
    ),
    pytest.param(
        {"countries[]": ["FR"]}, {"acme"}, id="countries[]",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expected"), CUSTOMER_FILTERS)
def test_customer_list_filters_select_as_lago(api, world, query, expected):
    response = api.get("/api/v1/customers", query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert schemas.errors(body, schemas.CUSTOMERS_PAGE) == []
    assert {c["external_id"] for c in body["customers"]} == expected


# ------------------------------------------------------ lago-api's own keys


def _get(api, path: str) -> dict:
    response = api.get(path)
    assert response.status_code == 200, response.content
    return response.json()


def _shown(api, world, name="finalized") -> dict:
    return _get(api, f"/api/v1/invoices/{world[name]}")["invoice"]


def _credited(api, world) -> dict:
    _credited_invoice("coupon", code="WELCOME", name="Welcome")(world)
    return _get(api, f"/api/v1/invoices/{world['credited']}")["invoice"]


def _customer_with_metadata(api, world) -> dict:
    body = {"customer": {"external_id": "acme", "metadata": [{"key": "crm", "value": "7"}]}}
    response = api.post("/api/v1/customers", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["customer"]


def _downloaded(api, world) -> dict:
    render_now(_invoice(world, "finalized"))
    response = api.post(f"/api/v1/invoices/{world['finalized']}/download")
    assert response.status_code == 200, response.content
    return response.json()["invoice"]


def _with_invoice_metadata(api, world) -> dict:
    _with_metadata(world)
    return _shown(api, world)


def _missing_keys(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


OBJECTS = [
    pytest.param("invoice", _shown, id="invoice"),
    pytest.param("invoice list item", lambda api, w: _get(api, "/api/v1/invoices")["invoices"][0],
                 id="invoice list item"),
    pytest.param("downloaded invoice", _downloaded, id="downloaded invoice"),
    pytest.param("invoice customer", lambda api, w: _shown(api, w)["customer"],
                 id="invoice customer"),
    pytest.param("customer", lambda api, w: _get(api, "/api/v1/customers/acme")["customer"],
                 id="customer"),
    pytest.param("customer list item",
                 lambda api, w: _get(api, "/api/v1/customers")["customers"][0],
                 id="customer list item"),
    pytest.param("billing configuration",
                 lambda api, w: _get(api, "/api/v1/customers/acme")["customer"][
                     "billing_configuration"], id="billing configuration"),
    pytest.param("fee", lambda api, w: _shown(api, w)["fees"][0], id="fee"),
    pytest.param("fee item", lambda api, w: _shown(api, w)["fees"][0]["item"], id="fee item"),
    pytest.param("fee applied tax",
                 lambda api, w: _shown(api, w)["fees"][0]["applied_taxes"][0],
                 id="fee applied tax"),
    pytest.param("invoice applied tax", lambda api, w: _shown(api, w)["applied_taxes"][0],
                 id="invoice applied tax"),
    pytest.param("credit", lambda api, w: _credited(api, w)["credits"][0], id="credit"),
    pytest.param("credit item", lambda api, w: _credited(api, w)["credits"][0]["item"],
                 id="credit item"),
    pytest.param("invoice metadata", lambda api, w: _with_invoice_metadata(api, w)["metadata"][0],
                 id="invoice metadata"),
    pytest.param("customer metadata",
                 lambda api, w: _customer_with_metadata(api, w)["metadata"][0],
                 id="customer metadata"),
    pytest.param("tax", lambda api, w: _get(api, "/api/v1/taxes/vat")["tax"], id="tax"),
    pytest.param("customer tax",
                 lambda api, w: _get(api, "/api/v1/customers/acme")["customer"]["taxes"][0],
                 id="customer tax"),
    pytest.param("add-on", lambda api, w: _get(api, "/api/v1/add_ons/setup")["add_on"],
                 id="add-on"),
    pytest.param("webhook endpoint",
                 lambda api, w: _get(api, f"/api/v1/webhook_endpoints/{w['jwt_endpoint']}")[
                     "webhook_endpoint"], id="webhook endpoint"),
    pytest.param("pagination meta", lambda api, w: _get(api, "/api/v1/taxes")["meta"],
                 id="pagination meta"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "read"), OBJECTS)
def test_every_key_lago_api_writes_is_there(api, world, kind, read):
    """The keys lago-api's serializer writes whatever the object holds
    (``lago_schema.LAGO_API_KEYS``), beyond those the OpenAPI document
    requires."""
    obj = read(api, world)
    missing = [key for key in schemas.LAGO_API_KEYS[kind] if key not in obj]
    assert missing == []


# ------------------------------------------------------------- values


def _created(api, resource: str, body: dict) -> dict:
    response = api.post(f"/api/v1/{resource}", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _unset_tax_description(api, world):
    return _created(api, "taxes", {"tax": {"code": "gst", "name": "GST", "rate": 10}})["tax"][
        "description"
    ]


def _unset_add_on_description(api, world):
    body = {"add_on": {"code": "x", "name": "X", "amount_cents": 1, "amount_currency": "EUR"}}
    return _created(api, "add_ons", body)["add_on"]["description"]


def _unset_add_on_display_name(api, world):
    body = {"add_on": {"code": "x", "name": "X", "amount_cents": 1, "amount_currency": "EUR"}}
    return _created(api, "add_ons", body)["add_on"]["invoice_display_name"]


def _unset_fee_description(api, world):
    return _shown(api, world)["fees"][0]["description"]


def _unset_applied_tax_description(api, world):
    return _shown(api, world)["applied_taxes"][0]["tax_description"]


def _unset_purchase_order_number(api, world):
    return _shown(api, world)["purchase_order_number"]


def _unset_customer_phone(api, world):
    return _get(api, "/api/v1/customers/acme")["customer"]["phone"]


def _unset_prepaid_granted(api, world):
    return _shown(api, world)["prepaid_granted_credit_amount_cents"]


def _unset_prepaid_purchased(api, world):
    return _shown(api, world)["prepaid_purchased_credit_amount_cents"]


def _null_unlike_the_service(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


UNSET_VALUES = [
    pytest.param(_unset_purchase_order_number, id="invoice purchase_order_number"),
    pytest.param(_unset_customer_phone, id="customer phone"),
    pytest.param(_unset_tax_description, id="tax description"),
    pytest.param(_unset_add_on_description, id="add-on description"),
    pytest.param(_unset_add_on_display_name, id="add-on invoice_display_name"),
    pytest.param(_unset_fee_description, id="fee description"),
    pytest.param(_unset_prepaid_granted, id="invoice prepaid_granted_credit_amount_cents"),
    pytest.param(_unset_prepaid_purchased, id="invoice prepaid_purchased_credit_amount_cents"),
    pytest.param(_unset_applied_tax_description, id="applied tax tax_description"),
]  # fmt: skip


@pytest.mark.parametrize("read", UNSET_VALUES)
def test_an_unset_value_is_null_as_lago_writes_it(api, world, read):
    assert read(api, world) is None


def test_a_draft_is_numbered_as_lago_numbers_it(api, world):
    draft = _shown(api, world, "draft")
    prefix = draft["customer"]["slug"].rsplit("-", 1)[0]
    assert draft["number"] == f"{prefix}-DRAFT"


def test_an_empty_event_type_list_stays_empty(api, world):
    body = {"webhook_endpoint": {"webhook_url": "https://hooks.example/none", "event_types": []}}
    created = _created(api, "webhook_endpoints", body)["webhook_endpoint"]
    assert created["event_types"] == []


# ------------------------------------------------------------- the schemas


def test_every_schema_is_a_valid_draft_2020_12_schema():
    invalid = []
    for name, schema in sorted(schemas.ALL_SCHEMAS.items()):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            invalid.append(f"{name}: {error.message}")
    assert invalid == []


def test_the_schemas_refuse_what_lago_does_not_write():
    """The checks the conformance tests rely on do refuse: an unknown key, a
    wrong type, a missing required key, a value outside an enum, a bad format."""
    meta = {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1,
            "total_count": 1}  # fmt: skip
    assert schemas.errors(meta, schemas.PAGINATION_META) == []
    assert schemas.errors({**meta, "extra": 1}, schemas.PAGINATION_META)
    assert schemas.errors({**meta, "total_count": "1"}, schemas.PAGINATION_META)
    assert schemas.errors({k: v for k, v in meta.items() if k != "total_count"},
                          schemas.PAGINATION_META)  # fmt: skip
    metadata = {
        "lago_id": MISSING,
        "key": "po",
        "value": "42",
        "created_at": "2024-01-01T00:00:00Z",
    }
    assert schemas.errors(metadata, schemas.INVOICE_METADATA) == []
    assert schemas.errors({**metadata, "lago_id": "m1"}, schemas.INVOICE_METADATA)
    assert schemas.errors({**metadata, "created_at": "2024-01-01"}, schemas.INVOICE_METADATA)
    assert schemas.errors({"status": 404, "error": "Not Found", "code": "nope"}, schemas.NOT_FOUND)
    assert schemas.errors({"lago_id": MISSING, "type": "wallet"}, schemas.CREDIT)
