"""Real processes for the tests: Celery workers against the test database and
the test Redis database, started and stopped from the test process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database the tests are using right now (pytest-django's
    ``test_<name>``), for processes that must see the same rows."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def flush_broker() -> None:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


# Every worker started in this test session, so that a failing test cannot
# leave one running (it would hold connections to the test database).
STARTED: list[Worker] = []


class Worker:
    def __init__(self, name: str, queues: str = "pdf,webhooks", concurrency: int = 1, **env):
        self.name = name
        self.queues = queues
        self.concurrency = concurrency
        self.env = {k: str(v) for k, v in env.items()}
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(settings.VAR_DIR) / f"worker-{name}.log"

    def start(self, timeout: float = 30) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "billing_project.test_settings",
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self.log = open(self.log_path, "ab")  # closed in stop()
        STARTED.append(self)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "billing_project", "worker",
             "-Q", self.queues, "-c", str(self.concurrency), "-n", f"{self.name}@%h",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker, parent and children, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()
