"""Load benchmark of the web tier: wrk against gunicorn on this machine.

    .venv/bin/python bench/load.py                 # ~10 s per endpoint, ~1 min in all
    .venv/bin/python bench/load.py --duration 5    # shorter runs

It creates a scratch database (``bench_load``, dropped at the end) and uses a
Redis database of its own (14 by default, flushed at the start and the end),
seeds one organization with invoices whose PDFs are rendered and stored
in-process, starts gunicorn as the Procfile does but with 2 sync workers (the
figures in PERF-NOTES.md were taken with 2) on 127.0.0.1, DEBUG off,
LOG_LEVEL=WARNING and persistent database connections (``DB_CONN_MAX_AGE``
600), and runs wrk (``scripts/install-system-packages.sh`` installs it) for
each endpoint in turn:

- ``GET /healthz``: the floor, for reference;
- ``POST /api/v1/invoices/:id/download`` of a stored PDF (Lago);
- ``GET /api/invoices/invoice_<hex>/pdf_url/`` of a stored PDF (Lotus);
- ``GET /api/v1/invoices/:id``, an invoice with one fee (Lago show);
- ``POST /api/v1/invoices`` with one fee (Lago create: real invoices, in the
  scratch database).

It prints requests/s, p50 and p99 of each, and how many answers were not 2xx.
Traffic goes only to 127.0.0.1; gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_load"
PG = "postgres://postgres@127.0.0.1:5432"
WORKERS = 2
CONNECTIONS = 32
THREADS = 2
# Invoices to spread the download and show requests over (each has a stored PDF).
SEEDED_INVOICES = 50


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lua(method: str, paths: list[str], body: str | None = None) -> str:
    """A wrk script cycling over ``paths`` (one request each, in turn)."""
    lines = [
        f"wrk.method = {json.dumps(method)}",
        "local paths = {" + ", ".join(json.dumps(p) for p in paths) + "}",
        "local i = 0",
    ]
    if body is not None:
        lines += [f"wrk.body = {json.dumps(body)}",
                  'wrk.headers["Content-Type"] = "application/json"']  # fmt: skip
    lines += [
        "request = function()",
        "  i = i % #paths + 1",
        "  return wrk.format(nil, paths[i])",
        "end",
    ]
    return "\n".join(lines) + "\n"


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNIT_MS[unit]


def _wrk(base: str, name: str, script: str, key: str | None, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency",
               "--timeout", "5s", "-s", f.name]  # fmt: skip
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(
        [*command, base], capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    os.unlink(f.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "name": name,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def _seed() -> tuple[str, list]:
    """An organization, its key, and invoices (one fee each) with stored PDFs."""
    from invoicing.models import PdfJob
    from invoicing.services.invoices import FeeInput
    from invoicing.services.pdf import pdf_jobs_run
    from tests.factories import make_add_on, make_customer, make_invoice, make_organization

    organization, key = make_organization(name="Bench")
    customer = make_customer(organization, external_id="bench", currency="EUR",
                             document_locale="en")  # fmt: skip
    make_add_on(organization, code="bench", currency="EUR")
    fees = [FeeInput(add_on_code="bench", description="Monthly subscription")]
    invoices = [
        make_invoice(organization, customer=customer, fees=fees) for _ in range(SEEDED_INVOICES)
    ]
    jobs = PdfJob.objects.filter(invoice__in=invoices, is_current=True)
    pdf_jobs_run(job_ids=[str(j) for j in jobs.values_list("id", flat=True)])
    ready = jobs.filter(state=PdfJob.State.READY).count()
    assert ready == len(invoices), f"{ready}/{len(invoices)} PDFs stored"
    return key, invoices


def _wait_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited at start-up")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per endpoint")
    parser.add_argument("--redis-db", type=int, default=14)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: scripts/install-system-packages.sh installs it")

    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")
    var_dir = Path(f"/tmp/{DB_NAME}-var")
    shutil.rmtree(var_dir, ignore_errors=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "DB_CONN_MAX_AGE": "600",
        "REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
        "VAR_DIR": str(var_dir),
        "PUBLIC_BASE_URL": base,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    server = None
    try:
        key, invoices = _seed()
        connections.close_all()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "billing_project.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--worker-class", "sync",
             "--max-requests", "10000", "--max-requests-jitter", "1000"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_up(base, server)
        ids = [str(i.id) for i in invoices]
        create = json.dumps({"invoice": {"external_customer_id": "bench",
                                         "fees": [{"add_on_code": "bench"}]}})  # fmt: skip
        runs = [
            ("GET /healthz (floor)", _lua("GET", ["/healthz"]), None),
            ("Lago POST /api/v1/invoices/:id/download (stored PDF)",
             _lua("POST", [f"/api/v1/invoices/{i}/download" for i in ids]), key),
            ("Lotus GET /api/invoices/:id/pdf_url/ (stored PDF)",
             _lua("GET", [f"/api/invoices/invoice_{i.replace('-', '')}/pdf_url/" for i in ids]),
             key),
            ("Lago GET /api/v1/invoices/:id (1 fee)",
             _lua("GET", [f"/api/v1/invoices/{i}" for i in ids]), key),
            ("Lago POST /api/v1/invoices (1 fee)", _lua("POST", ["/api/v1/invoices"], create),
             key),
        ]  # fmt: skip
        print(f"gunicorn: {WORKERS} sync workers on 127.0.0.1, DEBUG off, LOG_LEVEL=WARNING, "
              f"DB_CONN_MAX_AGE=600, PostgreSQL {DB_NAME}")  # fmt: skip
        print(f"wrk: {THREADS} threads, {CONNECTIONS} connections, {args.duration} s each, "
              "on the same 2 cores")  # fmt: skip
        print(f"{'endpoint':56} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, script, auth in runs:
            r = _wrk(base, name, script, auth, args.duration)
            print(f"{name:56} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} "
                  f"{r['non_2xx']:8d}")  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connections.close_all()
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        shutil.rmtree(var_dir, ignore_errors=True)
    print("reproduce: .venv/bin/python bench/load.py")


if __name__ == "__main__":
    main()
