"""Signed, expiring download URLs for stored PDFs (and the e-invoice XML
stored beside a PDF).

A URL carries a token signed with SECRET_KEY that names one PDF version (job
id and checksum); no API key is needed to follow it, which is what Lago's
clients expect of ``file_url``. Tampering breaks the signature, and a
regenerated invoice's old URLs stop working because they name a retired job.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from invoicing import selectors
from invoicing.models import PdfJob

_SALT = "invoicing.pdf-download"


class DownloadLinkInvalid(Exception):
    """Tampered, unknown, or no longer current."""


class DownloadLinkExpired(DownloadLinkInvalid):
    pass


def pdf_download_token(job: PdfJob) -> str:
    return signing.dumps({"j": job.pk.hex, "c": job.checksum[:16]}, salt=_SALT, compress=False)


def pdf_download_url(job: PdfJob) -> str:
    return f"{settings.PUBLIC_BASE_URL}/files/invoices/{pdf_download_token(job)}"


def xml_download_url(job: PdfJob) -> str:
    """The UBL XML stored beside the PDF of this version (``xml_url``): the
    same kind of link, naming the XML's checksum and its kind."""
    token = signing.dumps(
        {"j": job.pk.hex, "c": job.xml_checksum[:16], "k": "xml"}, salt=_SALT, compress=False
    )
    return f"{settings.PUBLIC_BASE_URL}/files/invoices/{token}"


def download_urls(invoices) -> tuple[dict, dict]:
    """``(pdf URLs, XML URLs)`` by invoice id for those of ``invoices`` whose
    files are stored, in one query: ``file_url`` and ``xml_url``."""
    if not invoices:
        return {}, {}
    jobs = selectors.invoice_stored_pdf_jobs(invoice_ids=[i.pk for i in invoices])
    return (
        {invoice_id: pdf_download_url(job) for invoice_id, job in jobs.items()},
        {invoice_id: xml_download_url(job) for invoice_id, job in jobs.items() if job.xml_checksum},
    )


def pdf_download_urls(invoices) -> dict:
    """The download URL of each of ``invoices`` whose PDF is stored, by
    invoice id, in one query: what ``file_url`` and ``invoice_pdf`` show."""
    if not invoices:
        return {}
    jobs = selectors.invoice_stored_pdf_jobs(invoice_ids=[i.pk for i in invoices])
    return {invoice_id: pdf_download_url(job) for invoice_id, job in jobs.items()}


@dataclass(frozen=True)
class ResolvedDownload:
    job: PdfJob
    filename: str
    kind: str = "pdf"  # or "xml"

    @property
    def storage_key(self) -> str:
        return self.job.xml_storage_key if self.kind == "xml" else self.job.storage_key

    @property
    def checksum(self) -> str:
        return self.job.xml_checksum if self.kind == "xml" else self.job.checksum

    @property
    def size_bytes(self) -> int | None:
        return self.job.xml_size_bytes if self.kind == "xml" else self.job.size_bytes

    @property
    def content_type(self) -> str:
        return "application/xml" if self.kind == "xml" else "application/pdf"


def pdf_download_resolve(token: str) -> ResolvedDownload:
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.PDF_URL_TTL_SECONDS)
    except signing.SignatureExpired as exc:
        raise DownloadLinkExpired("this download link has expired") from exc
    except signing.BadSignature as exc:
        raise DownloadLinkInvalid("invalid download link") from exc
    if not isinstance(data, dict) or not isinstance(data.get("j"), str):
        raise DownloadLinkInvalid("invalid download link")
    job = (
        PdfJob.objects.select_related("invoice", "credit_note")
        .filter(pk=data["j"], is_current=True, state=PdfJob.State.READY)
        .first()
    )
    kind = "xml" if data.get("k") == "xml" else "pdf"
    if job is None:
        raise DownloadLinkInvalid(f"this {kind.upper()} version is no longer available")
    checksum = job.xml_checksum if kind == "xml" else job.checksum
    if not checksum or checksum[:16] != data.get("c"):
        raise DownloadLinkInvalid(f"this {kind.upper()} version is no longer available")
    if job.credit_note_id:
        return ResolvedDownload(job=job, filename=f"{job.credit_note.number}.{kind}", kind=kind)
    name = job.invoice.number or job.invoice_id
    return ResolvedDownload(job=job, filename=f"{name}.{kind}", kind=kind)
