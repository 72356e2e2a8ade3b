"""The reads of the API's hot paths are SQL written from the models' metadata
(``invoicing/selectors.py``, "hot paths"): they find exactly what the ORM's
queries find, load rows into instances the ORM would make, and the answers
built from them are the ones built from fully loaded rows (Lotus's in
lotus/test_pdf_url.py)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoicing import selectors
from invoicing.api.auth import ApiClient
from invoicing.api.lago.views import INVOICE_BASE_COLUMNS
from invoicing.api.lotus.views import PDF_URL_COLUMNS
from invoicing.models import ApiKey, Customer, Fee, Invoice, Organization, PdfJob
from invoicing.models.organizations import API_KEY_PREFIX_LENGTH
from invoicing.representations import lago
from invoicing.services.files import pdf_download_url
from invoicing.services.invoices import invoice_void
from invoicing.services.pdf import invoice_pdf_regenerate
from tests.factories import (
    make_add_on,
    make_customer,
    make_invoice,
    make_organization,
    make_tax,
)
from tests.invoicing.api.lotus.conftest import make_rich_invoice, render_now

pytestmark = pytest.mark.django_db

FINALIZED = (Invoice.Status.FINALIZED,)
VISIBLE = (Invoice.Status.FINALIZED, Invoice.Status.VOIDED)


def _fields(obj, names=None) -> dict:
    names = names or [f.attname for f in type(obj)._meta.concrete_fields]
    return {name: getattr(obj, name) for name in names}


def _stored(organization, invoice, **kwargs):
    return selectors.invoice_stored_pdf_get(
        organization_id=organization.pk, invoice_id=str(invoice.pk), **kwargs
    )


@pytest.fixture
def rich(organization):
    invoice = make_rich_invoice(
        organization, metadata=[{"key": "po", "value": "42", "display_in_invoice": True}]
    )
    render_now(invoice)
    return Invoice.objects.get(pk=invoice.pk)


def test_the_api_key_is_read_with_what_authenticating_needs(org_and_key):
    organization, raw = org_and_key
    key = selectors.api_key_get_by_prefix(prefix=raw[:API_KEY_PREFIX_LENGTH])
    stored = ApiKey.objects.get(prefix=raw[:API_KEY_PREFIX_LENGTH])
    names = ["id", "organization_id", "key_hash", "expires_at", "revoked_at"]
    assert _fields(key, names) == _fields(stored, names)
    assert key.is_usable() and not key._state.adding
    assert selectors.api_key_get_by_prefix(prefix="ik_unknown00") is None


def test_the_organization_is_read_when_first_used_and_then_kept(org_and_key):
    organization, raw = org_and_key
    client = ApiClient(organization_id=organization.pk, api_key_id=None)
    with CaptureQueriesContext(connection) as queries:
        loaded = client.organization
        assert client.organization is loaded
    assert len(queries) == 1
    assert _fields(loaded) == _fields(Organization.objects.get(pk=organization.pk))
    with pytest.raises(Organization.DoesNotExist):
        selectors.organization_get(organization_id=uuid.uuid4())


def test_a_stored_pdf_comes_with_its_invoice_as_the_orm_loads_them(organization, rich):
    job = _stored(organization, rich, statuses=FINALIZED)
    current = PdfJob.objects.get(invoice=rich, is_current=True)
    assert job.pk == current.pk and job.checksum == current.checksum
    assert job.state == PdfJob.State.READY and job.is_current
    with CaptureQueriesContext(connection) as queries:
        assert job.invoice.pk == rich.pk
        assert _fields(job.invoice) == _fields(rich)
    assert len(queries) == 0
    assert job.invoice.metadata[0]["key"] == "po"  # jsonb decoded as the ORM does


def test_with_customer_and_lines_everything_is_one_round_trip(organization, rich):
    with CaptureQueriesContext(connection) as queries:
        job = _stored(organization, rich, statuses=VISIBLE, with_customer=True,
                      fees_to_attr="lines")  # fmt: skip
        invoice = job.invoice
        assert _fields(invoice.customer) == _fields(Customer.objects.get(pk=rich.customer_id))
        assert invoice.organization.pk == organization.pk
        assert invoice.customer.organization is invoice.organization
        fees = list(Fee.objects.filter(invoice=rich).order_by("position"))
        assert [_fields(f) for f in invoice.lines] == [_fields(f) for f in fees]
        assert all(fee.invoice is invoice for fee in invoice.lines)
        assert invoice.lines[0].subscription_filters == [{"property_name": "region", "value": "eu"}]
    # The lookup with the lines, then the test's own two reads.
    assert len(queries) == 3


def test_without_one_round_trip_the_lines_are_read_after_and_only_if_found(
    organization, rich, monkeypatch
):
    # Statements bound on the server one at a time (DB_PREPARED_STATEMENTS=0 on
    # a driver that cannot send several in one query).
    monkeypatch.setattr(selectors, "_preparing", lambda **_: None)
    monkeypatch.setattr(selectors, "_in_one_round_trip", lambda cursor: False)
    with CaptureQueriesContext(connection) as queries:
        job = _stored(organization, rich, statuses=VISIBLE, fees_to_attr="lines")
    assert len(queries) == 2 and len(job.invoice.lines) == 2
    other, _ = make_organization()
    with CaptureQueriesContext(connection) as queries:
        assert _stored(other, rich, statuses=VISIBLE, fees_to_attr="lines") is None
    assert len(queries) == 1


def test_only_what_is_found_by_the_orm_is_found(organization, rich):
    other, _ = make_organization()
    assert _stored(other, rich, statuses=VISIBLE, with_customer=True) is None
    assert _stored(organization, rich, statuses=(Invoice.Status.VOIDED,)) is None
    assert selectors.invoice_stored_pdf_get(
        organization_id=organization.pk, invoice_id="not-an-id", statuses=VISIBLE
    ) is None  # fmt: skip
    draft = make_invoice(organization, status=Invoice.Status.DRAFT)
    assert _stored(organization, draft, statuses=VISIBLE + (Invoice.Status.DRAFT,)) is None
    pending = make_invoice(organization)
    assert _stored(organization, pending, statuses=VISIBLE) is None  # not rendered yet

    retired = PdfJob.objects.get(invoice=rich, is_current=True)
    invoice_pdf_regenerate(invoice=rich)
    assert _stored(organization, rich, statuses=FINALIZED) is None  # the new one is pending
    new = render_now(rich)
    job = _stored(organization, rich, statuses=FINALIZED)
    assert job.pk == new.pk != retired.pk


def test_a_voided_invoice_is_found_with_its_voided_pdf(organization, rich):
    invoice_void(invoice=rich)
    render_now(rich)
    job = _stored(organization, rich, statuses=VISIBLE)
    assert job.invoice.status == Invoice.Status.VOIDED
    assert job.pk == PdfJob.objects.get(invoice=rich, is_current=True).pk


def test_columns_left_out_are_deferred_and_names_are_checked(organization, rich):
    only = ((Invoice, ("number",)),)
    job = _stored(organization, rich, statuses=FINALIZED, only=only)
    assert job.invoice.number == rich.number
    assert job.invoice.get_deferred_fields() >= {"metadata", "currency"}
    with CaptureQueriesContext(connection) as queries:
        assert job.invoice.currency == rich.currency  # loaded on access, as with only()
    assert len(queries) == 1
    with pytest.raises(ValueError, match="no column nubmer"):
        _stored(organization, rich, statuses=FINALIZED, only=((Invoice, ("nubmer",)),))


def test_lago_download_body_is_the_one_rendered_from_fully_loaded_rows(api, organization, rich):
    job = PdfJob.objects.get(invoice=rich, is_current=True)
    body = api.post(f"/api/v1/invoices/{rich.id}/download").json()["invoice"]
    full = Invoice.objects.get(pk=rich.pk)
    expected = lago.INVOICE_BASE.render(full, {"pdf_urls": {full.pk: pdf_download_url(job)}})
    assert list(body) == list(expected)
    assert {k: v for k, v in body.items() if k != "file_url"} == {
        k: v for k, v in expected.items() if k != "file_url"
    }


# ------------------------------------------------ create and finalize
#
# The write paths answer from the rows they wrote (``invoice_create`` and
# ``invoice_finalize_draft``): the body must be the one a read renders.


def _rich_create_body(organization) -> dict:
    """A create's body with taxes from every level, codes whose order depends
    on the collation, units the columns round and metadata."""
    vat = make_tax(organization, code="vat_b", rate="20")
    tiny = make_tax(organization, code="Vat_a", rate="0.0005")
    own = make_tax(organization, code="cus", rate="5.5")
    customer = make_customer(organization, currency="EUR", tax_codes=[own.code],
                             timezone="Pacific/Kiritimati")  # fmt: skip
    plan = make_add_on(organization, amount_cents=10_000, taxes=[vat, tiny])
    setup = make_add_on(organization, amount_cents=2_550, invoice_display_name="Set-up")
    return {
        "invoice": {
            "external_customer_id": customer.external_id,
            "purchase_order_number": "PO-7",
            "metadata": [{"key": "po", "value": "42"}],
            "fees": [
                {"add_on_code": plan.code, "units": "3.3333333333", "unit_amount_cents": 1001,
                 "from_datetime": "2024-01-01T00:30:12Z", "to_datetime": "2024-01-31"},
                {"add_on_code": setup.code, "description": "Setup"},
                {"add_on_code": setup.code, "tax_codes": [vat.code, vat.code]},
                {"add_on_code": plan.code, "units": "0.0000000001", "unit_amount_cents": 1,
                 "tax_codes": [tiny.code]},
            ],
        }
    }  # fmt: skip


def _shown(api, invoice_id) -> dict:
    response = api.get(f"/api/v1/invoices/{invoice_id}")
    assert response.status_code == 200, response.content
    return response.json()["invoice"]


def test_a_create_answers_the_body_a_read_renders(api, organization):
    response = api.post("/api/v1/invoices", _rich_create_body(organization), format="json")
    assert response.status_code == 200, response.content
    body = response.json()["invoice"]
    assert body["status"] == "finalized" and len(body["fees"]) == 4
    assert [t["tax_code"] for t in body["applied_taxes"]] == ["Vat_a", "cus", "vat_b"]
    assert body == _shown(api, body["lago_id"])


def test_a_finalize_answers_the_body_a_read_renders(api, organization):
    payload = _rich_create_body(organization)
    payload["invoice"]["status"] = "draft"
    draft = api.post("/api/v1/invoices", payload, format="json").json()["invoice"]
    assert draft == _shown(api, draft["lago_id"])
    response = api.put(f"/api/v1/invoices/{draft['lago_id']}/finalize")
    assert response.status_code == 200, response.content
    body = response.json()["invoice"]
    assert body["status"] == "finalized" and body["number"] != draft["number"]
    assert body == _shown(api, draft["lago_id"])
    # Finalized already: not a draft any more.
    assert api.put(f"/api/v1/invoices/{draft['lago_id']}/finalize").status_code == 404


def _queries(call) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content
    return [q["sql"] for q in queries]


def test_create_and_finalize_cost_the_same_round_trips_however_many_fees(api, organization):
    customer = make_customer(organization, currency="EUR")
    add_on = make_add_on(organization, taxes=[make_tax(organization)])

    def create(fees: int, status: str = "finalized"):
        body = {"invoice": {"external_customer_id": customer.external_id, "status": status,
                            "fees": [{"add_on_code": add_on.code}] * fees}}  # fmt: skip
        return lambda: api.post("/api/v1/invoices", body, format="json")

    # The organization's first number of the day reads the day's last number
    # from the invoices; the next ones take it from the organization's row.
    first, one, many = _queries(create(1)), _queries(create(1)), _queries(create(25))
    assert len(first) == len(one) + 1
    assert len(one) == len(many)
    # Nothing written is read back: no fee, tax or PDF job is read.
    for sql in one + many:
        for table in ("invoicing_fee", "invoicing_feeappliedtax", "invoicing_pdfjob"):
            assert f'FROM "{table}"' not in sql, sql
    drafts = [
        api.post("/api/v1/invoices", {"invoice": {
            "external_customer_id": customer.external_id, "status": "draft",
            "fees": [{"add_on_code": add_on.code}] * fees}}, format="json").json()["invoice"]
        for fees in (1, 25)
    ]  # fmt: skip
    finalized = [
        _queries(lambda d=d: api.put(f"/api/v1/invoices/{d['lago_id']}/finalize")) for d in drafts
    ]
    assert len(finalized[0]) == len(finalized[1])


def test_the_lookups_run_prepared_by_default(organization, rich):
    # The settings' default (DB_PREPARED_STATEMENTS): PostgreSQL keeps the plan
    # of the download's lookup for the connection, not parsing it every time.
    for _ in range(2):
        assert _stored(organization, rich, statuses=VISIBLE, with_customer=True) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("invoicing_pdfjob" in statement for statement in prepared), prepared


def _loaded(job) -> dict:
    """What a stored PDF lookup gives, column by column and relation by relation."""
    if job is None:
        return {}
    invoice = job.invoice
    loaded = {"job": _fields(job), "invoice": _fields(invoice)}
    if Invoice.customer.is_cached(invoice):
        loaded["customer"] = _fields(invoice.customer)
        loaded["organization"] = _fields(invoice.organization)
        assert invoice.customer.organization is invoice.organization
    if hasattr(invoice, "lines"):
        loaded["lines"] = [_fields(fee) for fee in invoice.lines]
        assert all(fee.invoice is invoice for fee in invoice.lines)
    return loaded


@pytest.mark.parametrize(
    "shape",
    [
        # Lotus pdf_url's read, Lago download's, and the bare one.
        {"with_customer": True, "fees_to_attr": "lines", "only": PDF_URL_COLUMNS},
        {"with_customer": True, "only": INVOICE_BASE_COLUMNS},
        {},
    ],
    ids=["pdf_url", "download", "bare"],
)
def test_the_key_and_its_stored_pdf_in_one_statement_are_the_lookups_own(org_and_key, rich, shape):
    # invoice_stored_pdf_get is checked against the ORM above; the one-statement
    # read with the key must give exactly what it gives, and the key.
    organization, raw = org_and_key
    prefix = raw[:API_KEY_PREFIX_LENGTH]
    with CaptureQueriesContext(connection) as queries:
        key, job = selectors.api_key_and_stored_pdf(
            prefix=prefix, invoice_id=str(rich.pk), statuses=VISIBLE, **shape
        )
    assert len(queries) == 1
    assert key.pk == ApiKey.objects.get(prefix=prefix).pk
    expected = selectors.invoice_stored_pdf_get(
        organization_id=organization.pk, invoice_id=str(rich.pk), statuses=VISIBLE, **shape
    )
    assert _loaded(job) == _loaded(expected)
    assert job is not None and (shape.get("fees_to_attr") is None or len(job.invoice.lines) == 2)


def test_the_key_is_found_whatever_the_invoice(org_and_key, rich):
    organization, raw = org_and_key
    prefix = raw[:API_KEY_PREFIX_LENGTH]
    other, _ = make_organization()
    theirs = make_invoice(other, make_customer(other))
    render_now(theirs)
    unrendered = make_invoice(organization, make_customer(organization))
    PdfJob.objects.filter(invoice=unrendered).delete()
    shape = {"with_customer": True, "fees_to_attr": "lines", "only": PDF_URL_COLUMNS}
    for invoice_id, statuses in (
        (str(theirs.pk), VISIBLE),  # another organization's
        (str(unrendered.pk), VISIBLE),  # no stored PDF
        (str(rich.pk), (Invoice.Status.VOIDED,)),  # not in the statuses asked for
        (str(uuid.uuid4()), VISIBLE),  # no such invoice
    ):
        key, job = selectors.api_key_and_stored_pdf(
            prefix=prefix, invoice_id=invoice_id, statuses=statuses, **shape
        )
        assert (key.organization_id, job) == (organization.pk, None), invoice_id
    assert selectors.api_key_and_stored_pdf(
        prefix="ik_unknown00", invoice_id=str(rich.pk), statuses=VISIBLE, **shape
    ) == (None, None)
