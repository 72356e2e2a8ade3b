"""Signed download URLs: tampered, expired, replayed, and the S3 path against
a real S3-speaking server (moto) on 127.0.0.1."""

import socket
import subprocess
import sys
import time

import boto3
import httpx
import pytest
from django.core import signing
from django.core.files.storage import storages
from rest_framework.test import APIClient

from invoicing.models import PdfJob
from invoicing.services import pdf
from invoicing.services.files import pdf_download_token, pdf_download_url
from tests.factories import make_invoice
from tests.pdftext import pdf_text, wait_for

pytestmark = pytest.mark.django_db


def _ready_invoice(organization):
    invoice = make_invoice(organization)
    pdf.pdf_job_run(job_id=str(invoice.pdf_jobs.get().pk))
    return invoice, PdfJob.objects.get(invoice=invoice)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_valid_link_streams_the_pdf(organization):
    invoice, job = _ready_invoice(organization)
    response = APIClient().get(_path(pdf_download_url(job)))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert invoice.number in pdf_text(body)
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response["Cache-Control"] == "private, no-transform"


@pytest.mark.parametrize("position", [0, 10, -5, -1])
def test_a_tampered_token_is_refused(organization, position):
    _, job = _ready_invoice(organization)
    token = pdf_download_token(job)
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    response = APIClient().get(f"/files/invoices/{''.join(chars)}")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"


def test_an_expired_link_is_refused(organization, settings):
    _, job = _ready_invoice(organization)
    url = pdf_download_url(job)
    settings.PDF_URL_TTL_SECONDS = 0
    time.sleep(1.1)
    response = APIClient().get(_path(url))
    assert response.status_code == 410


def test_a_token_cannot_be_replayed_for_another_invoice(organization):
    _, job = _ready_invoice(organization)
    _, other_job = _ready_invoice(organization)
    payload = signing.loads(pdf_download_token(job), salt="invoicing.pdf-download")
    # Swapping the job id inside a real token breaks its signature.
    forged = signing.dumps(
        {"j": other_job.pk.hex, "c": payload["c"]}, salt="wrong-salt", compress=False
    )
    assert APIClient().get(f"/files/invoices/{forged}").status_code == 404
    # A genuine token for job A with B's checksum prefix is refused as well.
    mixed = signing.dumps(
        {"j": job.pk.hex, "c": other_job.checksum[:16]},
        salt="invoicing.pdf-download",
        compress=False,
    )
    assert APIClient().get(f"/files/invoices/{mixed}").status_code == 404


def test_links_need_no_api_key_but_only_work_for_get(organization):
    _, job = _ready_invoice(organization)
    assert APIClient().post(_path(pdf_download_url(job))).status_code == 405


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=20)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def test_the_s3_path_stores_and_redirects_to_a_short_lived_presigned_url(
    organization, settings, s3_server
):
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", **credentials
    ).create_bucket(Bucket="invoices")
    settings.AWS_STORAGE_BUCKET_NAME = "invoices"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "invoices",
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "querystring_expire": 60,
                "file_overwrite": True,
                "signature_version": "s3v4",
            },
        },
    }
    assert type(storages["default"]).__name__ == "S3Storage"
    invoice, job = _ready_invoice(organization)
    objects = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", **credentials
    ).list_objects_v2(Bucket="invoices")["Contents"]
    assert [o["Key"] for o in objects] == [job.storage_key]

    # Rendering the same version again overwrites the same object.
    PdfJob.objects.filter(pk=job.pk).update(state="pending", attempts=0)
    pdf.pdf_job_run(job_id=str(job.pk))
    objects = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", **credentials
    ).list_objects_v2(Bucket="invoices")["Contents"]
    assert len(objects) == 1

    response = APIClient().get(_path(pdf_download_url(job)))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_server}/invoices/{job.storage_key}?")
    assert "X-Amz-Expires=60" in location
    # S3 applies this override when serving; moto ignores it, so check it is asked for.
    assert (
        f"response-content-disposition=attachment%3B%20filename%3D%22{invoice.number}.pdf%22"
        in location
    )
    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert invoice.number in pdf_text(fetched.content)
