"""Load benchmark of the web tier: wrk against gunicorn on this machine.

    .venv/bin/python bench/load.py                      # ~10 s per endpoint, ~1.5 min in all
    .venv/bin/python bench/load.py --duration 5         # shorter runs
    .venv/bin/python bench/load.py --repeat 3           # 3 rounds over the endpoints, medians
    .venv/bin/python bench/load.py --log-level WARNING  # without the JSON line per request
    .venv/bin/python bench/load.py --only download,pdf_url  # those two and the reference

It creates a scratch database (``bench_load``, dropped at the end, analyzed
after seeding as a live one would be) and uses a Redis database of its own
(14 by default, flushed at the start and the end), seeds one organization
with invoices whose PDFs are rendered and stored in-process, and starts
gunicorn with the Procfile's own ``web`` command line (read from the
Procfile, so its options are the ones measured: sync workers, the
``--max-requests`` recycling) with the Procfile's default worker count
(``WEB_CONCURRENCY``, 2; ``--workers N`` for another), bound to 127.0.0.1 instead of
0.0.0.0, and the environment of production: DEBUG off, LOG_LEVEL=INFO (the
default: one JSON line per request, to stderr, here /dev/null) unless
``--log-level`` says otherwise, persistent database connections
(``DB_CONN_MAX_AGE`` 600) and ``PROMETHEUS_MULTIPROC_DIR`` set (README
"Metrics": several processes). wrk (``scripts/install-system-packages.sh``
installs it) then runs, with 2 threads and 32 connections, for each endpoint:

- the reference: a plain DRF endpoint doing one indexed PostgreSQL query
  (``GET /bench/reference/<uuid>``, three columns of an invoice by primary
  key, through the ORM, no authentication). The service has no such route
  and gets none: a second gunicorn, started by the same command line, serves
  ``bench/reference_app.py``, which is the project (settings, middleware,
  URLs) plus that one URL. Issue 8's target is a share of this figure, so it
  is measured on the same machine, in the same round;
- ``GET /healthz``: the floor (no database, no DRF);
- ``POST /api/v1/invoices/:id/download`` of a stored PDF (Lago);
- ``GET /api/invoices/invoice_<hex>/pdf_url/`` of a stored PDF (Lotus);
- ``GET /api/v1/invoices/:id``, an invoice with one fee (Lago show);
- ``POST /api/v1/invoices`` with one fee (Lago create: real invoices, in the
  scratch database).

Requests cycle over 50 invoices. Both servers stay up (an idle one costs
nothing) and each round runs every endpoint once, the reference first. It
prints requests/s, p50 and p99 of each, requests/s as a percentage of the
reference's in the same round, and how many answers were not 2xx; and the CPU
time per request of the server's gunicorn processes and of its PostgreSQL
backends (from /proc), with the reference's total over the endpoint's as a
second percentage: on a machine shared with other work, CPU per request moves
much less than requests/s. With ``--repeat N`` these are medians over N
rounds (one after the other, so a burst of load from elsewhere does not land
on one endpoint only), and each round's requests/s follow. wrk shares the 2
cores with gunicorn and PostgreSQL. Traffic goes only to 127.0.0.1; both
gunicorns are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_load"
PG = "postgres://postgres@127.0.0.1:5432"


def _procfile_default(variable: str) -> str:
    """The default the Procfile's ``web`` line gives ``variable`` (``${VAR:-default}``)."""
    web = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    return re.search(r"\$\{" + variable + r":-([^}]*)\}", web)[1]


# gunicorn workers: the Procfile's own count unless --workers says otherwise.
WORKERS = int(_procfile_default("WEB_CONCURRENCY"))
CONNECTIONS = 32
THREADS = 2
# Invoices to spread the download and show requests over (each has a stored PDF).
SEEDED_INVOICES = 50
REFERENCE_APP = "bench.reference_app:application"


@dataclass(frozen=True)
class Endpoint:
    key: str
    name: str
    method: str
    path: str  # ``{id}`` / ``{hex}``: each seeded invoice's id in turn
    body: str = ""
    reference: bool = False

    def paths(self, invoices) -> list[str]:
        if "{" not in self.path:
            return [self.path]
        return [self.path.format(id=i.id, hex=i.id.hex) for i in invoices]


_CREATE = json.dumps(
    {"invoice": {"external_customer_id": "bench", "fees": [{"add_on_code": "bench"}]}}
)
ENDPOINTS = [
    Endpoint("reference", "reference: plain DRF, one indexed SELECT", "GET",
             "/bench/reference/{id}", reference=True),
    Endpoint("healthz", "GET /healthz (floor)", "GET", "/healthz"),
    Endpoint("download", "Lago POST /api/v1/invoices/:id/download (stored PDF)", "POST",
             "/api/v1/invoices/{id}/download"),
    Endpoint("pdf_url", "Lotus GET /api/invoices/:id/pdf_url/ (stored PDF)", "GET",
             "/api/invoices/invoice_{hex}/pdf_url/"),
    Endpoint("show", "Lago GET /api/v1/invoices/:id (1 fee)", "GET", "/api/v1/invoices/{id}"),
    Endpoint("create", "Lago POST /api/v1/invoices (1 fee)", "POST", "/api/v1/invoices",
             body=_CREATE),
]  # fmt: skip


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def _settle(db_name: str = DB_NAME) -> None:
    """After an endpoint that wrote (create: thousands of invoices, with their
    fees, jobs and events), vacuum and analyze the scratch database before
    anything else is measured: autovacuum would otherwise do it in the middle
    of a later endpoint's run (the next round's pdf_url fell from 83 to 69 %
    of the reference, its PostgreSQL CPU per request counting an autovacuum
    worker's), and the planner would meanwhile plan with the seed's
    statistics."""
    subprocess.run(["psql", f"{PG}/{db_name}", "-qc", "VACUUM ANALYZE"], check=True,
                   capture_output=True)  # fmt: skip


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
    if body:
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


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """utime + stime of a process (plus its reaped children's with ``reaped``:
    gunicorn's workers recycled by ``--max-requests`` end up there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = sum(int(fields[i]) for i in ((11, 12, 13, 14) if reaped else (11, 12)))
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_cpu(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of gunicorn (master, live and reaped workers) and of
    each PostgreSQL backend connected to the bench database."""
    out = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True)
    gunicorn = _cpu_seconds(server_pid, reaped=True)
    gunicorn += sum(_cpu_seconds(int(pid)) for pid in out.stdout.split())
    backends = subprocess.run(
        ["psql", f"{PG}/postgres", "-Atc",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB_NAME}'"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {"gunicorn": gunicorn, **{f"pg{pid}": _cpu_seconds(int(pid)) for pid in backends}}


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """(gunicorn, PostgreSQL) CPU seconds between two samples; a backend that
    appeared in between counts from its start."""
    postgres = sum(v - before.get(k, 0.0) for k, v in after.items() if k != "gunicorn")
    return after["gunicorn"] - before["gunicorn"], postgres


def _wrk(base: str, script: str, key: str | None, duration: int, server_pid: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency",
               "--timeout", "5s", "-s", f.name]  # fmt: skip
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    before = _server_cpu(server_pid)
    out = subprocess.run(
        [*command, base], capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    gunicorn_s, postgres_s = _cpu_delta(before, _server_cpu(server_pid))
    os.unlink(f.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "cpu_web_ms": 1000 * gunicorn_s / requests,
        "cpu_db_ms": 1000 * postgres_s / requests,
    }


def _seed() -> tuple[str, list]:
    """An organization, its key, and invoices (one fee each) with stored PDFs."""
    from django.db import connection

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
    # Planner statistics, as a live database has them (autovacuum may not
    # have analyzed fresh tables yet, and plans without them differ).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return key, invoices


def _environment(db_name: str, redis_db: int, base: str, log_level: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only",
        "DATABASE_URL": f"{PG}/{db_name}",
        "DB_CONN_MAX_AGE": "600",
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "VAR_DIR": f"/tmp/{db_name}-var",
        "PUBLIC_BASE_URL": base,
        # The benchmark's one key makes the load on purpose: limits out of
        # reach, but still counted, so their cost is in the figures.
        "API_RATE_LIMIT_PER_KEY": "100000000/min",
        "API_RATE_LIMIT_PER_ORGANIZATION": "100000000/min",
        "LOG_LEVEL": log_level,
        "WEB_CONCURRENCY": str(WORKERS),
        # Several processes: metrics in prometheus-client's multiprocess mode,
        # as README "Metrics" says to run them (emptied at the start).
        "PROMETHEUS_MULTIPROC_DIR": f"/tmp/{db_name}-var/metrics",
    }


@contextlib.contextmanager
def scratch_environment(db_name: str, redis_db: int, base: str, log_level: str):
    """A scratch database and Redis database, this process's environment and
    Django set up on them, and the seed; yields ``(api key, invoices)`` and
    removes it all afterwards."""
    _psql(f"DROP DATABASE IF EXISTS {db_name}")
    _psql(f"CREATE DATABASE {db_name}")
    env = _environment(db_name, redis_db, base, log_level)
    shutil.rmtree(env["VAR_DIR"], ignore_errors=True)
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    os.environ.update(env)
    import django

    django.setup()
    # The seeding's own lines (one per PDF stored) are not the benchmark's.
    logging.getLogger().setLevel(logging.WARNING)
    import redis
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    try:
        key, invoices = _seed()
        connections.close_all()
        yield key, invoices
    finally:
        connections.close_all()
        _psql(f"DROP DATABASE IF EXISTS {db_name}")
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        shutil.rmtree(env["VAR_DIR"], ignore_errors=True)


def set_workers(count: int) -> None:
    """Run gunicorn with ``count`` workers instead of the Procfile's default."""
    global WORKERS
    WORKERS = count


def procfile_web_command(port: int, app: str | None = None) -> list[str]:
    """The Procfile's ``web`` line with ``PORT`` and ``WEB_CONCURRENCY`` filled
    in, bound to 127.0.0.1 (traffic stays on this machine), optionally serving
    another WSGI application with the same options."""
    line = next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    values = {"PORT": str(port), "WEB_CONCURRENCY": str(WORKERS)}
    line = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: values.get(m[1], m[2]), line)
    words = shlex.split(line)
    assert words[0] == "gunicorn", words
    words = [sys.executable, "-m", "gunicorn", *words[1:]]
    bind = words.index("--bind") + 1
    words[bind] = f"127.0.0.1:{port}"
    if app is not None:
        words[words.index("billing_project.wsgi:application")] = app
    return words


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


@contextlib.contextmanager
def _gunicorn(command: list[str], base: str, *, clear_metrics: bool = True):
    if clear_metrics:  # at each start, as README "Metrics" asks
        for sample in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).iterdir():
            sample.unlink()
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_up(base, server)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _chosen(only: str) -> list:
    """The endpoints ``--only`` names, the reference first whatever it says."""
    if not only:
        return ENDPOINTS
    keys = {key.strip() for key in only.split(",") if key.strip()}
    unknown = keys - {e.key for e in ENDPOINTS}
    if unknown:
        raise SystemExit(f"--only: no endpoint {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(e.key for e in ENDPOINTS)})")  # fmt: skip
    return [e for e in ENDPOINTS if e.reference or e.key in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per endpoint")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the endpoints")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--log-level", default="INFO", help="gunicorn's LOG_LEVEL")
    parser.add_argument(
        "--workers", type=int, default=WORKERS, help="gunicorn workers (default: the Procfile's)"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated endpoint keys (the reference always runs)"
    )
    args = parser.parse_args()
    set_workers(args.workers)
    endpoints = _chosen(args.only)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: scripts/install-system-packages.sh installs it")

    port, reference_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    reference_base = f"http://127.0.0.1:{reference_port}"
    with scratch_environment(DB_NAME, args.redis_db, base, args.log_level) as (key, invoices):
        service = procfile_web_command(port)
        print(f"gunicorn: {shlex.join(service[2:])}")
        print(f"  DEBUG off, LOG_LEVEL={args.log_level} (stderr to /dev/null), "
              "DB_CONN_MAX_AGE=600, PROMETHEUS_MULTIPROC_DIR set, PostgreSQL "
              f"{DB_NAME}; reference: the same command serving {REFERENCE_APP}")  # fmt: skip
        print(f"wrk: {THREADS} threads, {CONNECTIONS} connections, {args.duration} s each, "
              f"{args.repeat} round(s) over the endpoints, on the same 2 cores")  # fmt: skip
        rounds: list[dict[str, dict]] = []
        with (
            _gunicorn(service, base) as server,
            _gunicorn(procfile_web_command(reference_port, REFERENCE_APP), reference_base,
                      clear_metrics=False) as reference,
        ):  # fmt: skip
            for _ in range(args.repeat):
                results = {}
                for e in endpoints:
                    script = _lua(e.method, e.paths(invoices), e.body)
                    if e.reference:
                        results[e.key] = _wrk(reference_base, script, None, args.duration,
                                              reference.pid)  # fmt: skip
                    else:
                        results[e.key] = _wrk(base, script, key, args.duration, server.pid)
                    if e.method == "POST" and e.body:
                        _settle()
                ref = results["reference"]
                ref_cpu = ref["cpu_web_ms"] + ref["cpu_db_ms"]
                for r in results.values():
                    r["pct"] = 100 * r["rps"] / ref["rps"]
                    r["pct_cpu"] = 100 * ref_cpu / (r["cpu_web_ms"] + r["cpu_db_ms"])
                rounds.append(results)
        median = {
            e.key: {f: statistics.median(r[e.key][f] for r in rounds) for f in rounds[0][e.key]}
            for e in endpoints
        }
        what = f"medians of {args.repeat} rounds" if args.repeat > 1 else "1 round"
        print(f"{what}. % ref: req/s over the reference's in the same round; cpu web, cpu db: "
              "CPU ms per request of gunicorn and of its PostgreSQL backends, steadier than "
              "req/s on a shared machine; % ref cpu: the reference's web + db CPU over the "
              "endpoint's")  # fmt: skip
        print(f"{'endpoint':56} {'req/s':>6} {'p50 ms':>6} {'p99 ms':>6} {'% ref':>5} "
              f"{'cpu web':>7} {'cpu db':>6} {'% ref cpu':>9} {'non-2xx':>7}")  # fmt: skip
        for e in endpoints:
            r = median[e.key]
            pct_cpu = "" if e.key == "healthz" else f"{r['pct_cpu']:8.0f}%"
            print(f"{e.name:56} {r['rps']:6.0f} {r['p50']:6.1f} {r['p99']:6.1f} "
                  f"{r['pct']:4.0f}% {r['cpu_web_ms']:7.2f} {r['cpu_db_ms']:6.2f} "
                  f"{pct_cpu:>9} {r['non_2xx']:7.0f}")  # fmt: skip
        if args.repeat > 1:
            print("req/s (% ref) of each round:")
            for e in endpoints:
                print(f"  {e.key:10} "
                      + " ".join(f"{r[e.key]['rps']:6.0f} ({r[e.key]['pct']:3.0f}%)"
                                 for r in rounds))  # fmt: skip
    argv = shlex.join(sys.argv[1:])
    print(f"reproduce: .venv/bin/python bench/load.py{' ' + argv if argv else ''}")


if __name__ == "__main__":
    main()
