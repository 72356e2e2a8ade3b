"""Liveness and readiness for load balancers and orchestrators.

``/healthz`` answers from the process alone (no I/O): a failing database must
not get healthy web processes killed. ``/readyz`` checks each dependency with
its own bounded timeout, in parallel, and says which one is down; it names
no host, URL or credential (it is served without authentication).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from invoicing.ops.broker import _transport, redis_client


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str = ""

    def as_dict(self) -> dict:
        body = {"status": "ok" if self.ok else "down", "latency_ms": self.latency_ms}
        if self.error:
            body["error"] = self.error
        return body


def _timed(check: Callable[[float], None], timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        check(timeout)
    except Exception as exc:  # the point is to report any failure, not raise it
        # The exception's type only: messages can carry hosts and user names.
        return CheckResult(False, _ms(started), type(exc).__name__)
    return CheckResult(True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def check_database(timeout: float, settings_dict: dict | None = None) -> None:
    """``SELECT 1`` on a fresh connection (not the request's), so a hung
    server costs this check its timeout and nothing else."""
    db = settings_dict or connections[DEFAULT_DB_ALIAS].settings_dict
    backend = import_string(f"{db['ENGINE']}.base")
    db = {**db, "OPTIONS": dict(db.get("OPTIONS") or {}), "CONN_HEALTH_CHECKS": False}
    if db["ENGINE"].endswith("postgresql"):
        # libpq counts whole seconds; 1 is its smallest meaningful value.
        db["OPTIONS"]["connect_timeout"] = max(1, round(timeout))
    wrapper = backend.DatabaseWrapper(db, alias="readyz")
    try:
        with wrapper.cursor() as cursor:
            if wrapper.vendor == "postgresql":
                cursor.execute("SET statement_timeout = %s", [int(timeout * 1000)])
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        wrapper.close()


def check_broker(timeout: float) -> None:
    url = settings.CELERY_BROKER_URL
    transport = _transport(url)
    if transport in ("redis", "rediss"):
        client = redis_client(url, timeout)
        try:
            client.ping()
        finally:
            client.close()
    elif transport == "filesystem":
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out"):
            folder = Path(options[key])
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise FileNotFoundError(key)
    else:
        from kombu import Connection

        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)


def check_storage(timeout: float) -> None:
    """The PDF store accepts a write (local files) or answers (object store)."""
    location = getattr(default_storage, "location", None)
    if location is not None and not getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""):
        # A fresh deployment has no folder yet: creating it is what the first
        # stored PDF would do, and failing to is the outage to report.
        os.makedirs(location, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=location, prefix=".readyz-"):
            pass
    else:
        # Any existing or missing key proves the store answers; a random one
        # keeps caches and listings out of it.
        default_storage.exists(f"readyz/{uuid.uuid4().hex}")


CHECKS: dict[str, Callable[[float], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def readiness(timeout: float | None = None) -> dict[str, CheckResult]:
    """Run every check in parallel; one that outlives ``timeout`` is down."""
    timeout = settings.READYZ_TIMEOUT_SECONDS if timeout is None else timeout
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
    started = time.perf_counter()
    futures = {name: pool.submit(_timed, check, timeout) for name, check in CHECKS.items()}
    results = {}
    for name, future in futures.items():
        remaining = max(0.0, timeout + 0.5 - (time.perf_counter() - started))
        try:
            results[name] = future.result(timeout=remaining)
        except FutureTimeout:
            results[name] = CheckResult(False, _ms(started), "timeout")
    # A check stuck past its own timeout finishes in the background; the
    # answer does not wait for it.
    pool.shutdown(wait=False)
    return results


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


# /readyz is served without authentication and opens a connection to each
# dependency: one run at a time per process, and its answer reused for
# READYZ_CACHE_SECONDS, so hammering it costs the database nothing more than
# one connection per process per second.
_readiness_lock = threading.Lock()
_last_readiness: tuple[float, dict[str, CheckResult]] | None = None


def cached_readiness() -> dict[str, CheckResult]:
    global _last_readiness
    ttl = settings.READYZ_CACHE_SECONDS
    last = _last_readiness
    if last is not None and time.monotonic() - last[0] < ttl:
        return last[1]
    if not _readiness_lock.acquire(blocking=last is None):
        return last[1]  # a run is under way: its predecessor's answer meanwhile
    try:
        results = readiness()
        _last_readiness = (time.monotonic(), results)
        return results
    finally:
        _readiness_lock.release()


@never_cache
@require_safe
def readyz(request):
    results = cached_readiness()
    ok = all(r.ok for r in results.values())
    return JsonResponse(
        {"status": "ok" if ok else "down", "checks": {k: v.as_dict() for k, v in results.items()}},
        status=200 if ok else 503,
    )
