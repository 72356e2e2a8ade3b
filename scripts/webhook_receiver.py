"""A small webhook receiver for development: prints one line per delivery with
its event, invoice and whether Lago's ``hmac`` signature verified, and answers
200 (401 when the signature does not verify, so the service retries and the
admin shows the failure).

``make run`` starts it beside the service (scripts/dev-run.sh) and gives the
demo organization an endpoint to it. Standalone, with the key your
organization's endpoints are signed with (``GET /api/v1/webhooks/hmac_key``)::

    python scripts/webhook_receiver.py --port 8001 --hmac-key "$HMAC_KEY"

Python's standard library only. Each delivery is also appended, as one JSON
object per line, to ``--log-file`` if given.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# A receiver reads a bounded body: the service's payloads are far below this.
MAX_BODY = 10 * 1024 * 1024


def verify_hmac(body: bytes, signature: str, key: str) -> bool:
    """Lago's hmac signature: base64 of HMAC-SHA256 of the exact body bytes,
    keyed with the organization's HMAC key."""
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature)


def describe(payload: dict) -> dict:
    """The fields a person wants to see of one delivery."""
    kind = payload.get("object_type") or ""
    obj = payload.get(kind) if isinstance(payload.get(kind), dict) else {}
    return {
        "webhook_type": payload.get("webhook_type"),
        "object_type": kind,
        "lago_id": obj.get("lago_id"),
        "number": obj.get("number"),
        "total_amount_cents": obj.get("total_amount_cents"),
        "currency": obj.get("currency"),
        # Only whether it is there: the link itself is a bearer credential.
        "file_url": bool(obj.get("file_url")),
    }


class Receiver(BaseHTTPRequestHandler):
    server_version = "dev-webhook-receiver"
    hmac_key = ""
    log_file: Path | None = None
    lock = threading.Lock()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        algo = self.headers.get("X-Lago-Signature-Algorithm") or ""
        signature = self.headers.get("X-Lago-Signature") or ""
        if algo == "hmac" and self.hmac_key:
            verified = verify_hmac(body, signature, self.hmac_key)
            check = "hmac signature verified" if verified else "hmac signature INVALID"
        else:
            verified = None
            check = f"signature not checked ({algo or 'none'}; this receiver checks hmac)"
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        seen = {
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "delivery_id": self.headers.get("X-Lago-Unique-Key"),
            "signature_verified": verified,
            **describe(payload if isinstance(payload, dict) else {}),
        }
        amount = ""
        if seen["total_amount_cents"] is not None:
            amount = f" total {seen['total_amount_cents']} {seen['currency']} (minor units)"
        line = (
            f"webhook received: {seen['webhook_type']} {seen['object_type']} "
            f"{seen['number'] or ''} {seen['lago_id'] or ''}{amount}"
            f"{' with file_url' if seen['file_url'] else ''}; {check}"
        )
        with self.lock:
            print(line, flush=True)
            if self.log_file is not None:
                with self.log_file.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(seen) + "\n")
        if verified is False:
            self._answer(401, {"error": "signature does not verify"})
        else:
            self._answer(200, {"ok": True})

    def _answer(self, status: int, document: dict) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        # One line per delivery is printed above; http.server's access line would repeat it.
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--hmac-key", default="", help="the organization's HMAC key")
    parser.add_argument("--hmac-key-file", type=Path, help="a file holding the HMAC key")
    parser.add_argument("--log-file", type=Path, help="append each delivery as a JSON line")
    args = parser.parse_args(argv)
    key = args.hmac_key
    if args.hmac_key_file is not None:
        key = args.hmac_key_file.read_text().strip()
    Receiver.hmac_key = key
    Receiver.log_file = args.log_file
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    server.daemon_threads = True
    print(
        f"webhook receiver on http://{args.host}:{server.server_port}/webhooks "
        f"({'verifying hmac signatures' if key else 'no HMAC key: signatures not checked'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
