"""A whole deployment on 127.0.0.1, started from the test process and driven
from outside: a PostgreSQL cluster and a Redis server of its own (so that
restarting them disturbs neither the machine's shared services nor the rest
of the test run), gunicorn with 2 sync workers, the Procfile's two Celery
workers (one per queue), beat, and webhook receivers in the test process.

Every process runs the production settings module with DEBUG off; only the
recovery clocks (sweep intervals, leases, retry schedule) are shortened so
that recovery shows within seconds instead of minutes. The tests read the
database with plain SQL and the object store as files, never through the
processes under test.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import psycopg
import requests

from tests.progress import progress as say

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, every=0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (psycopg.OperationalError, requests.ConnectionError):
            value = None  # a service being restarted: ask again
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# --------------------------------------------------------------- services


class Postgres:
    """A throwaway cluster (initdb) on its own port. PostgreSQL refuses to
    run as root, so as root the cluster belongs to the ``postgres`` user."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.data = root / "pg"
        self.log = root / "pg.log"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = Path(bins[-1]) if bins else None
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_user, str(self.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def init(self) -> None:
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed")
        self.data.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            # Durability is not what these tests are about; a lost commit
            # would only be lost test data, and fsync makes restarts slow.
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.data}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "billing")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/billing"


class Redis:
    """A Redis server of its own, keeping nothing on disk like the machine's:
    a restart loses every queued message, which is the worst case."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.root = root
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=open(self.root / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.ping, timeout=10, what="redis")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# ------------------------------------------------------------- processes


class Process:
    """One of the service's own processes (its whole process group)."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path, ready: Callable):
        self.name, self.argv, self.env, self.log_path, self.ready = name, argv, env, log, ready
        self.proc: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self, timeout: float = 60) -> Process:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ready(self):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout} s: {self.log_tail()}")
            time.sleep(0.1)
        return self

    def log_since_start(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            return log.read().decode("utf-8", "replace")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tree(self) -> list[psutil.Process]:
        if not self.alive:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def signal(self, sig: int) -> None:
        if self.alive:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group, parent and children, as a crashed host would."""
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


# ------------------------------------------------------------- receiver


@dataclass
class Received:
    delivery_id: str
    webhook_type: str
    object_id: str


@dataclass
class WebhookReceiver:
    """Records every webhook it is sent. ``hold`` makes it keep requests
    waiting (a slow receiver) until released; ``fail`` answers 500 instead."""

    received: list[Received] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    fail: bool = False

    def __post_init__(self):
        self.released = threading.Event()
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.set()
                if receiver.hold.is_set():
                    receiver.released.wait(timeout=60)
                if receiver.fail:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = json.loads(body)
                object_type = payload.get("object_type", "")
                obj = payload.get(object_type) or {}
                with receiver.lock:
                    receiver.received.append(
                        Received(
                            self.headers["X-Lago-Unique-Key"],
                            payload["webhook_type"],
                            obj.get("lago_id", ""),
                        )
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.delivery_id for r in self.received]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------- stack


@dataclass
class Tenant:
    organization_id: str
    key: str
    customer: str = "system-customer"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Stack:
    # Each queue's worker with the processes scripts/worker.sh gives it by default.
    WORKERS = {"pdf": 2, "webhooks": 1}

    def __init__(self, **settings: object):
        self.root = Path(tempfile.mkdtemp(prefix="invoicing-system-"))
        os.chmod(self.root, 0o755)  # the postgres user reaches its data below it
        self.pg = Postgres(self.root)
        self.redis = Redis(self.root)
        self.web_port = free_port()
        self.settings = settings
        self.processes: dict[str, Process] = {}

    # -- lifecycle

    @property
    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "DJANGO_", "PYTEST", "VAR_DIR"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="billing_project.settings",
            DEBUG="0",
            SECRET_KEY="system-test-secret-key",
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            VAR_DIR=str(self.root / "var"),
            PUBLIC_BASE_URL=self.base_url,
            WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            LOG_FORMAT="plain",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PROMETHEUS_MULTIPROC_DIR=str(self.root / "metrics"),
            # The load these tests make with one key is the point, not a
            # tenant to hold back (the limits are tested in the API tests).
            API_RATE_LIMIT_PER_KEY="",
            API_RATE_LIMIT_PER_ORGANIZATION="",
            # Recovery clocks, shortened (production values in README).
            PDF_SWEEP_INTERVAL_SECONDS="1",
            PDF_REQUEUE_AFTER_SECONDS="3",
            PDF_RENDER_LEASE_SECONDS="8",
            WEBHOOK_SWEEP_INTERVAL_SECONDS="1",
            WEBHOOK_REQUEUE_AFTER_SECONDS="3",
            WEBHOOK_TIMEOUT_SECONDS="5",
            WEBHOOK_LEASE_MARGIN_SECONDS="2",
            WEBHOOK_RETRY_SCHEDULE="0,1s,1s,2s,2s,3s,3s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s,5s",
            LOTUS_PDF_WAIT_SECONDS="2",
        )
        env.update({k: str(v) for k, v in self.settings.items()})
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> Stack:
        began = time.monotonic()
        say("deployment: starting PostgreSQL, Redis, gunicorn, workers and beat")
        (self.root / "var").mkdir()
        (self.root / "metrics").mkdir()
        self.pg.init()
        self.redis.start()
        self.manage("migrate", "--noinput")
        py = sys.executable
        self.processes["web"] = Process(
            "web",
            [
                py,
                "-m",
                "gunicorn",
                "billing_project.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--graceful-timeout",
                "10",
            ],
            self.env,
            self.root / "web.log",
            ready=lambda p: self._healthy(),
        )
        for queue, concurrency in self.WORKERS.items():
            self.processes[queue] = Process(
                queue,
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "billing_project",
                    "worker",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "-c",
                    str(concurrency),
                    "--loglevel",
                    "INFO",
                ],
                self.env,
                self.root / f"worker-{queue}.log",
                ready=lambda p: " ready." in p.log_since_start(),
            )
        self.processes["beat"] = Process(
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "billing_project",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(self.root / "beat-schedule"),
            ],
            self.env,
            self.root / "beat.log",
            ready=lambda p: "beat: Starting" in p.log_since_start(),
        )
        for process in self.processes.values():
            process.start()
        say(f"deployment: up in {time.monotonic() - began:.0f} s")
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop(timeout=15)
        self.redis.stop()
        self.pg.stop("immediate")

    def revive(self) -> None:
        """Bring back whatever an earlier test left stopped."""
        if not self.redis.ping():
            self.redis.start()
        if self.pg._run("pg_ctl", "-D", str(self.pg.data), "status", check=False).returncode:
            self.pg.start()
        for process in self.processes.values():
            if not process.alive:
                process.start()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def manage(self, *argv: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed: {out.stderr[-3000:]}")
        return out.stdout

    def logs(self) -> str:
        """Every process's log tail, for a failing assertion's message."""
        return "\n".join(
            f"--- {name}\n{process.log_tail(2000)}" for name, process in self.processes.items()
        )

    # -- reading the truth

    def sql(self, query: str, *params) -> list[tuple]:
        def run():
            with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=3) as conn:
                return conn.execute(query, params).fetchall()

        return _retry(run)

    def stored_files(self, organization_id: str) -> dict[str, list[Path]]:
        """The object store's PDFs of one organization, by invoice or credit
        note id (each has a folder of its own)."""
        found = {}
        for kind in ("invoices", "credit_notes"):
            base = self.root / "var" / "files" / kind / organization_id
            if base.exists():
                found.update(
                    {d.name: sorted(d.glob("*.pdf")) for d in base.iterdir() if d.is_dir()}
                )
        return found

    # -- driving it as a client would

    def tenant(self, name: str, *, webhook_urls: tuple[str, ...] = ()) -> Tenant:
        created = json.loads(self.manage("create_organization", "--name", name, "--json"))
        tenant = Tenant(created["organization_id"], created["api_key"])
        api = self.session(tenant)
        for url in webhook_urls:
            api.post(
                "/api/v1/webhook_endpoints", json={"webhook_endpoint": {"webhook_url": url}}
            ).raise_for_status()
        api.post(
            "/api/v1/customers",
            json={
                "customer": {
                    "external_id": tenant.customer,
                    "name": "System Test Ltd",
                    "currency": "EUR",
                }
            },
        ).raise_for_status()
        api.post(
            "/api/v1/add_ons",
            json={
                "add_on": {
                    "name": "Service",
                    "code": "service",
                    "amount_cents": 12_500,
                    "amount_currency": "EUR",
                }
            },
        ).raise_for_status()
        return tenant

    def session(self, tenant: Tenant) -> Api:
        return Api(self.base_url, tenant)

    # -- the invariants the README promises

    def reconcile(
        self,
        tenant: Tenant,
        receivers: list[WebhookReceiver],
        *,
        stall: float = 60,
        timeout: float = 600,
        progress: bool = False,
    ) -> dict:
        """Wait for the work to settle, then check every promise on the
        database and the object store. Returns the counts it checked.

        A backlog may take a while to drain on a busy machine: waiting goes on
        while the open work shrinks, and fails once nothing moved for
        ``stall`` seconds (stuck) or after ``timeout`` in all."""
        org = tenant.organization_id

        def open_work() -> tuple[int, int]:
            open_jobs = self.sql(
                "SELECT count(*) FROM invoicing_pdfjob WHERE organization_id = %s"
                " AND is_current AND state <> 'ready'",
                org,
            )[0][0]
            open_deliveries = self.sql(
                "SELECT count(*) FROM invoicing_webhookdelivery d"
                " JOIN invoicing_webhookevent e ON e.id = d.event_id"
                " WHERE e.organization_id = %s AND d.status <> 'succeeded'",
                org,
            )[0][0]
            return open_jobs, open_deliveries

        started = last_move = reported = time.monotonic()
        last = best = open_work()
        while sum(last) > 0:
            now = time.monotonic()
            if now - last_move > stall or now - started > timeout:
                jobs = self.sql(
                    "SELECT state, attempts, last_error FROM invoicing_pdfjob"
                    " WHERE organization_id = %s AND is_current AND state <> 'ready' LIMIT 5",
                    org,
                )
                deliveries = self.sql(
                    "SELECT d.status, d.attempt_count, d.last_error"
                    " FROM invoicing_webhookdelivery d"
                    " JOIN invoicing_webhookevent e ON e.id = d.event_id"
                    " WHERE e.organization_id = %s AND d.status <> 'succeeded' LIMIT 5",
                    org,
                )
                raise AssertionError(
                    f"not settled after {now - started:.0f} s ({last[0]} jobs, {last[1]}"
                    f" deliveries open, none done in the last {now - last_move:.0f} s):"
                    f" jobs {jobs}, deliveries {deliveries}\n{self.logs()}"
                )
            time.sleep(1 if progress else 0.2)
            last = open_work()
            if sum(last) < sum(best):
                best, last_move = last, time.monotonic()
            if now - reported >= 15:
                reported = now
                say(f"settling: {last[0]} PDF jobs, {last[1]} deliveries open")
        if time.monotonic() - started >= 15:
            say(f"settled in {time.monotonic() - started:.0f} s")

        # Unique numbers and one current job per invoice are the database's
        # constraints (invoice_number_unique, pdf_job_one_current): what is
        # left to check is what no constraint says. Numbers are gapless: in
        # each numbering scope the sequences are exactly 1..n.
        invoices = self.sql(
            "SELECT id::text, number_scope, number_sequence FROM invoicing_invoice"
            " WHERE organization_id = %s AND status IN ('finalized', 'voided')",
            org,
        )
        scopes: dict[str, list[int]] = {}
        for _, scope, sequence in invoices:
            scopes.setdefault(scope, []).append(sequence)
        for scope, sequences in scopes.items():
            assert sorted(sequences) == list(range(1, len(sequences) + 1)), (
                f"a gap in the numbers of {scope}"
            )

        # Credit notes have PDFs of their own, as invoices do.
        notes = {
            row[0]
            for row in self.sql(
                "SELECT id::text FROM invoicing_creditnote WHERE organization_id = %s", org
            )
        }
        jobs = self.sql(
            "SELECT coalesce(invoice_id, credit_note_id)::text, storage_key, checksum"
            " FROM invoicing_pdfjob WHERE organization_id = %s AND is_current",
            org,
        )
        by_invoice = {invoice_id: (key, checksum) for invoice_id, key, checksum in jobs}
        assert set(by_invoice) == {i for i, _, _ in invoices} | notes, (
            "a finalized invoice or a credit note without a PDF"
        )
        files = self.stored_files(org)
        for invoice_id, (key, checksum) in by_invoice.items():
            stored = files.get(invoice_id, [])
            # Exactly once: one object per invoice version, named by its checksum.
            assert [p.name for p in stored] == [f"{checksum}.pdf"], (invoice_id, stored)
            body = stored[0].read_bytes()
            assert hashlib.sha256(body).hexdigest() == checksum
            assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
            assert key.endswith(stored[0].name)
        assert set(files) == set(by_invoice), "an object no current job points to"

        # One event of each kind per invoice (one PDF version each here).
        events = self.sql(
            "SELECT event_type, object_id::text, count(*) FROM invoicing_webhookevent"
            " WHERE organization_id = %s GROUP BY 1, 2",
            org,
        )
        generated = {obj: n for kind, obj, n in events if kind == "invoice.generated"}
        assert generated == dict.fromkeys(set(by_invoice) - notes, 1), (
            "not one invoice.generated per invoice"
        )
        generated = {obj: n for kind, obj, n in events if kind == "credit_note.generated"}
        assert generated == dict.fromkeys(notes, 1), "not one credit_note.generated per credit note"

        deliveries = self.sql(
            "SELECT d.id::text, e.event_type, e.object_id::text, p.webhook_url"
            " FROM invoicing_webhookdelivery d"
            " JOIN invoicing_webhookevent e ON e.id = d.event_id"
            " JOIN invoicing_webhookendpoint p ON p.id = d.endpoint_id"
            " WHERE e.organization_id = %s",
            org,
        )
        event_count = sum(n for _, _, n in events)
        for receiver in receivers:
            mine = {d[0]: d for d in deliveries if d[3] == receiver.url}
            # Every event reached every endpoint, each delivery under one id.
            assert len(mine) == event_count, (receiver.url, len(mine), event_count)
            seen = set(receiver.ids())
            assert set(mine) <= seen, f"{len(set(mine) - seen)} deliveries never received"
            for r in receiver.received:
                if r.delivery_id in mine:
                    _, kind, object_id, _ = mine[r.delivery_id]
                    assert (r.webhook_type, r.object_id) == (kind, object_id)
        return {
            "invoices": len(invoices),
            "credit_notes": len(notes),
            "events": event_count,
            "deliveries": len(deliveries),
            "received": sum(len(r.received) for r in receivers),
        }


def _retry(run, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return run()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Api:
    """requests against gunicorn with one tenant's key."""

    def __init__(self, base_url: str, tenant: Tenant):
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers.update(tenant.headers)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def create_invoice(self, customer: str, *, draft: bool = False, units: int = 1) -> dict:
        fee = {"add_on_code": "service", "units": units}
        invoice = {"external_customer_id": customer, "fees": [fee]}
        if draft:
            invoice["status"] = "draft"
        response = self.post("/api/v1/invoices", json={"invoice": invoice})
        assert response.status_code == 200, response.text
        return response.json()["invoice"]
