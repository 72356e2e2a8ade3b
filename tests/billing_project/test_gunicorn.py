"""The Procfile's web process (gunicorn, DEBUG off) as deployed: it serves the
admin's CSS and the docs page's Redoc script itself (WhiteNoise), and writes
one JSON line per request, health checks not at INFO, no signed link."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from scripts.makerun import free_port
from tests.processes import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def _procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("no web process in the Procfile")


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    log = tmp_path / "web.log"
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DEBUG": "0",
        "SECRET_KEY": "a-test-secret-key-for-the-procfile-web-process",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url(),
        "VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {_procfile_web()}"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            # The first request loads the URLconf: slow on a busy machine.
            if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"gunicorn not serving:\n{log.read_text()}"
        time.sleep(0.2)
    yield base, log
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_static_files_are_served_with_debug_off(gunicorn):
    base, _ = gunicorn
    login = requests.get(f"{base}/admin/login/", timeout=10)
    assert login.status_code == 200
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', login.text)
    assert any(sheet.endswith("admin/css/base.css") for sheet in sheets), sheets
    for sheet in sheets:
        answer = requests.get(f"{base}{sheet}", timeout=10)
        assert answer.status_code == 200, sheet
        assert answer.headers["Content-Type"].startswith("text/css"), sheet
    assert "body" in requests.get(f"{base}/static/admin/css/base.css", timeout=10).text

    docs = requests.get(f"{base}/api/docs/", timeout=10)
    assert docs.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', docs.text)
    assert scripts and all(src.startswith("/static/") for src in scripts), scripts
    redoc = requests.get(f"{base}{scripts[0]}", timeout=10)
    assert redoc.status_code == 200
    assert "javascript" in redoc.headers["Content-Type"]
    assert len(redoc.content) > 100_000  # Redoc's standalone bundle, not an error page


def test_one_line_per_request_and_no_signed_link(gunicorn):
    base, log = gunicorn
    token = "eyJqIjoiMGZjMTc2ZTcxZGYwNDQwN2EzNTQ1NmM5YzM5NmQ2NzMiLCJjIjoiMSJ9:1abcde:sigsigsig"
    answers = [
        requests.get(f"{base}/files/invoices/{token}", timeout=10),  # tampered: 404
        requests.get(f"{base}/api/v1/invoices", timeout=10),  # no key: 401
        requests.get(f"{base}/api/v1/nothing-here", timeout=10),  # 404
        requests.get(f"{base}/", timeout=10),  # the landing page: 200
    ]
    assert [a.status_code for a in answers] == [404, 401, 404, 200]
    for _ in range(3):
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    ids = {a.headers["X-Request-ID"] for a in answers}
    # The lines are written before the answers leave; gunicorn's output is unbuffered.
    deadline = time.monotonic() + 20
    while True:
        text = log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        requests_logged = [line for line in lines if line["logger"] == "invoicing.request"]
        if ids <= {line.get("request_id") for line in requests_logged}:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    # One line each (the readiness probe of the fixture and the three health checks: none).
    assert sorted(line["request_id"] for line in requests_logged) == sorted(ids), text
    assert not [line for line in lines if line["logger"].startswith("django")], text
    assert "/files/invoices/[redacted]" in {line["path"] for line in requests_logged}
    assert token not in text and token.split(":")[0] not in text
    assert shlex.quote(token) not in text
