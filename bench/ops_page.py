"""Query count and time of the operations page and the invoice admin on a big
database.

Reproduce (PostgreSQL on 127.0.0.1, Redis optional; ~5 minutes to seed)::

    createdb -h 127.0.0.1 -U postgres bench_ops
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ops SECRET_KEY=bench \
        PUBLIC_BASE_URL=http://127.0.0.1:8000
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_bulk --invoices 1000000
    .venv/bin/python bench/ops_page.py [--runs 5]
    dropdb -h 127.0.0.1 -U postgres bench_ops

Each page is requested through Django's test client as a staff user (the
full stack: middleware, admin, templates), once to warm caches and then
``--runs`` times; the median time and the queries of the last run are shown.
The ops page is measured without the worker ping (its fixed wait is
``OPS_PING_TIMEOUT_SECONDS``, printed separately) so the figure is the
database's and the broker's part.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--show-queries", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from unittest import mock

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from invoicing.models import Invoice, PdfJob
    from invoicing.ops import stats

    setup_test_environment()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'invoicing_invoice'")
        estimate = cursor.fetchone()[0]
    sample = Invoice.objects.exclude(number=None).order_by("pk").first()
    failed = PdfJob.objects.filter(state="failed", is_current=True).first()
    print(f"database: {connection.settings_dict['NAME']} (~{estimate:,} invoices)")
    broker = settings.CELERY_BROKER_URL.split("://")[0]
    ping = settings.OPS_PING_TIMEOUT_SECONDS
    print(f"broker: {broker}; ping timeout: {ping} s (not included below)\n")

    changelist = "/admin/invoicing/invoice/"
    pages = [
        ("operations page", "/admin/ops/", {}),
        ("invoice changelist", changelist, {}),
        ("changelist, PDF state = failed", changelist, {"pdf_state": "failed"}),
        ("changelist, PDF state = missing", changelist, {"pdf_state": "missing"}),
        ("search by number", changelist, {"q": sample.number}),
        ("search by invoice_<hex>", changelist, {"q": sample.lotus_id}),
        ("search by customer external id", changelist, {"q": sample.customer.external_id}),
        ("invoice change page", f"/admin/invoicing/invoice/{failed.invoice_id}/change/", {}),
    ]
    print(f"{'page':36} {'queries':>7} {'median ms':>10} {'slowest query ms':>17}")
    # The worker ping waits its whole timeout by design; measured apart.
    with mock.patch.object(stats, "workers_answering", return_value=[]):
        for label, url, params in pages:
            response = client.get(url, params)
            assert response.status_code == 200, (label, response.status_code)
            times = []
            for _ in range(args.runs):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url, params)
                    times.append((time.perf_counter() - started) * 1000)
            slowest = max((float(q["time"]) * 1000 for q in queries.captured_queries), default=0)
            print(f"{label:36} {len(queries):7d} {statistics.median(times):10.1f} "
                  f"{slowest:17.1f}")  # fmt: skip
            if args.show_queries:
                for q in queries.captured_queries:
                    print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:160]}")

    started = time.perf_counter()
    workers = stats.workers_answering()
    print(
        f"\nworker ping: {len(workers)} answered in {(time.perf_counter() - started) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
