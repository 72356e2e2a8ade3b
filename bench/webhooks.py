"""Benchmark of webhook delivery: real PostgreSQL, real Redis, a real Celery worker on the
webhooks queue, receivers on 127.0.0.1.

    .venv/bin/python bench/webhooks.py                        # both measures, ~3 min
    .venv/bin/python bench/webhooks.py --repeat 3             # each measure three times
    .venv/bin/python bench/webhooks.py --only throughput --deliveries 5000 --algo jwt

It creates a scratch database (``bench_webhooks``, dropped at the end) and uses a Redis
database of its own (12 by default, which the other benches leave alone), runs the receivers
in a process of their own (asyncio, HTTP/1.1 keep-alive, each answer in one write) and one
Celery worker on the ``webhooks`` queue with ``--concurrency 1`` (as ``scripts/worker.sh``
and the system tests run it), with the production settings (``DEBUG`` off, INFO logs: one
JSON line per attempt) and no beat. Deliveries are made as the service makes them:
``invoice.created`` events recorded in one transaction (``events_record``), whose commit
sends the wake-up messages. Endpoints sign with ``hmac`` unless ``--algo`` says otherwise.
It measures:

1. Throughput to one fast receiver: N deliveries recorded at once, each delivered. Deliveries
   per second from the first attempt's start to the last attempt's end (the attempt rows:
   ``started_at`` + ``duration_ms``, the worker's clock), and from the commit to the last
   attempt's end. CPU per delivery of the worker (its processes' utime + stime, from /proc),
   of the PostgreSQL backends serving the bench database, and of the receiver process.
2. Fairness: 10 endpoints, 9 of which hang (they read the request and never answer; the
   attempt deadline is the default 15 s). Events are recorded every 0.25 s for
   ``--fairness-seconds``; each reaches all 10 endpoints. Delay of each delivery to the
   healthy endpoint: from the delivery's ``created_at`` to the end of its successful attempt.
   Run twice: the 9 hanging endpoints in another organization than the healthy one, then
   all 10 in one organization. The hanging attempts that timed out are counted, to show the
   hangs were real.

Targets (the month-end issue; figures, not a timed test): >= 300 deliveries/s to one fast
receiver; the healthy endpoint's deliveries within 1 s while 9 others hang.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_webhooks"
PG = "postgres://postgres@127.0.0.1:5432"


# ----------------------------------------------------------------- receivers (own process)


async def _answer(reader, writer) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _hang(reader, writer) -> None:
    try:
        # Reads whatever comes and never answers, until the client gives up and closes.
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve(fast: int, hanging: int) -> None:
    servers = [await asyncio.start_server(_answer, "127.0.0.1", 0) for _ in range(fast)]
    servers += [await asyncio.start_server(_hang, "127.0.0.1", 0) for _ in range(hanging)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps({"fast": ports[:fast], "hanging": ports[fast:]}), flush=True)
    await asyncio.Event().wait()


# ----------------------------------------------------------------- measuring


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def _cpu_seconds(pid: int, *, children: bool) -> float:
    """utime + stime of ``pid``; with ``children``, of its live children and of those it
    reaped (cutime, cstime) as well: a worker's pool processes."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        fields = stat(pid)
    except FileNotFoundError:
        return 0.0
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        for child in map(int, out.stdout.split()):
            try:
                child_fields = stat(child)
            except FileNotFoundError:
                continue
            total += int(child_fields[11]) + int(child_fields[12])
    return total / ticks


class Cpu:
    """CPU seconds of the worker, the database backends and the receiver over a span."""

    def __init__(self, worker: int, receiver: int) -> None:
        self.worker, self.receiver = worker, receiver

    def _backends(self) -> float:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [DB_NAME],
            )
            pids = [row[0] for row in cursor.fetchall()]
        return sum(_cpu_seconds(pid, children=False) for pid in pids)

    def read(self) -> tuple[float, float, float]:
        return (
            _cpu_seconds(self.worker, children=True),
            self._backends(),
            _cpu_seconds(self.receiver, children=False),
        )


def _wait_delivered(deliveries, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if deliveries.filter(status="succeeded").count() >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"not delivered within {timeout} s")


def _attempt_end(attempt):
    import datetime as dt

    return attempt.started_at + dt.timedelta(milliseconds=attempt.duration_ms)


def throughput(args, organization, invoice, fast_url: str, cpu: Cpu) -> dict:
    from django.db import transaction

    from invoicing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
    from invoicing.services.events import events_record

    endpoint = WebhookEndpoint.objects.create(
        organization=organization, webhook_url=fast_url, signature_algo=args.algo
    )
    before = cpu.read()
    started = time.time()
    with transaction.atomic():
        events_record(invoices=[invoice] * args.deliveries, event_type="invoice.created")
    committed = time.time()
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    _wait_delivered(deliveries, args.deliveries, timeout=600)
    after = cpu.read()
    attempts = list(WebhookDeliveryAttempt.objects.filter(delivery__endpoint=endpoint))
    first = min(a.started_at for a in attempts)
    last = max(_attempt_end(a) for a in attempts)
    span = (last - first).total_seconds()
    since_commit = last.timestamp() - committed
    endpoint.delete()
    n = args.deliveries
    worker, backends, receiver = (b - a for a, b in zip(before, after, strict=True))
    return {
        "deliveries": n,
        "attempts": len(attempts),
        "per_s": n / span,
        "per_s_from_commit": n / since_commit,
        "record_s": committed - started,
        "worker_ms": worker * 1000 / n,
        "db_ms": backends * 1000 / n,
        "receiver_ms": receiver * 1000 / n,
    }


def fairness(args, orgs, invoices, fast_url: str, hanging_urls: list[str], cpu: Cpu) -> dict:
    from django.db import transaction

    from invoicing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
    from invoicing.services.events import events_record

    healthy_org, hanging_org = orgs
    healthy = WebhookEndpoint.objects.create(
        organization=healthy_org, webhook_url=fast_url, signature_algo=args.algo
    )
    hanging = [
        WebhookEndpoint.objects.create(
            organization=hanging_org, webhook_url=url, signature_algo=args.algo
        )
        for url in hanging_urls
    ]
    before = cpu.read()
    ticks = int(args.fairness_seconds / 0.25)
    next_at = time.monotonic()
    for _ in range(ticks):
        with transaction.atomic():
            events_record(invoices=invoices, event_type="invoice.created")
        next_at += 0.25
        time.sleep(max(0.0, next_at - time.monotonic()))
    deliveries = WebhookDelivery.objects.filter(endpoint=healthy)
    _wait_delivered(deliveries, deliveries.count(), timeout=120)
    after = cpu.read()
    delays = sorted(
        (_attempt_end(a) - a.delivery.created_at).total_seconds()
        for a in WebhookDeliveryAttempt.objects.filter(
            delivery__endpoint=healthy, outcome="success"
        ).select_related("delivery")
    )
    claim_delays = sorted(
        (a.started_at - a.delivery.created_at).total_seconds()
        for a in WebhookDeliveryAttempt.objects.filter(
            delivery__endpoint=healthy, outcome="success"
        ).select_related("delivery")
    )
    timeouts = WebhookDeliveryAttempt.objects.filter(
        delivery__endpoint__in=hanging, outcome="timeout"
    ).count()
    hanging_deliveries = WebhookDelivery.objects.filter(endpoint__in=hanging).count()
    for endpoint in [healthy, *hanging]:
        endpoint.delete()
    worker, backends, receiver = (b - a for a, b in zip(before, after, strict=True))
    return {
        "healthy": len(delays),
        "median": statistics.median(delays),
        "p95": delays[max(0, int(len(delays) * 0.95) - 1)],
        "max": delays[-1],
        "claim_max": claim_delays[-1],
        "timeouts": timeouts,
        "hanging_deliveries": hanging_deliveries,
        "worker_cpu_s": worker,
        "db_cpu_s": backends,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=3000, help="throughput run size")
    parser.add_argument("--fairness-seconds", type=float, default=40.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=["throughput", "fairness"])
    parser.add_argument("--algo", choices=["hmac", "jwt", "standard"], default="hmac")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(*args.serve))
        return

    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "SECRET_KEY": "bench-only",
        # Required with DEBUG off; nothing here is served to anyone.
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
        "VAR_DIR": f"/tmp/{DB_NAME}-var",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connections

    from tests.factories import make_invoice, make_organization

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    receivers = subprocess.Popen(
        [sys.executable, __file__, "--serve", "1", "9"], stdout=subprocess.PIPE, text=True
    )
    ports = json.loads(receivers.stdout.readline())
    fast_url = f"http://127.0.0.1:{ports['fast'][0]}/hooks"
    hanging_urls = [f"http://127.0.0.1:{port}/hooks" for port in ports["hanging"]]
    a, _ = make_organization(name="Bench A")
    b, _ = make_organization(name="Bench B")
    # Made before any endpoint exists: nothing to deliver for them (their PDF jobs wait on
    # the pdf queue, which nothing here consumes).
    invoice_a, invoice_b = make_invoice(a), make_invoice(b)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing_project", "worker", "-Q", "webhooks",
         "-c", str(args.concurrency), "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cpu = Cpu(worker.pid, receivers.pid)
    try:
        time.sleep(5)  # worker start-up
        print(f"worker: {args.concurrency} processes, endpoints sign with {args.algo}")
        if args.only in (None, "throughput"):
            runs = [throughput(args, a, invoice_a, fast_url, cpu) for _ in range(args.repeat)]
            print(f"throughput, {args.deliveries} deliveries to one fast receiver:")
            for r in runs:
                print(
                    f"  {r['per_s']:.0f}/s first attempt to last ({r['per_s_from_commit']:.0f}/s"
                    f" from the commit; recording them took {r['record_s']:.1f} s);"
                    f" {r['attempts']} attempts; CPU per delivery: worker {r['worker_ms']:.2f} ms,"
                    f" PostgreSQL {r['db_ms']:.2f} ms, receiver {r['receiver_ms']:.2f} ms"
                )
        if args.only in (None, "fairness"):
            setups = (
                ("9 hanging endpoints in another organization", (b, a), [invoice_a, invoice_b]),
                ("all 10 endpoints in one organization", (a, a), [invoice_a]),
            )
            for label, orgs, invoices in setups:
                print(f"fairness, {label}, {args.fairness_seconds:.0f} s of events every 0.25 s:")
                for _ in range(args.repeat):
                    r = fairness(args, orgs, invoices, fast_url, hanging_urls, cpu)
                    print(
                        f"  healthy endpoint: {r['healthy']} deliveries, delay median"
                        f" {r['median'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms, max"
                        f" {r['max'] * 1000:.0f} ms (claimed at most {r['claim_max'] * 1000:.0f}"
                        f" ms after creation); {r['hanging_deliveries']} deliveries to the"
                        f" hanging ones, {r['timeouts']} attempts timed out; CPU: worker"
                        f" {r['worker_cpu_s']:.1f} s, PostgreSQL {r['db_cpu_s']:.1f} s"
                    )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        receivers.terminate()
        receivers.wait(timeout=10)
        connections.close_all()
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    print(
        "measured on this machine (2 cores shared by PostgreSQL, Redis, the worker, the"
        " receivers and this script; other work on it shows in the figures); reproduce:"
        " .venv/bin/python bench/webhooks.py"
    )


if __name__ == "__main__":
    main()
