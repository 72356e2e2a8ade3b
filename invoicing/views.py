"""Non-API views: the landing page, following a signed PDF download link."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from invoicing.services.files import (
    DownloadLinkExpired,
    DownloadLinkInvalid,
    pdf_download_resolve,
)


@require_safe
def landing(request):
    """What runs where, for whoever opens the service's address."""
    return render(request, "landing.html", {"base": request.build_absolute_uri("/").rstrip("/")})


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"status": status, "error": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def pdf_download(request, token: str):
    try:
        resolved = pdf_download_resolve(token)
    except DownloadLinkExpired as exc:
        return _error(410, str(exc))
    except DownloadLinkInvalid as exc:
        return _error(404, str(exc))
    disposition = f'attachment; filename="{resolved.filename}"'
    if settings.AWS_STORAGE_BUCKET_NAME:
        # Object store: hand the client a short-lived presigned URL rather
        # than streaming the bytes through a web worker.
        url = default_storage.url(
            resolved.storage_key,
            parameters={"ResponseContentDisposition": disposition},
        )
        response = HttpResponseRedirect(url)
    else:
        response = FileResponse(
            default_storage.open(resolved.storage_key, "rb"),
            content_type=resolved.content_type,
            as_attachment=True,
            filename=resolved.filename,
        )
        response["Content-Length"] = str(resolved.size_bytes)
    # The link is a bearer capability: shared caches must not keep it.
    response["Cache-Control"] = "private, no-transform"
    response["ETag"] = f'"{resolved.checksum}"'
    return response
