"""How long a newcomer waits for a PDF under ``make run``: starts ``make run``
(embedded defaults, a fresh VAR_DIR in a temporary folder, free ports), and as
soon as it serves, creates invoices one at a time through Lago's API, calls
download at once and measures from that call to

- the PDF stored (the invoice's ``file_url`` set; polled every 20 ms), and
- ``invoice.generated`` received by make run's webhook receiver.

The first invoice is made while the worker still renders the demo data's
backlog, as a newcomer's first one is.

    .venv/bin/python scripts/first_pdf.py [--invoices 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from makerun import MakeRun


def call(base: str, key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    return json.loads(data) if data else {}


def generated_seen(log: Path, invoice_id: str) -> bool:
    if not log.exists():
        return False
    for line in log.read_text().splitlines():
        seen = json.loads(line)
        if seen["webhook_type"] == "invoice.generated" and seen["lago_id"] == invoice_id:
            return True
    return False


def measure(run: MakeRun, key: str, deadline_s: float = 120) -> tuple[float, float]:
    invoice = call(run.base_url, key, "POST", "/invoices", {
        "invoice": {"external_customer_id": "acme-us",
                    "fees": [{"add_on_code": "setup-usd", "units": "2"}]},
    })["invoice"]  # fmt: skip
    started = time.monotonic()
    call(run.base_url, key, "POST", f"/invoices/{invoice['lago_id']}/download")
    stored = None
    while time.monotonic() - started < deadline_s:
        shown = call(run.base_url, key, "GET", f"/invoices/{invoice['lago_id']}")["invoice"]
        if shown["file_url"]:
            stored = time.monotonic() - started
            break
        time.sleep(0.02)
    while time.monotonic() - started < deadline_s:
        if generated_seen(run.var_dir / "webhooks.log", invoice["lago_id"]):
            return stored, time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"no PDF or no invoice.generated within {deadline_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-pdf-") as tmp:
        began = time.monotonic()
        with MakeRun(Path(tmp) / "var") as run:
            print(f"make run serving after {time.monotonic() - began:.1f} s "
                  f"(VAR_DIR {run.var_dir})")  # fmt: skip
            key = run.api_key()
            results = []
            for index in range(args.invoices):
                stored, webhook = measure(run, key)
                results.append((stored, webhook))
                print(f"invoice {index + 1}: PDF stored {stored:.2f} s, invoice.generated "
                      f"received {webhook:.2f} s after the download call")  # fmt: skip
    stored = [s for s, _ in results]
    webhooks = [w for _, w in results]
    print(f"first: stored {stored[0]:.2f} s, webhook {webhooks[0]:.2f} s; "
          f"median of {len(results)}: stored {statistics.median(stored):.2f} s, "
          f"webhook {statistics.median(webhooks):.2f} s; "
          f"max stored {max(stored):.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
