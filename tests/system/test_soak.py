"""The soak: mixed traffic from several clients against the whole deployment
(tests/system/stack.py) for ``SOAK_SECONDS`` (default 600), a fault injected
every ``SOAK_FAULT_EVERY`` seconds (default 60), then recovery and the same
reconciliation as the fault tests, plus: every invoice a client was told was
created exists, no answer was a 500, and the memory of every process (each
service process with its children, Redis, PostgreSQL) stayed flat.

It runs only on demand, about 20 minutes with the drain: ``make soak`` (``SOAK_SECONDS=120
make soak`` for a short one). It sends traffic only to 127.0.0.1 and stops by
itself: the clients stop at the deadline and each request has a timeout.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import threading
import time
from collections import Counter

import psutil
import pytest
import requests

from tests.system.stack import WebhookReceiver

pytestmark = [pytest.mark.system, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", 600))
FAULT_EVERY = float(os.environ.get("SOAK_FAULT_EVERY", 60))
CLIENTS = 6
SAMPLE_EVERY = 5.0
# Memory is flat when the last third of the run's samples (median) exceeds the
# middle third's by less than this share plus this many bytes: room for caches
# that fill once, none for growth that goes on with traffic.
RSS_GROWTH_SHARE = 0.25
RSS_GROWTH_BYTES = 32 * 2**20


class Traffic:
    """Clients issuing a mix of the faces' calls until told to stop."""

    def __init__(self, stack, tenant):
        self.stack, self.tenant = stack, tenant
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.created: list[str] = []  # answered 200: must exist
        self.unsure = 0  # no answer (connection lost): may or may not exist

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        api = self.stack.session(self.tenant)
        lotus = {"X-API-KEY": self.tenant.key, "Authorization": None}
        while not self.stop.is_set():
            with self.lock:
                known = list(self.created[-200:])
            action = rng.choices(
                ["create", "download", "pdf_url", "show", "list"], [35, 25, 20, 10, 10]
            )[0]
            if action != "create" and not known:
                action = "create"
            invoice_id = rng.choice(known) if known else None
            try:
                if action == "create":
                    response = api.post(
                        "/api/v1/invoices",
                        json={
                            "invoice": {
                                "external_customer_id": self.tenant.customer,
                                "fees": [{"add_on_code": "service", "units": rng.randint(1, 9)}],
                            }
                        },
                        timeout=15,
                    )
                    if response.status_code == 200:
                        with self.lock:
                            self.created.append(response.json()["invoice"]["lago_id"])
                    elif response.status_code == 503:
                        # The database went away, perhaps during the commit.
                        with self.lock:
                            self.unsure += 1
                elif action == "download":
                    response = api.post(f"/api/v1/invoices/{invoice_id}/download", timeout=15)
                elif action == "pdf_url":
                    hex_id = invoice_id.replace("-", "")
                    response = api.get(
                        f"/api/invoices/invoice_{hex_id}/pdf_url/", headers=lotus, timeout=15
                    )
                elif action == "show":
                    response = api.get(f"/api/v1/invoices/{invoice_id}", timeout=15)
                else:
                    response = api.get("/api/v1/invoices?per_page=20", timeout=15)
                outcome = response.status_code
            except requests.RequestException as exc:
                outcome = type(exc).__name__
                if action == "create":
                    with self.lock:
                        self.unsure += 1
                time.sleep(0.2)
            with self.lock:
                self.outcomes[(action, outcome)] += 1
            # A well-behaved client waits as told while the service is away.
            time.sleep(1.0 if outcome == 503 else 0.01)


def _faults(stack, receivers):
    """Each a callable that injects one fault and brings the part back."""
    pdf, hooks = stack.processes["pdf"], stack.processes["webhooks"]

    def kill(process):
        process.kill()
        time.sleep(3)
        process.start()

    def warm_stop(process):
        process.signal(signal.SIGTERM)
        process.proc.wait(timeout=120)
        process.start()

    def kill_one_web_worker():
        workers = stack.processes["web"].tree()[1:]
        if workers:
            workers[0].kill()

    def receiver_down():
        receivers[0].fail = True
        time.sleep(20)
        receivers[0].fail = False

    def redis_restart():
        stack.redis.stop()
        time.sleep(3)
        stack.redis.start()

    def postgres_restart():
        stack.pg.stop("fast")
        time.sleep(3)
        stack.pg.start()

    return [
        ("SIGKILL the PDF worker", lambda: kill(pdf)),
        ("restart Redis", redis_restart),
        ("SIGKILL the webhook worker", lambda: kill(hooks)),
        ("restart PostgreSQL", postgres_restart),
        ("SIGTERM the PDF worker", lambda: warm_stop(pdf)),
        ("one receiver answers 500 for 20 s", receiver_down),
        ("SIGKILL a gunicorn worker", kill_one_web_worker),
        ("SIGTERM the webhook worker", lambda: warm_stop(hooks)),
        ("SIGKILL beat", lambda: kill(stack.processes["beat"])),
    ]


def _postgres_tree(stack) -> list[psutil.Process]:
    pid_file = stack.pg.data / "postmaster.pid"
    try:
        parent = psutil.Process(int(pid_file.read_text().split()[0]))
        return [parent, *parent.children(recursive=True)]
    except (OSError, ValueError, psutil.NoSuchProcess):
        return []


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _sample(stack) -> dict[str, int]:
    sample = {name: process.rss() for name, process in stack.processes.items()}
    if stack.redis.proc and stack.redis.proc.poll() is None:
        sample["redis"] = _rss([psutil.Process(stack.redis.proc.pid)])
    sample["postgres"] = _rss(_postgres_tree(stack))
    return sample


def test_soak(live_stack):
    stack = live_stack
    receivers = [WebhookReceiver(), WebhookReceiver()]
    tenant = stack.tenant("soak", webhook_urls=tuple(r.url for r in receivers))
    traffic = Traffic(stack, tenant)
    clients = [
        threading.Thread(target=traffic.run, args=(seed,), daemon=True) for seed in range(CLIENTS)
    ]
    samples: list[tuple[float, dict[str, int]]] = []
    faults = _faults(stack, receivers)
    started = time.monotonic()
    deadline = started + SOAK_SECONDS
    next_fault = started + FAULT_EVERY
    next_sample = started
    injected = 0
    try:
        for client in clients:
            client.start()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - started, _sample(stack)))
                next_sample += SAMPLE_EVERY
            if now >= next_fault:
                name, inject = faults[injected % len(faults)]
                injected += 1
                with traffic.lock:
                    done = sum(traffic.outcomes.values())
                print(
                    f"[{now - started:5.0f} s / {SOAK_SECONDS:.0f} s] {done} requests, "
                    f"{len(traffic.created)} invoices; fault {injected}: {name}",
                    flush=True,
                )
                inject()
                next_fault += FAULT_EVERY
            time.sleep(0.2)
    finally:
        traffic.stop.set()
        for client in clients:
            client.join(timeout=30)
    stack.revive()
    print(f"traffic stopped: {dict(traffic.outcomes)}", flush=True)

    try:
        counts = stack.reconcile(tenant, receivers, timeout=1800, progress=True)
    finally:
        for receiver in receivers:
            receiver.close()
    print(f"reconciled: {counts}", flush=True)

    # Nothing a client was told about is missing; nothing it was not told about
    # appeared beyond the requests that lost their answer.
    stored = {
        invoice_id
        for (invoice_id,) in stack.sql(
            "SELECT id::text FROM invoicing_invoice WHERE organization_id = %s",
            tenant.organization_id,
        )
    }
    assert set(traffic.created) <= stored
    assert len(stored) <= len(traffic.created) + traffic.unsure
    assert counts["invoices"] == len(stored)
    server_errors = {k: n for k, n in traffic.outcomes.items() if k[1] == 500}
    assert not server_errors, server_errors
    assert injected >= int(SOAK_SECONDS // FAULT_EVERY) - 1

    _assert_memory_flat(samples)


def _assert_memory_flat(samples: list[tuple[float, dict[str, int]]]) -> None:
    third = len(samples) // 3
    middle, last = samples[third : 2 * third], samples[2 * third :]
    print("RSS medians (MB), middle third -> last third:", flush=True)
    grown = {}
    for name in samples[-1][1]:
        # A sample taken while the process was down (a fault) reads 0: left out.
        before = statistics.median([s[name] for _, s in middle if s.get(name)] or [0])
        after = statistics.median([s[name] for _, s in last if s.get(name)] or [0])
        print(f"  {name:10} {before / 2**20:7.1f} -> {after / 2**20:7.1f}", flush=True)
        if after > before * (1 + RSS_GROWTH_SHARE) + RSS_GROWTH_BYTES:
            grown[name] = (before, after)
    assert not grown, f"memory grew: {grown}"
