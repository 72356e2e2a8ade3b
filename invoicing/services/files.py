"""Signed, expiring download URLs for stored PDFs.

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
    if job is None or job.checksum[:16] != data.get("c"):
        raise DownloadLinkInvalid("this PDF version is no longer available")
    if job.credit_note_id:
        return ResolvedDownload(job=job, filename=f"{job.credit_note.number}.pdf")
    return ResolvedDownload(job=job, filename=f"{job.invoice.number or job.invoice_id}.pdf")
