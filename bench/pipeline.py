"""Benchmark of the PDF pipeline: real PostgreSQL, real Redis, real Celery
worker processes on this machine.

    .venv/bin/python bench/pipeline.py               # 200 latency + 5,000 bulk, ~2 min
    .venv/bin/python bench/pipeline.py --bulk 1000   # a smaller bulk

It creates a scratch database (``bench_pipeline``, dropped at the end) and a
Redis database of its own (15 by default), starts one Celery worker with
``--concurrency 2`` (two worker processes, the machine's two cores) on the pdf
queue, and measures:

1. Latency from the download call to the PDF stored, over N invoices
   requested one after another at a steady pace: the job row's ``created_at``
   (written by the call) to its ``finished_at`` (the PDF stored), median and
   p95. Both timestamps come from the same database clock.
2. Throughput of a bulk of one-page invoices finalized in one transaction:
   PDFs stored per second from the first job claimed to the last one stored,
   and the render share: the sum of ``render_ms`` (time inside the renderer)
   over the CPU time the worker processes used (utime + stime from /proc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_pipeline"
PG = "postgres://postgres@127.0.0.1:5432"


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _worker_cpu_seconds(parent: int) -> float:
    """CPU time of the worker: the parent, its live children, and the children
    it already reaped (pool processes are recycled after max_tasks_per_child,
    and their time then moves to the parent's cutime/cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = _stat(parent)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    for pid in map(int, out.stdout.split()):
        try:
            child = _stat(pid)
        except FileNotFoundError:
            continue
        total += int(child[11]) + int(child[12])
    return total / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=int, default=200, help="invoices for the latency run")
    parser.add_argument("--bulk", type=int, default=5000, help="invoices for the bulk run")
    parser.add_argument("--redis-db", type=int, default=15)
    args = parser.parse_args()

    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")
    var_dir = Path(f"/tmp/{DB_NAME}-var")
    subprocess.run(["rm", "-rf", str(var_dir)], check=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "SECRET_KEY": "bench-only",
        # Required with DEBUG off; nothing here is served to anyone.
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import Max, Min, Sum
    from django.test import Client

    from invoicing.models import Invoice, PdfJob
    from invoicing.services import invoices as invoice_services
    from invoicing.services.invoices import FeeInput
    from tests.factories import make_add_on, make_customer, make_invoice, make_organization

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    organization, key = make_organization(name="Bench")
    customer = make_customer(organization, currency="EUR", document_locale="en")
    add_on = make_add_on(organization)
    fees = [FeeInput(add_on_code=add_on.code, description="Monthly subscription")]

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing_project", "worker", "-Q", "pdf",
         "-c", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(4)  # worker start-up (imports, font warm-up)

        # 1. Latency: invoices without a job yet, then one download call each.
        from unittest import mock

        with mock.patch("invoicing.services.invoices.invoice_pdf_request"):
            ids = [
                make_invoice(organization, customer=customer, fees=fees).id
                for _ in range(args.latency)
            ]
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
        for invoice_id in ids:
            response = client.post(f"/api/v1/invoices/{invoice_id}/download")
            assert response.status_code == 200, response.content
            time.sleep(0.05)  # a steady pace: below capacity, so this is latency
        deadline = time.monotonic() + 120
        jobs = PdfJob.objects.filter(invoice_id__in=ids, state="ready")
        while jobs.count() < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        latencies = sorted(
            (j.finished_at - j.created_at).total_seconds() * 1000
            for j in PdfJob.objects.filter(invoice_id__in=ids, state="ready")
        )
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"latency, download call -> PDF stored, {len(latencies)}/{len(ids)} invoices:")
        print(f"  median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
              f"max {latencies[-1]:.0f} ms")  # fmt: skip

        # 2. Throughput: a bulk finalized in one transaction.
        drafts = [
            make_invoice(organization, customer=customer, fees=fees, status="draft")
            for _ in range(args.bulk)
        ]
        cpu_before = _worker_cpu_seconds(worker.pid)
        with transaction.atomic():
            for draft in drafts:
                invoice_services.invoice_finalize(invoice=draft)
        bulk = PdfJob.objects.filter(invoice__in=[d.id for d in drafts])
        deadline = time.monotonic() + 600
        while bulk.filter(state="ready").count() < args.bulk and time.monotonic() < deadline:
            time.sleep(0.5)
        cpu = _worker_cpu_seconds(worker.pid) - cpu_before
        stats = bulk.filter(state="ready").aggregate(
            first=Min("started_at"), last=Max("finished_at"), render_ms=Sum("render_ms")
        )
        ready = bulk.filter(state="ready").count()
        wall = (stats["last"] - stats["first"]).total_seconds()
        print(f"throughput, {ready}/{args.bulk} one-page invoices finalized at once:")
        print(f"  {ready / wall:.0f} PDFs stored per second ({wall:.1f} s, 2 worker processes)")
        render_s = (stats["render_ms"] or 0) / 1000
        print(f"  render share of worker CPU: {render_s:.1f} s / {cpu:.1f} s = "
              f"{render_s / cpu:.0%}")  # fmt: skip
        print(f"  invoices in the database: {Invoice.objects.count()}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    print(
        "measured on this machine (2 cores shared by PostgreSQL, Redis, the worker and this "
        "script); reproduce: .venv/bin/python bench/pipeline.py"
    )


if __name__ == "__main__":
    main()
