"""Signed PDF links under attack: every part of the token tampered, cut,
extended, expired, spliced with another invoice's, retired by a regeneration,
and forged across organizations. Each refusal is a small JSON body that
caches must not keep, with no PDF byte in it. (tests/invoicing/services/
test_files.py has the happy paths and the S3 redirect.)"""

from __future__ import annotations

import time

import pytest
from django.core import signing
from rest_framework.test import APIClient

from invoicing.models import PdfJob
from invoicing.services import pdf
from invoicing.services.files import pdf_download_token
from tests.system.conftest import make_tenant

pytestmark = [pytest.mark.system, pytest.mark.django_db]

SALT = "invoicing.pdf-download"


@pytest.fixture
def tenants():
    return make_tenant("A", with_pdf=True), make_tenant("B", with_pdf=True)


def _job(invoice) -> PdfJob:
    return PdfJob.objects.get(invoice=invoice, is_current=True)


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _get(token: str, method: str = "get"):
    return getattr(APIClient(), method)(f"/files/invoices/{token}")


def _assert_refused(response, status: int = 404, *, head: bool = False) -> None:
    body = _body(response)
    assert response.status_code == status, (response.status_code, body[:200])
    assert b"%PDF" not in body
    assert response["Content-Type"] == "application/json"
    if not head:  # a HEAD answer has no body to read
        assert response.json()["status"] == status
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("Content-Disposition")


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


def _variants(token: str) -> dict[str, str]:
    """The token with each of its parts (payload:timestamp:signature) and
    separators tampered, cut or extended."""
    payload, stamp, signature = token.split(":")
    out = {}
    for name, part in (("payload", payload), ("timestamp", stamp), ("signature", signature)):
        for where, index in (("first", 0), ("middle", len(part) // 2), ("last", -1)):
            chars = list(part)
            chars[index] = _flip(chars[index])
            tampered = "".join(chars)
            out[f"{name} {where} char"] = token.replace(part, tampered, 1)
        out[f"{name} dropped"] = token.replace(part, "", 1)
        out[f"{name} doubled"] = token.replace(part, part + part, 1)
        out[f"{name} case swapped"] = token.replace(part, part.swapcase(), 1)
    out["separators swapped"] = token.replace(":", ".")
    out["one separator removed"] = token.replace(":", "", 1)
    out["truncated by one"] = token[:-1]
    out["truncated by half"] = token[: len(token) // 2]
    out["payload only"] = payload
    out["extended by one"] = token + "A"
    out["padded"] = token + "=="
    out["trailing slash"] = token + "/"
    out["with a filename"] = token + "/invoice.pdf"
    return {name: value for name, value in out.items() if value != token}


def test_every_tampering_of_every_part_is_a_404_without_pdf_bytes(tenants):
    a, _ = tenants
    token = pdf_download_token(_job(a.final))
    assert _get(token).status_code == 200  # the untouched token works
    for name, variant in _variants(token).items():
        response = _get(variant)
        if name in ("trailing slash", "with a filename"):
            # Not the download route at all; still no bytes.
            assert response.status_code == 404, name
            assert b"%PDF" not in _body(response)
            continue
        try:
            _assert_refused(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        # HEAD tells nothing more than GET.
        _assert_refused(_get(variant, "head"), head=True)


def test_an_expired_link_is_410_and_leaks_nothing(tenants, settings):
    a, _ = tenants
    token = pdf_download_token(_job(a.final))
    settings.PDF_URL_TTL_SECONDS = 0
    time.sleep(1.1)
    _assert_refused(_get(token), 410)


def test_a_token_spliced_with_another_invoices_payload_is_refused(tenants):
    a, b = tenants
    x, y = pdf_download_token(_job(a.final)), pdf_download_token(_job(b.final))
    x_payload, x_stamp, x_sig = x.split(":")
    y_payload, y_stamp, y_sig = y.split(":")
    for spliced in (
        f"{y_payload}:{x_stamp}:{x_sig}",
        f"{x_payload}:{y_stamp}:{y_sig}",
        f"{x_payload}:{x_stamp}:{y_sig}",
    ):
        if spliced not in (x, y):
            _assert_refused(_get(spliced))


def test_a_regenerated_invoices_old_link_is_retired(tenants):
    a, _ = tenants
    old = pdf_download_token(_job(a.final))
    new_job = pdf.invoice_pdf_regenerate(invoice=a.final)
    # Retired at once, before the new version is even rendered.
    _assert_refused(_get(old))
    pdf.pdf_job_run(job_id=str(new_job.pk))
    _assert_refused(_get(old))
    fresh = _get(pdf_download_token(PdfJob.objects.get(pk=new_job.pk)))
    assert fresh.status_code == 200
    assert _body(fresh).startswith(b"%PDF")


def test_tokens_forged_without_the_servers_key_are_refused(tenants, settings):
    a, b = tenants
    job_b = _job(b.final)
    claims = {"j": job_b.pk.hex, "c": job_b.checksum[:16]}
    forgeries = {
        "another secret": signing.dumps(claims, key="attacker-key", salt=SALT, compress=False),
        "another salt": signing.dumps(claims, salt="invoicing.other-purpose", compress=False),
        "unsigned": signing.b64_encode(b'{"j":"%s"}' % job_b.pk.hex.encode()).decode(),
    }
    for name, token in forgeries.items():
        response = _get(token)
        try:
            _assert_refused(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_api_keys_do_not_change_a_links_answer(tenants):
    """The link is the capability: org A's key neither opens org B's tampered
    link nor is needed for its own."""
    a, b = tenants
    token_b = pdf_download_token(_job(b.final))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {a.key}")
    tampered = token_b[:-1] + _flip(token_b[-1])
    _assert_refused(client.get(f"/files/invoices/{tampered}"))
    assert _get(token_b).status_code == 200
