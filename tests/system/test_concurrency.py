"""200 invoices finalized and downloaded by 32 concurrent clients through both
faces of the whole deployment (tests/system/stack.py), each invoice asked for
many times: one number each without gaps, one render each, one stored object
each, one ``invoice.generated`` per endpoint each, and every link handed out
serves that object."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.system.stack import WebhookReceiver

pytestmark = pytest.mark.system

INVOICES = 200
CLIENTS = 32
# Requests per invoice: finalize races, then Lago downloads and Lotus pdf_urls.
FINALIZE_CALLS = 2
DOWNLOAD_CALLS = 4
PDF_URL_CALLS = 4


def test_200_invoices_32_clients_both_faces(live_stack):
    receivers = [WebhookReceiver(), WebhookReceiver()]
    try:
        _run(live_stack, receivers)
    finally:
        for receiver in receivers:
            receiver.close()


def _run(stack, receivers):
    tenant = stack.tenant("crowd", webhook_urls=tuple(r.url for r in receivers))
    with ThreadPoolExecutor(8) as pool:
        drafts = list(
            pool.map(
                lambda _: stack.session(tenant).create_invoice(tenant.customer, draft=True),
                range(INVOICES),
            )
        )
    ids = [draft["lago_id"] for draft in drafts]

    # Every request for every invoice, shuffled: a download may arrive before
    # the finalization it needs (then it is a 404, as for any draft).
    calls = [
        (kind, invoice_id)
        for invoice_id in ids
        for kind, n in (
            ("finalize", FINALIZE_CALLS),
            ("download", DOWNLOAD_CALLS),
            ("pdf_url", PDF_URL_CALLS),
        )
        for _ in range(n)
    ]
    random.Random(8).shuffle(calls)
    local = threading.local()

    def call(item):
        kind, invoice_id = item
        if not hasattr(local, "api"):
            local.api = stack.session(tenant)
        api = local.api
        if kind == "finalize":
            response = api.request("PUT", f"/api/v1/invoices/{invoice_id}/finalize")
        elif kind == "download":
            response = api.post(f"/api/v1/invoices/{invoice_id}/download")
        else:
            hex_id = invoice_id.replace("-", "")
            response = api.get(
                f"/api/invoices/invoice_{hex_id}/pdf_url/",
                headers={"X-API-KEY": tenant.key, "Authorization": None},
            )
        return kind, invoice_id, response.status_code, response.content

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(call, calls))

    statuses = Counter((kind, status) for kind, _, status, _ in results)
    assert not [k for k in statuses if k[1] >= 500], statuses
    assert set(statuses) <= {
        ("finalize", 200), ("finalize", 404),
        ("download", 200), ("download", 404),
        ("pdf_url", 200), ("pdf_url", 404),
    }, statuses  # fmt: skip
    # One finalization won per invoice; the other got Lago's 404.
    assert statuses[("finalize", 200)] == INVOICES
    # Most downloads come after their invoice's finalization (the order is random).
    assert statuses[("download", 200)] > INVOICES and statuses[("pdf_url", 200)] > INVOICES

    counts = stack.reconcile(tenant, receivers)
    assert counts["invoices"] == INVOICES
    jobs = stack.sql(
        "SELECT version, attempts, count(*) FROM invoicing_pdfjob"
        " WHERE organization_id = %s GROUP BY 1, 2",
        tenant.organization_id,
    )
    assert jobs == [(1, 1, INVOICES)], "not exactly one render of each invoice"
    numbers = sorted(
        int(number.rsplit("-", 1)[1])
        for (number,) in stack.sql(
            "SELECT number FROM invoicing_invoice WHERE organization_id = %s",
            tenant.organization_id,
        )
    )
    assert numbers == list(range(1, INVOICES + 1)), "numbers with gaps or repeats"
    for receiver in receivers:
        generated = Counter(
            r.object_id for r in receiver.received if r.webhook_type == "invoice.generated"
        )
        assert generated == Counter(ids), "not one invoice.generated per invoice and endpoint"

    # Every face now hands out a link to the one stored object.
    files = stack.stored_files(tenant.organization_id)
    api = stack.session(tenant)
    for invoice_id in random.Random(1).sample(ids, 10):
        lago = api.post(f"/api/v1/invoices/{invoice_id}/download").json()["invoice"]["file_url"]
        lotus = api.get(
            f"/api/invoices/invoice_{invoice_id.replace('-', '')}/pdf_url/",
            headers={"X-API-KEY": tenant.key, "Authorization": None},
        ).json()["url"]
        stored = files[invoice_id][0].read_bytes()
        for url in (lago, lotus):
            assert requests.get(url, timeout=30).content == stored
