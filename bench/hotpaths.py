"""In-process cost of the web tier's hot requests: queries per request and
time per request, with no HTTP server and no load generator in the way.

    .venv/bin/python bench/hotpaths.py                        # ~1 min
    .venv/bin/python bench/hotpaths.py --profile download     # plus a cProfile listing
    .venv/bin/python bench/hotpaths.py --only download,pdf_url
    .venv/bin/python bench/hotpaths.py --log-level WARNING    # without the request log line
    .venv/bin/python bench/hotpaths.py --unprepared           # DB_PREPARED_STATEMENTS=0
    .venv/bin/python bench/hotpaths.py --only create,finalize --db-name bench_hotpaths_2

Same scratch setup and environment as ``bench/load.py`` (its own database
``bench_hotpaths``, dropped at the end; Redis database 14 by default, flushed;
DEBUG off, LOG_LEVEL=INFO, multiprocess metrics, persistent connection).
Each request is a WSGI call into the project's handler (the reference
endpoint into ``bench/reference_app.py``'s), so it covers the whole
middleware stack, DRF, the queries and the response's rendering; not
gunicorn's HTTP parsing and writing.

For each endpoint: queries per request (``CaptureQueriesContext``), then
``--batches`` batches of ``--requests`` requests after a warm-up, and the
median over batches, per request, of wall time, of this process's CPU time
(cpu) and of its PostgreSQL backend's CPU time (db, from /proc, in clock
ticks: 10 ms per batch of resolution). The CPU figures are the steadier ones
when other programs share the machine; wall time includes waiting for the
round trips, and for the CPU when it is shared. Logs go to /dev/null, as in
``bench/load.py``.

Besides ``bench/load.py``'s endpoints, ``finalize``: ``PUT
/api/v1/invoices/:id/finalize`` of one-fee drafts, made beforehand (one per
request: a draft is finalized once).

``--unprepared`` measures with ``DB_PREPARED_STATEMENTS=0``: the
hand-written statements of the hot paths (the download lookups, the invoice
writes) are then bound on the client and parsed and planned by PostgreSQL at
every call, as Django's own queries always are.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import ENDPOINTS, Endpoint, scratch_environment  # noqa: E402

DB_NAME = "bench_hotpaths"
FINALIZE = Endpoint("finalize", "Lago PUT /api/v1/invoices/:id/finalize (1 fee)", "PUT",
                    "/api/v1/invoices/{id}/finalize")  # fmt: skip
WARM_UP = 20


def _drafts(invoices, count: int) -> list:
    """One-fee drafts of the seeded customer, to finalize."""
    from invoicing.models import Invoice
    from invoicing.services.invoices import FeeInput, invoice_create

    organization = invoices[0].organization
    return [
        invoice_create(organization=organization, external_customer_id="bench",
                       fees=[FeeInput(add_on_code="bench")], status=Invoice.Status.DRAFT)
        for _ in range(count)
    ]  # fmt: skip


def _environ(method: str, path: str, key: str | None, body: bytes, port: int) -> dict:
    """What gunicorn hands the application for such a request."""
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": f"127.0.0.1:{port}",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    environ["_body"] = body
    return environ


def _call(app, environ: dict) -> int:
    statuses = []
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(env.pop("_body"))
    result = app(env, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        for _ in result:
            pass
    finally:
        result.close()  # request_finished, as gunicorn does
    return int(statuses[0].split()[0])


def _backend_cpu_seconds(connection) -> float:
    """CPU time so far of this process's PostgreSQL backend (its own process
    on this machine, readable from /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per batch")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--db-name", default=DB_NAME, help="the scratch database (dropped)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--profile", default="", help="endpoint key to run under cProfile (e.g. download)"
    )
    parser.add_argument("--only", default="", help="comma-separated endpoint keys to measure")
    parser.add_argument(
        "--unprepared",
        action="store_true",
        help="DB_PREPARED_STATEMENTS=0 (the hand-written statements are not prepared)",
    )
    args = parser.parse_args()

    port = 8999
    with scratch_environment(args.db_name, args.redis_db, f"http://127.0.0.1:{port}",
                             args.log_level) as (key, invoices):  # fmt: skip
        import logging

        from django.core.wsgi import get_wsgi_application
        from django.db import connection, connections
        from django.test.utils import CaptureQueriesContext

        from bench import reference_app

        # (Sets Django up again, logging included.)
        project = get_wsgi_application()
        # Read when the connection opens (the seeding's was closed).
        options = connections["default"].settings_dict.setdefault("OPTIONS", {})
        if args.unprepared:
            options["prepare_threshold"] = None
        # Logs (if any at this level) are written, to nowhere, as gunicorn's
        # stderr in load.py.
        for handler in logging.getLogger().handlers:
            handler.stream = open(os.devnull, "w")
        endpoints = [*ENDPOINTS, FINALIZE]
        keys = [k for k in args.only.split(",") if k] or [e.key for e in endpoints]
        print(f"in-process WSGI calls, DEBUG off, LOG_LEVEL={args.log_level}, "
              f"{args.batches} batches x {args.requests} requests, median of batches, "
              f"prepare_threshold={options.get('prepare_threshold')}")  # fmt: skip
        print(f"{'endpoint':56} {'queries':>7} {'wall us':>8} {'cpu us':>8} {'db us':>8}")
        for endpoint in endpoints:
            if endpoint.key not in keys:
                continue
            app = reference_app.application if endpoint.reference else project
            targets = invoices
            if endpoint is FINALIZE:
                profiled = args.requests * 3 if endpoint.key == args.profile else 0
                targets = _drafts(invoices, WARM_UP + 1 + args.batches * args.requests + profiled)
            environs = [
                _environ(endpoint.method, p, None if endpoint.reference else key,
                         endpoint.body.encode(), port)
                for p in endpoint.paths(targets)
            ]  # fmt: skip
            # Each request takes the next one in turn (a draft is finalized once).
            turn = itertools.count()
            for _ in range(WARM_UP):  # warm-up: imports, caches, connection
                status = _call(app, environs[next(turn) % len(environs)])
                assert 200 <= status < 300, (endpoint.name, status)
            with CaptureQueriesContext(connection) as queries:
                _call(app, environs[next(turn) % len(environs)])
            # Read now: the captured list is a slice of the connection's log,
            # which the next request clears.
            n_queries = len(queries)
            walls, cpus, dbs = [], [], []
            for _ in range(args.batches):
                d0 = _backend_cpu_seconds(connection)
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(args.requests):
                    _call(app, environs[next(turn) % len(environs)])
                walls.append((time.perf_counter() - t0) / args.requests)
                cpus.append((time.process_time() - c0) / args.requests)
                dbs.append((_backend_cpu_seconds(connection) - d0) / args.requests)
            wall, cpu, db = (statistics.median(v) * 1e6 for v in (walls, cpus, dbs))
            print(f"{endpoint.name:56} {n_queries:7d} {wall:8.0f} {cpu:8.0f} {db:8.0f}")
            if endpoint.key == args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.requests * 3):
                    _call(app, environs[next(turn) % len(environs)])
                profiler.disable()
                stats = pstats.Stats(profiler)
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(40)
    argv = " ".join(sys.argv[1:])
    print(f"reproduce: .venv/bin/python bench/hotpaths.py{' ' + argv if argv else ''}")


if __name__ == "__main__":
    main()
