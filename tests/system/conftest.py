"""Two organizations for the hostile-input suite: A, whose key every request
carries, and B, whose objects A must never reach. B's identifiers are
distinctive strings, so a leak is a plain substring of a response body."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from invoicing.models import Invoice, PdfJob, WebhookEndpoint
from invoicing.services import credit_notes, pdf, webhook_endpoints
from invoicing.services.invoices import FeeInput
from tests.factories import (
    make_add_on,
    make_customer,
    make_invoice,
    make_organization,
    make_tax,
)
from tests.progress import progress


@dataclass
class Tenant:
    organization: object
    key: str
    customer: object
    tax: object
    add_on: object
    final: Invoice
    draft: Invoice
    endpoint: WebhookEndpoint
    # Strings that name this tenant's objects and nothing else.
    secrets: list[str] = field(default_factory=list)
    credit_note: object = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def path_values(self) -> dict[str, str]:
        """A value for every path parameter name the API uses."""
        return {
            "external_id": self.customer.external_id,
            "customer_id": self.customer.external_id,
            "code": self.tax.code,
            "invoice_id": str(self.final.id),
            "endpoint_id": str(self.endpoint.id),
            "credit_note_id": str(self.credit_note.id),
        }


def make_tenant(tag: str, *, with_pdf: bool = False, einvoicing: bool = False) -> Tenant:
    """``einvoicing``: the organization issues e-invoices and its finalized
    invoice has its UBL stored beside the PDF (``download_xml`` finds it)."""
    organization, key = make_organization(
        name=f"{tag}-secret-org", number_prefix=f"{tag}SECRETNO", numbering_scheme="sequence",
        **(EINVOICING_SELLER if einvoicing else {}),
    )  # fmt: skip
    customer = make_customer(
        organization,
        external_id=f"{tag.lower()}-secret-customer",
        **(EINVOICING_BUYER if einvoicing else {}),
    )
    tax = make_tax(organization, code=f"{tag.lower()}-secret-tax")
    add_on = make_add_on(organization, code=f"{tag.lower()}-secret-addon", taxes=[tax])
    # An e-invoice's lines each carry one tax: the tenant's add-on's.
    fees = [FeeInput(add_on_code=add_on.code)] if einvoicing else None
    final = make_invoice(organization, customer=customer, fees=fees)
    draft = make_invoice(organization, customer=customer, status=Invoice.Status.DRAFT)
    if with_pdf:
        pdf.pdf_job_run(job_id=str(PdfJob.objects.get(invoice=final, is_current=True).pk))
    endpoint = webhook_endpoints.webhook_endpoint_create(
        organization=organization,
        data={"webhook_url": f"https://{tag.lower()}-secret-hook.example.com/hooks"},
    )
    final.refresh_from_db()
    items = [credit_notes.ItemInput(str(final.fees.get().id), Decimal(100))]
    estimate = credit_notes.credit_note_estimate(
        organization=organization, invoice_id=str(final.id), items=items
    )
    credit_note = credit_notes.credit_note_create(
        organization=organization,
        invoice_id=str(final.id),
        items=items,
        credit_amount_cents=estimate.max_creditable_amount_cents,
    )
    if with_pdf:
        pdf.pdf_job_run(job_id=str(PdfJob.objects.get(credit_note=credit_note, is_current=True).pk))
    secrets = [
        customer.external_id,
        tax.code,
        add_on.code,
        str(final.id),
        final.id.hex,
        str(draft.id),
        draft.id.hex,
        final.number,
        str(endpoint.id),
        endpoint.webhook_url,
        organization.name,
        str(credit_note.id),
        credit_note.id.hex,
    ]
    return Tenant(organization, key, customer, tax, add_on, final, draft, endpoint, secrets,
                  credit_note)  # fmt: skip


# What EN 16931 needs of a seller and a buyer (README, "E-invoicing").
EINVOICING_SELLER = {
    "legal_name": "Secret Org SAS", "tax_identification_number": "FR12912345678",
    "country": "FR", "electronic_address": "FR12912345678", "electronic_address_scheme": "9957",
    "iban": "FR7630006000011234567890189", "einvoicing_enabled": True,
}  # fmt: skip
EINVOICING_BUYER = {
    "country": "DE", "tax_identification_number": "DE123456789", "buyer_reference": "REF-1",
    "electronic_address": "DE123456789", "electronic_address_scheme": "9930",
}  # fmt: skip


@pytest.fixture
def tenant_a(db) -> Tenant:
    return make_tenant("A")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return make_tenant("B")


def assert_no_leak(body: bytes | str, victim: Tenant) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    leaked = [secret for secret in victim.secrets if secret and secret in text]
    assert not leaked, f"org B's identifiers {leaked} in a response to org A: {text[:500]}"


@pytest.fixture(scope="session")
def stack():
    """The whole deployment (tests/system/stack.py), started once for the
    fault, concurrency and soak tests. A test that kills or stops a part of it
    brings it back, as a process manager would; ``revive`` makes sure."""
    from tests.system.stack import Stack

    deployment = Stack()
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        deployment.cleanup()


@pytest.fixture
def live_stack(stack):
    stack.revive()
    return stack


@pytest.fixture(autouse=True)
def _progress_lines(request):
    """A line when a test that drives a whole deployment starts, and one when
    any test here ends after more than a few seconds: minutes of a single dot
    say nothing about where a run is (tests/progress.py)."""
    name = request.node.nodeid.split("::", 1)[-1]
    if any(fixture.endswith("stack") for fixture in request.fixturenames):
        progress(f"{name}: started")
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    if elapsed > 5:
        progress(f"{name}: done in {elapsed:.0f} s")
