"""/healthz and /readyz: each dependency reported down when it is down."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
from django.db import connection
from django.test import Client, override_settings

from invoicing.ops import health

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_readiness(settings, monkeypatch):
    # Each test sees its own dependencies' state, not a cached answer.
    settings.READYZ_CACHE_SECONDS = 0
    monkeypatch.setattr(health, "_last_readiness", None)


def _ready(client=None):
    response = (client or Client()).get("/readyz")
    return response.status_code, response.json()


def test_healthz_answers_without_touching_anything(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ok_when_everything_is_up():
    status, body = _ready()
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0


def test_broker_on_a_dead_port_is_reported_down_and_nothing_leaks():
    dead = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    with override_settings(CELERY_BROKER_URL=dead):
        started = time.monotonic()
        status, body = _ready()
    assert time.monotonic() - started < 3
    assert status == 503
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    assert "s3cret" not in str(body) and "127.0.0.1" not in str(body)


def test_storage_that_cannot_be_written_is_reported_down(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # Even root cannot create a folder below a file.
    storages = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "files")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        status, body = _ready()
    assert status == 503
    assert body["checks"]["storage"] == {
        "status": "down",
        "latency_ms": body["checks"]["storage"]["latency_ms"],
        "error": "NotADirectoryError",
    }
    assert body["checks"]["broker"]["status"] == "ok"


def test_missing_storage_folder_is_created_not_reported(tmp_path):
    storages = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "fresh" / "files")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        status, _ = _ready()
    assert status == 200 and (tmp_path / "fresh" / "files").is_dir()


def test_database_check_reports_a_broken_connection():
    broken = {**connection.settings_dict, "PORT": str(free_port())}
    result = health._timed(lambda t: health.check_database(t, settings_dict=broken), 1.0)
    assert result.ok is False and result.error == "OperationalError"
    assert health._timed(health.check_database, 1.0).ok is True


def test_database_down_makes_readyz_503(monkeypatch):
    broken = {**connection.settings_dict, "PORT": str(free_port())}
    original = health.check_database
    monkeypatch.setitem(health.CHECKS, "database", lambda t: original(t, settings_dict=broken))
    status, body = _ready()
    assert status == 503 and body["checks"]["database"]["status"] == "down"


def test_a_check_that_hangs_is_cut_off(monkeypatch):
    monkeypatch.setitem(health.CHECKS, "storage", lambda t: time.sleep(5))
    with override_settings(READYZ_TIMEOUT_SECONDS=0.3):
        started = time.monotonic()
        status, body = _ready()
    assert time.monotonic() - started < 2
    assert status == 503 and body["checks"]["storage"]["error"] == "timeout"


def test_a_real_redis_going_down_is_reported(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"):
            deadline = time.monotonic() + 10
            while _ready()[0] != 200:
                assert time.monotonic() < deadline, "throwaway redis never became ready"
                time.sleep(0.1)
            server.kill()
            server.wait(timeout=10)
            status, body = _ready()
        assert status == 503 and body["checks"]["broker"]["status"] == "down"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_readyz_runs_its_checks_at_most_once_per_cache_period(settings, monkeypatch):
    """Unauthenticated and opening a connection per dependency: 50 calls in a
    row cost one run of the checks (issue 15)."""
    settings.READYZ_CACHE_SECONDS = 60
    runs = []
    monkeypatch.setitem(health.CHECKS, "database", lambda t: runs.append(t))
    client = Client()
    for _ in range(50):
        status, body = _ready(client)
        assert status == 200 and body["checks"]["database"]["status"] == "ok"
    assert len(runs) == 1
