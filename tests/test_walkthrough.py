"""The README's walk-through, as written, against ``make run`` as a newcomer
starts it: the fenced block marked ``<!-- walkthrough`` is taken from README.md
itself and run with POSIX ``sh`` (dash on Debian) against ``make run`` on
embedded defaults (SQLite, files and broker folders in a VAR_DIR of its own,
ports of its own, the dev-run processes and the webhook receiver), through the
PDF download and the ``invoice.generated`` webhook arriving with a verified
signature. Then what make run printed is read: one line per request, no broker
warning, no signed link, the loopback warning once."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from scripts.makerun import MakeRun
from tests.pdftext import pdf_text
from tests.progress import progress

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.system


def readme_walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- walkthrough")
    match = re.compile(r"```sh\n(.*?)\n```", re.S).search(text, marker)
    assert match, "no ```sh block after the walkthrough marker"
    return match.group(1)


def test_the_block_is_posix_sh():
    # Parsed by dash without running it: no bash arrays or [[ ]].
    block = readme_walkthrough()
    result = subprocess.run(["sh", "-n", "-c", block], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "${H[@]}" not in block and "[[" not in block


def test_the_readme_walkthrough_runs_against_make_run(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    var = tmp_path / "var"
    run = MakeRun(var)
    try:
        progress("make run: starting (migrations, demo data, web, worker, receiver)")
        run.start(timeout=240)
        progress("make run: serving; running the README's walk-through")
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "KEY": run.api_key(),
            "PORT": str(run.port),
            "VAR_DIR": str(var),
        }
        result = subprocess.run(["sh", "-c", readme_walkthrough()], cwd=work, env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr + run.output()[-5000:]
    finally:
        run.stop()
    out = result.stdout

    # 2.5 x 100.00 EUR = 250.00, + 20 % = 50.00: 300.00 EUR, 30000 cents.
    found = re.search(r"invoice (\S+) \(([0-9a-f-]{36})\): total 30000 cents", out)
    assert found, out
    number, invoice_id = found.groups()
    assert "payment status: succeeded" in out
    assert re.search(r"^[1-9]\d* finalized for cus_1$", out, re.M), out
    pdf = (work / f"{number}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    # The customer's document locale is fr: French decimals.
    assert number in text and "300,00" in text, text
    assert "status: voided" in out

    # The webhook, as the receiver recorded and printed it.
    deliveries = [json.loads(line) for line in (var / "webhooks.log").read_text().splitlines()]
    wanted = (invoice_id, "invoice.generated")
    generated = [d for d in deliveries if (d["lago_id"], d["webhook_type"]) == wanted]
    assert generated and generated[0]["signature_verified"] is True
    assert generated[0]["file_url"] is True
    printed = run.output()
    assert re.search(rf"webhook received: invoice.generated invoice {re.escape(number)} "
                     rf"{invoice_id} .*hmac signature verified", printed), printed  # fmt: skip

    # What make run printed: one line per request, no repeats, no secrets.
    worker_log = (var / "worker.log").read_text()
    assert printed.count("Watching for file changes") == 1
    loopback = "DEBUG is on: webhooks may be delivered to loopback"
    assert printed.count(loopback) == 1 and worker_log.count(loopback) == 1
    for text in (printed, worker_log):
        assert "No hostname was supplied" not in text
        assert not re.search(r"/files/invoices/(?!\[redacted\])", text)
    assert " django.server " not in printed and " django.request " not in printed
    assert "healthz" not in printed  # polled while starting; logged at DEBUG only
    download = f"invoicing.request POST /api/v1/invoices/{invoice_id}/download 200"
    assert printed.count(download) == 1, printed
    assert printed.count(f"invoicing.request PUT /api/v1/invoices/{invoice_id} 200") == 1
    assert "invoicing.request GET /files/invoices/[redacted] 200" in printed
