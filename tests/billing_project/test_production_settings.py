"""Production settings: what the README documents passes ``check --deploy``,
and what would be unsafe refuses to start (issue 15)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The README's "Production" block, with a fresh key.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "PUBLIC_BASE_URL": "https://billing.example.com",
    "TRUST_X_FORWARDED_PROTO": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Only what is given: the test run's own settings must not leak in.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL is required"),
        ({"SECRET_KEY": "change-me-to-a-long-random-string"}, "published placeholder"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is required"),
    ],
)
def test_unsafe_settings_refuse_to_start(change, message):
    result = manage("check", **{**PRODUCTION, **change})
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_runs_on_embedded_defaults():
    result = manage("check", DEBUG="1")
    assert result.returncode == 0, result.stderr


def _allowed_networks(**env: str) -> str:
    result = manage(
        "shell", "--verbosity", "0", "-c",
        "from django.conf import settings; print(','.join(settings.WEBHOOK_ALLOWED_NETWORKS))",
        **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_loopback_webhooks_only_under_debug_unless_listed():
    # make run (DEBUG=1, nothing set): its receiver on 127.0.0.1 is reachable.
    assert _allowed_networks(DEBUG="1") == "127.0.0.0/8,::1/128"
    # Production (DEBUG off, nothing set): the guard is whole, loopback refused.
    assert _allowed_networks(**PRODUCTION) == ""
    # An empty value keeps the guard whole under DEBUG too; a list is taken as given.
    assert _allowed_networks(DEBUG="1", WEBHOOK_ALLOWED_NETWORKS="") == ""
    assert _allowed_networks(**PRODUCTION, WEBHOOK_ALLOWED_NETWORKS="10.0.0.0/8") == "10.0.0.0/8"
