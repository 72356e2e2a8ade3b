"""make run's webhook receiver (scripts/webhook_receiver.py) against what the
service sends: a body signed by the service's own signer verifies and is
answered 200; a body whose signature does not match is answered 401, so the
service retries and the admin shows the failure."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from invoicing.webhooks.signing import sign_hmac
from scripts.makerun import free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "an-organization-hmac-key"


@pytest.fixture
def receiver(tmp_path):
    port = free_port()
    log = tmp_path / "webhooks.log"
    out = tmp_path / "out.txt"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-u", "scripts/webhook_receiver.py", "--port", str(port),
             "--hmac-key", KEY, "--log-file", str(log)],
            cwd=ROOT, stdout=stdout, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while "webhook receiver on" not in out.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/webhooks", log, out
    proc.terminate()
    proc.wait(timeout=10)


def _post(url: str, body: bytes, signature: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-Lago-Signature": signature,
               "X-Lago-Signature-Algorithm": "hmac", "X-Lago-Unique-Key": "d-1"}  # fmt: skip
    return requests.post(url, data=body, headers=headers, timeout=10)


def test_a_signed_delivery_verifies_and_a_forged_one_is_refused(receiver):
    url, log, out = receiver
    payload = {"webhook_type": "invoice.generated", "object_type": "invoice",
               "invoice": {"lago_id": "inv-1", "number": "261205-000001",
                           "total_amount_cents": 30000, "currency": "EUR",
                           "file_url": "http://127.0.0.1/files/invoices/secret-token"}}  # fmt: skip
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert _post(url, body, sign_hmac(body, KEY)).status_code == 200
    forged = body.replace(b"30000", b"30001")
    assert _post(url, forged, sign_hmac(body, KEY)).status_code == 401

    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(s["total_amount_cents"], s["signature_verified"]) for s in seen] == [
        (30000, True),
        (30001, False),
    ]
    assert seen[0]["webhook_type"] == "invoice.generated" and seen[0]["delivery_id"] == "d-1"
    printed = out.read_text()
    assert "invoice.generated invoice 261205-000001 inv-1" in printed
    assert "hmac signature verified" in printed and "hmac signature INVALID" in printed
    # The link is a bearer credential: said to be there, never printed or kept.
    assert "secret-token" not in printed and "secret-token" not in log.read_text()
