"""Month-end throughput, end to end: invoices created finalized through the Lago
API by concurrent clients, against the Procfile's processes, until the last
``invoice.generated`` webhook reaches the receiver.

    .venv/bin/python bench/monthend.py                         # 2,000 invoices, ~2-4 min
    .venv/bin/python bench/monthend.py --invoices 500          # a shorter run
    .venv/bin/python bench/monthend.py --unprepared            # DB_PREPARED_STATEMENTS=0
    .venv/bin/python bench/monthend.py --clients 16 --customers 1
    .venv/bin/python bench/monthend.py --history 0             # on an empty database

Setup, as ``bench/load.py`` sets up its scratch environment: a database of
its own (``bench_monthend``, dropped at the end unless ``--keep-db``), a
Redis database of its own (6 by default, flushed at the start and the end), ``VAR_DIR`` under /tmp
(removed), the production settings (DEBUG off, LOG_LEVEL=INFO, persistent
database connections, multiprocess metrics); each process's output goes to a
file under VAR_DIR, whose tails are shown if the warm-up fails. One
organization (the date numbering scheme), ``--customers`` customers, one
add-on with a 20 % tax, and one webhook endpoint (``hmac``, every event type)
pointing at the receiver.

Before the clock starts, the database gets ``--history`` earlier invoices
(default 20,000: ten month-ends of this size), each with every row an invoice
writes, in a second organization (``_history``: copied by SQL from the
warm-up's rows, then VACUUM ANALYZE; about 9 s). A month-end's database holds
its earlier months, and without them PostgreSQL plans the foreign-key checks
and other hot statements on near-empty tables as sequential scans, kept for
the whole run: 0.7 ms more PostgreSQL CPU per invoice (six runs each,
alternated: 3.99-4.41 against 3.17-3.52 ms).

Processes: the Procfile's ``web`` (gunicorn with its own options, bound to
127.0.0.1, the Procfile's ``WEB_CONCURRENCY`` default unless ``--workers``),
``worker`` (``scripts/worker.sh``: a PDF worker and a webhook worker) and
``beat``, each in a session of its own and stopped at the end; the receiver is
a process of its own (asyncio, HTTP/1.1 keep-alive, 200 at once), counting
each event type's arrivals. Five invoices go through the whole chain first
(imports, fonts, connections), then the timed run: ``--clients`` threads of
this process, each on one keep-alive connection, POST ``/api/v1/invoices``
(one fee, finalized) until ``--invoices`` are made.

It prints, from the first request of the timed run:

- invoices/s end to end: invoices over the time to the last timed invoice's
  ``invoice.generated`` received;
- each stage's rate: creates answered, PDFs stored (the jobs' ``finished_at``),
  ``invoice.created`` and ``invoice.generated`` received, each as invoices
  over the time to its last one (the whole chain's pace), and over the time
  from its first to its last one (the stage's own pace once under way);
- p50 and p99 of a create, as the clients saw it, and how many were not 200;
- CPU per invoice (ms) of each process group (utime + stime from /proc via
  psutil, children reaped by their parent included): gunicorn, the two
  Celery workers, beat, the PostgreSQL backends of the bench database
  (sampled every half second; a backend that went away between two samples
  loses its last half second), the receiver, this process (the clients), and
  redis-server, which other programs may share;
- the host's speed just before and just after the timed run (``_host_speed``:
  a fixed one-core workload, the pipeline idle), since the same code's
  figures move with it.

All on the same cores as whatever else runs on the machine: the CPU figures
move less than the rates when the machine is shared. Traffic stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench.load import (  # noqa: E402
    PG,
    _environment,
    _free_port,
    _psql,
    _wait_up,
    procfile_web_command,
)

DB_NAME = "bench_monthend"
WARM_UP = 5


# ------------------------------------------------------------------ the receiver


def _receive(port: int, ready, pipe) -> None:
    """The webhook receiver (a process of its own): answers 200 at once and
    keeps, for each event type, (arrival time, invoice id) of every request;
    sends them down ``pipe`` when asked."""
    arrivals: dict[str, list[tuple[float, str]]] = {}

    async def answer(reader, writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                event = json.loads(body)
                arrivals.setdefault(event.get("webhook_type", "?"), []).append(
                    (time.time(), (event.get("invoice") or {}).get("lago_id", ""))
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=256)
        ready.set()
        loop = asyncio.get_running_loop()
        while True:
            asked = await loop.run_in_executor(None, pipe.recv)
            if asked == "stop":
                break
            pipe.send(arrivals)
        server.close()

    asyncio.run(serve())


# --------------------------------------------------------------------- CPU


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of all its descendants, live or reaped: a
    process that exited counts in the children times of the one that reaped
    it, live or reaped in turn."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _own_cpu() -> float:
    """This process's CPU seconds, not its children's (the processes under
    test are its children, and so are the samplers' psql)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


class _Backends(threading.Thread):
    """Samples the CPU of the PostgreSQL backends of the bench database every
    half second, keeping each one's last value."""

    def __init__(self, db_name: str) -> None:
        super().__init__(daemon=True)
        self.db_name = db_name
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()

    def sample(self) -> None:
        out = subprocess.run(
            ["psql", f"{PG}/postgres", "-Atc",
             f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.db_name}'"],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        for pid in map(int, out):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = psutil.Process(pid).cpu_times()
                self.seen[pid] = times.user + times.system

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.sample()

    def total(self) -> float:
        return sum(self.seen.values())


# --------------------------------------------------------------------- seed


def _seed(customers: int, receiver_url: str) -> tuple[str, list[str], str, dict[str, str]]:
    """The organization's key, its customers' external ids, the add-on's code,
    and the ids ``_history`` files its copies under."""
    from django.db import connection

    from invoicing.services import catalog
    from invoicing.services.organizations import organization_create
    from invoicing.services.webhook_endpoints import webhook_endpoint_create

    organization, issued = organization_create(name="Month end")
    vat = catalog.tax_create(
        organization=organization, data={"code": "vat", "name": "VAT", "rate": 20}
    )
    catalog.add_on_create(
        organization=organization,
        data={"code": "monthly", "name": "Monthly plan", "amount_cents": 4_900,
              "amount_currency": "EUR", "tax_codes": [vat.code]},
    )  # fmt: skip
    ids = []
    for n in range(customers):
        customer, _ = catalog.customer_upsert(
            organization=organization,
            external_id=f"cus_{n:05d}",
            data={"name": f"Customer {n}", "currency": "EUR", "document_locale": "en"},
        )
        ids.append(customer.external_id)
    webhook_endpoint_create(
        organization=organization, data={"webhook_url": receiver_url, "signature_algo": "hmac"}
    )
    # The organization the history is filed under (_history).
    earlier, _ = organization_create(name="Earlier months")
    customer, _ = catalog.customer_upsert(
        organization=earlier, external_id="cus_earlier",
        data={"name": "Earlier customer", "currency": "EUR"},
    )  # fmt: skip
    endpoint = webhook_endpoint_create(
        organization=earlier, data={"webhook_url": receiver_url, "signature_algo": "hmac"}
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    history = {"a": str(organization.pk), "b": str(earlier.pk), "customer": str(customer.pk),
               "endpoint": str(endpoint.pk)}  # fmt: skip
    return issued.raw_key, ids, "monthly", history


# ------------------------------------------------------------------ history

# Each table a finalized invoice writes to, with the row filter that picks the
# warm-up's rows and what a copy changes besides its id (SQL on the row ``t``
# and the copy's number ``g``; the parameters b, customer and endpoint are the
# history organization's). A reference to a copied row is mapped the way its
# id is.
_COPY = "md5({}::text || ':' || g)::uuid"
_HISTORY_TABLES = [
    ("invoicing_invoice", "t.organization_id = %(a)s", {
        "organization_id": "%(b)s::uuid", "customer_id": "%(customer)s::uuid",
        "sequential_id": "n", "number_scope": "to_char(d, 'YYMMDD')",
        "number_sequence": "s", "number": "to_char(d, 'YYMMDD') || '-' || lpad(s::text, 6, '0')",
        "issuing_date": "d", "payment_due_date": "d", "finalized_at": "at",
        "created_at": "at", "updated_at": "at",
    }),
    ("invoicing_fee", "t.invoice_id IN (SELECT id FROM template)", {
        "invoice_id": _COPY.format("t.invoice_id"),
    }),
    ("invoicing_feeappliedtax",
     "t.fee_id IN (SELECT f.id FROM invoicing_fee f "
     "WHERE f.invoice_id IN (SELECT id FROM template))",
     {"fee_id": _COPY.format("t.fee_id")}),
    ("invoicing_invoiceappliedtax", "t.invoice_id IN (SELECT id FROM template)", {
        "invoice_id": _COPY.format("t.invoice_id"),
    }),
    ("invoicing_pdfjob", "t.invoice_id IN (SELECT id FROM template)", {
        "organization_id": "%(b)s::uuid", "invoice_id": _COPY.format("t.invoice_id"),
    }),
    ("invoicing_webhookevent", "t.object_id IN (SELECT id FROM template)", {
        "organization_id": "%(b)s::uuid", "object_id": _COPY.format("t.object_id"),
    }),
    ("invoicing_webhookdelivery",
     "t.event_id IN (SELECT e.id FROM invoicing_webhookevent e "
     "WHERE e.object_id IN (SELECT id FROM template))",
     {"event_id": _COPY.format("t.event_id"), "endpoint_id": "%(endpoint)s::uuid"}),
    ("invoicing_webhookdeliveryattempt",
     "t.delivery_id IN (SELECT w.id FROM invoicing_webhookdelivery w JOIN invoicing_webhookevent e "
     "ON e.id = w.event_id WHERE e.object_id IN (SELECT id FROM template))",
     {"delivery_id": _COPY.format("t.delivery_id")}),
]  # fmt: skip


def _history(count: int, ids: dict[str, str]) -> float:
    """Give the database ``count`` earlier invoices, as a month-end's database
    has: copies of the warm-up's invoices and of every row they wrote (fees,
    taxes, PDF jobs, events, deliveries, attempts), dated over the days up to
    yesterday, 100 a day, in a second organization (``ids``: its id as ``b``, its
    customer, its endpoint; the month-end's organization as ``a``), whose
    numbering they fill from 1 so that the month-end organization's own is
    untouched. Then VACUUM ANALYZE. Returns the seconds it took.

    Why: PostgreSQL keeps a generic plan for a statement a connection runs
    often, foreign-key checks included, made with the table sizes of the time.
    Made on the near-empty tables of a new database, they are sequential scans,
    and they stay so until the tables are analyzed again (autovacuum does, a
    minute or more later): on an empty database the timed run read every
    invoice, fee and delivery for each foreign key it checked. A production
    database at month-end has its earlier months, and index plans."""
    from django.db import connection

    from invoicing.models import WebhookDelivery

    began = time.monotonic()
    copies = count // WARM_UP
    if not copies:
        return 0.0
    # Copied while one was still on its way, a delivery would be copied as due,
    # and the timed run would deliver its thousands of copies.
    unfinished = WebhookDelivery.objects.filter(event__organization_id=ids["a"]).exclude(
        status=WebhookDelivery.Status.SUCCEEDED
    )
    deadline = time.monotonic() + 60
    while unfinished.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up's deliveries did not all succeed within 60 s")
        time.sleep(0.2)
    # 100 a day, up to yesterday: the oldest day starts at sequence 1.
    days = -(-copies * WARM_UP // 100)
    with connection.cursor() as cursor:
        for table, where, changes in _HISTORY_TABLES:
            changes = {"id": _COPY.format("t.id"), **changes}
            pairs = ", ".join(f"'{column}', {value}" for column, value in changes.items())
            cursor.execute(
                f"""
                WITH template AS (
                    SELECT id, row_number() OVER (ORDER BY sequential_id) AS k
                    FROM invoicing_invoice WHERE organization_id = %(a)s
                )
                INSERT INTO {table}
                SELECT copy.*
                FROM {table} t
                LEFT JOIN template own ON own.id = t.id
                CROSS JOIN generate_series(1, %(copies)s) g
                CROSS JOIN LATERAL (SELECT (g - 1) * {WARM_UP} + coalesce(own.k, 0) AS n) a
                CROSS JOIN LATERAL (
                    SELECT current_date - %(days)s + (n - 1)::int / 100 AS d,
                           (n - 1) %% 100 + 1 AS s
                ) b
                CROSS JOIN LATERAL (SELECT (d + time '09:00')::timestamptz AS at) c
                -- In FROM: (f(...)).* in the select list calls f once per column.
                CROSS JOIN LATERAL jsonb_populate_record(
                    NULL::{table}, to_jsonb(t) || jsonb_build_object({pairs})
                ) copy
                WHERE {where}
                """,
                {**ids, "copies": copies, "days": days},
            )
        cursor.execute(
            """
            UPDATE invoicing_organization SET last_sequential_id = %(n)s,
                last_number_scope = to_char(current_date - 1, 'YYMMDD'),
                last_number_sequence = (%(n)s - 1) %% 100 + 1
            WHERE id = %(b)s
            """,
            {**ids, "n": copies * WARM_UP},
        )
    connection.close()
    load._settle(DB_NAME)
    return time.monotonic() - began


# ------------------------------------------------------------------ clients


def _create_all(port: int, key: str, customers: list[str], add_on: str, count: int,
                clients: int) -> tuple[list[float], list[str], int]:  # fmt: skip
    """``count`` creates by ``clients`` threads, each on one keep-alive
    connection; (latencies in seconds, invoice ids, answers that were not 200)."""
    latencies: list[float] = []
    ids: list[str] = []
    failures = [0]
    lock = threading.Lock()
    turn = iter(range(count))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                n = next(turn, None)
            if n is None:
                break
            body = json.dumps({"invoice": {
                "external_customer_id": customers[n % len(customers)],
                "fees": [{"add_on_code": add_on}],
            }})  # fmt: skip
            started = time.perf_counter()
            conn.request("POST", "/api/v1/invoices", body, headers)
            response = conn.getresponse()
            answer = response.read()
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                if response.status == 200:
                    ids.append(json.loads(answer)["invoice"]["lago_id"])
                else:
                    failures[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, ids, failures[0]


# ------------------------------------------------------------------ processes


def _start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    # A session of its own: stopping it stops its children (Celery's pool,
    # scripts/worker.sh's two workers) and nothing else. Its output goes to a
    # file under VAR_DIR, shown if the run fails.
    log = open(Path(env["VAR_DIR"]) / f"{name}.log", "wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _tails(env: dict) -> str:
    """The last lines each process wrote."""
    parts = []
    for log in sorted(Path(env["VAR_DIR"]).glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        parts.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(parts)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _procfile_command(name: str) -> list[str]:
    line = next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    words = shlex.split(line)
    if words[0] == "celery":
        words = [sys.executable, "-m", "celery", *words[1:]]
    return words


def _host_speed(seconds: float = 0.5) -> float:
    """Median ms of one round of a fixed one-core workload (a JSON round trip
    and a sort of 2,000 small dicts), rounds back to back for ``seconds``.

    This machine's two cores are shares of a host: the same code's figures
    move with how much of it the host gives, by up to 3x within the hour (on
    12-05 this took 2.9 ms a round when the host was quiet, 4.8-9.3 ms when it
    was not). Measured just before and just after the timed run, the
    pipeline idle, so each run says which kind of machine it ran on."""
    data = [{"id": i, "name": f"item {i}", "amount": i * 37 % 1000} for i in range(2000)]
    rounds: list[float] = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until or len(rounds) < 20:
        began = time.perf_counter()
        json.loads(json.dumps(data))
        sorted(data, key=lambda d: (d["amount"], d["name"]))
        rounds.append(time.perf_counter() - began)
    return 1000 * statistics.median(rounds)


def _rate(count: int, start: float, end: float) -> str:
    return f"{count / (end - start):7.1f}/s" if end > start else "      -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument(
        "--history", type=int, default=20_000,
        help="earlier invoices in the database before the run (_history, in fives); 0 for none",
    )  # fmt: skip
    parser.add_argument("--redis-db", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the end")
    parser.add_argument(
        "--unprepared", action="store_true",
        help="DB_PREPARED_STATEMENTS=0: the hand-written statements are not prepared",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=load.WORKERS,
        help="gunicorn workers (default: the Procfile's WEB_CONCURRENCY default)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-db", action="store_true",
        help=f"leave the database {DB_NAME} in place, to inspect its plans and statistics",
    )  # fmt: skip
    args = parser.parse_args()
    load.set_workers(args.workers)

    port, receiver_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _environment(DB_NAME, args.redis_db, base, "INFO")
    env["DB_PREPARED_STATEMENTS"] = "0" if args.unprepared else "1"
    # The receiver listens on 127.0.0.1, which the SSRF guard refuses by default.
    env["WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    # scripts/worker.sh runs ``celery``: this interpreter's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")
    shutil.rmtree(env["VAR_DIR"], ignore_errors=True)
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    os.environ.update(env)

    import django

    django.setup()
    import logging

    import redis
    from django.core.management import call_command
    from django.db import connections

    logging.getLogger().setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    broker = redis.Redis.from_url(env["REDIS_URL"])
    broker.flushdb()

    context = multiprocessing.get_context("spawn")
    ready, (ours, theirs) = context.Event(), context.Pipe()
    receiver = context.Process(target=_receive, args=(receiver_port, ready, theirs), daemon=True)
    processes: list[subprocess.Popen] = []
    backends = _Backends(DB_NAME)
    try:
        key, customers, add_on, history = _seed(
            args.customers, f"http://127.0.0.1:{receiver_port}/hook"
        )
        connections.close_all()
        receiver.start()
        ready.wait(30)
        web = _start("web", procfile_web_command(port), env)
        processes.append(web)
        _wait_up(base, web)
        worker = _start("worker", ["bash", str(ROOT / "scripts" / "worker.sh")], env)
        beat = _start("beat", _procfile_command("beat"), env)
        processes += [worker, beat]
        print(f"web: {shlex.join(procfile_web_command(port)[2:])} (WEB_CONCURRENCY={load.WORKERS})")
        print("worker: scripts/worker.sh; beat: the Procfile's; receiver: asyncio, 200 at once")
        print(f"PostgreSQL {DB_NAME}, Redis db {args.redis_db}, DEBUG off, LOG_LEVEL=INFO "
              f"(to files under VAR_DIR), "
              f"DB_PREPARED_STATEMENTS={env['DB_PREPARED_STATEMENTS']}")  # fmt: skip

        def received() -> dict:
            ours.send("dump")
            return ours.recv()

        def generated(ids: set) -> list[float]:
            return [t for t, i in received().get("invoice.generated", []) if i in ids]

        # The whole chain once, before the clock starts.
        _, warm, failed = _create_all(port, key, customers, add_on, WARM_UP, 1)
        deadline = time.monotonic() + 120
        while len(generated(set(warm))) < WARM_UP and time.monotonic() < deadline:
            time.sleep(0.5)
        if failed or len(generated(set(warm))) < WARM_UP:
            print(_tails(env))
            raise SystemExit("the warm-up invoices did not go through the whole chain")
        if args.history >= WARM_UP:
            took = _history(args.history, history)
            print(
                f"history: {args.history // WARM_UP * WARM_UP} earlier invoices with every row "
                f"they wrote, copied from the warm-up's, then VACUUM ANALYZE ({took:.1f} s)"
            )

        groups = {"gunicorn": web.pid, "worker.sh (pdf + webhooks)": worker.pid, "beat": beat.pid,
                  "receiver": receiver.pid}  # fmt: skip
        redis_pid = next((p.pid for p in psutil.process_iter(["name"])
                          if (p.info["name"] or "").startswith("redis-server")), None)  # fmt: skip
        # worker.sh's two Celery workers, shown apart under its line.
        queues = {}
        for child in psutil.Process(worker.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                argv = child.cmdline()
                if "-Q" in argv:
                    queues[f"  of which the {argv[argv.index('-Q') + 1]} worker"] = child.pid
        # Before the CPU counters are read: the probe is not the clients' work.
        speed_before = _host_speed()
        cpu_before = {name: _tree_cpu(pid) for name, pid in groups.items()}
        cpu_before["clients (this process)"] = _own_cpu()
        parts_before = {name: _tree_cpu(pid) for name, pid in queues.items()}
        redis_before = _tree_cpu(redis_pid) if redis_pid else 0.0
        backends.sample()
        pg_before = dict(backends.seen)
        backends.start()

        print(f"{args.invoices} invoices, {args.clients} clients, {args.customers} customers")
        start = time.time()
        latencies, ids, failures = _create_all(
            port, key, customers, add_on, args.invoices, args.clients
        )
        created = time.time()
        wanted = set(ids)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            done = len(generated(wanted))
            if done >= len(wanted):
                break
            print(f"  {time.time() - start:6.1f} s: {done}/{len(wanted)} invoice.generated")
            time.sleep(5)
        arrivals = received()
        cpu_after = {name: _tree_cpu(pid) for name, pid in groups.items()}
        parts_after = {name: _tree_cpu(pid) for name, pid in queues.items()}
        cpu_after["clients (this process)"] = _own_cpu()
        redis_after = _tree_cpu(redis_pid) if redis_pid else 0.0
        speed_after = _host_speed()
        backends.stopped.set()
        backends.join()
        backends.sample()

        from invoicing.models import PdfJob

        finished = sorted(
            t.timestamp()
            for t in PdfJob.objects.filter(
                invoice_id__in=list(wanted), state=PdfJob.State.READY
            ).values_list("finished_at", flat=True)
        )
        connections.close_all()
        received_times = {
            event: sorted(t for t, i in arrivals.get(event, []) if i in wanted)
            for event in ("invoice.created", "invoice.generated")
        }
        stages = [
            ("PDFs stored", finished),
            ("invoice.created received", received_times["invoice.created"]),
            ("invoice.generated received", received_times["invoice.generated"]),
        ]
        n = args.invoices
        last = received_times["invoice.generated"]
        print()
        if len(last) == len(ids) == n:
            took = last[-1] - start
            print(f"end to end: {n} invoices in {took:.1f} s = {n / took:.1f} invoices/s "
                  "(to the last invoice.generated received)")  # fmt: skip
        else:
            print(f"end to end: INCOMPLETE, {len(last)}/{n} invoice.generated "
                  f"after {args.timeout:.0f} s ({len(ids)} created)")  # fmt: skip
        print(f"{'stage':28} {'done':>6} {'from start':>10} {'own pace':>10}")
        print(f"{'creates answered (200)':28} {len(ids):6d} "
              f"{_rate(len(ids), start, created):>10}")  # fmt: skip
        for name, times in stages:
            if not times:
                print(f"{name:28} {0:6d}")
                continue
            print(f"{name:28} {len(times):6d} {_rate(len(times), start, times[-1]):>10} "
                  f"{_rate(len(times), times[0], times[-1]):>10}")  # fmt: skip
        ms = sorted(1000 * t for t in latencies)
        print(f"create latency: p50 {statistics.median(ms):.1f} ms, "
              f"p99 {ms[max(0, int(len(ms) * 0.99) - 1)]:.1f} ms, max {ms[-1]:.1f} ms; "
              f"{failures} answers not 200")  # fmt: skip
        print("CPU per invoice (ms), over the timed run:")
        total = 0.0
        rows = [(name, cpu_after[name] - cpu_before[name]) for name in cpu_before]
        pg = sum(v - pg_before.get(pid, 0.0) for pid, v in backends.seen.items())
        rows.insert(3, (f"PostgreSQL backends ({len(backends.seen)})", pg))
        for name, seconds in rows:
            total += seconds
            print(f"  {name:34} {1000 * seconds / n:7.2f}")
            if name.startswith("worker.sh"):
                for part, before in parts_before.items():
                    print(f"  {part:34} {1000 * (parts_after[part] - before) / n:7.2f}")
        print(f"  {'total':34} {1000 * total / n:7.2f}")
        if redis_pid:
            print(f"  {'redis-server (shared)':34} {1000 * (redis_after - redis_before) / n:7.2f}")
        print(f"host speed: a fixed one-core workload took {speed_before:.2f} ms a round just "
              f"before the run, {speed_after:.2f} ms just after (2.9 ms on a quiet host on "
              "12-05, 4.8-9.3 ms on busy ones; every figure above moves with it)")  # fmt: skip
    finally:
        for process in reversed(processes):
            _stop(process)
        if receiver.is_alive():
            with contextlib.suppress(OSError):
                ours.send("stop")
            receiver.join(5)
            if receiver.is_alive():
                receiver.terminate()
        connections.close_all()
        if not args.keep_db:
            _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        broker.flushdb()
        shutil.rmtree(env["VAR_DIR"], ignore_errors=True)
    argv = shlex.join(sys.argv[1:])
    print(f"reproduce: .venv/bin/python bench/monthend.py{' ' + argv if argv else ''}")


if __name__ == "__main__":
    main()
