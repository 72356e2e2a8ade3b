"""First-page PNG previews of stored PDFs, for the admin.

Rendered on demand with poppler's ``pdftoppm`` and cached by the PDF's
checksum: a version's bytes never change, so neither does its preview, and a
regenerated invoice gets a new checksum and so a new preview.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from invoicing.models import PdfJob

# Width in pixels: readable on the change page, ~60-120 KB per preview.
PREVIEW_WIDTH = 720
# pdftoppm on one page takes ~0.1 s; this only stops a pathological file.
RENDER_TIMEOUT_S = 20


class PreviewUnavailable(Exception):
    pass


def preview_png(job: PdfJob) -> bytes:
    if job.state != PdfJob.State.READY or not job.checksum:
        raise PreviewUnavailable("this PDF version is not ready")
    folder = Path(settings.ADMIN_PREVIEW_DIR)
    cached = folder / f"{job.checksum}.png"
    if cached.exists():
        return cached.read_bytes()
    if shutil.which("pdftoppm") is None:
        raise PreviewUnavailable("pdftoppm (poppler-utils) is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="preview-") as tmp:
        source = Path(tmp) / "invoice.pdf"
        try:
            with default_storage.open(job.storage_key, "rb") as stored:
                source.write_bytes(stored.read())
        except OSError as exc:
            raise PreviewUnavailable(f"the stored PDF cannot be read: {exc}") from exc
        out_root = Path(tmp) / "page"
        completed = subprocess.run(
            ["pdftoppm", "-png", "-f", "1", "-l", "1", "-singlefile",
             "-scale-to-x", str(PREVIEW_WIDTH), "-scale-to-y", "-1", str(source), str(out_root)],
            capture_output=True, timeout=RENDER_TIMEOUT_S, check=False,
        )  # fmt: skip
        rendered = out_root.with_suffix(".png")
        if completed.returncode != 0 or not rendered.exists():
            raise PreviewUnavailable(completed.stderr.decode(errors="replace")[:300])
        png = rendered.read_bytes()
        # Write then rename: a concurrent request never reads half a file.
        partial = folder / f".{job.checksum}.{os.getpid()}.png"
        partial.write_bytes(png)
        os.replace(partial, cached)
    return png
