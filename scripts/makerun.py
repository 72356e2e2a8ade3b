"""``make run`` started from Python, for the walk-through test and
``scripts/first_pdf.py``: the very command a newcomer types, with its own
VAR_DIR (SQLite, files, broker folders), its own ports, its output kept in a
file, and the whole process group stopped at the end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY_LINE = re.compile(r"API key \(shown once\): (ik_[A-Za-z0-9_-]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    def __init__(self, var_dir: Path, *, port: int | None = None,
                 receiver_port: int | None = None, **env: str):  # fmt: skip
        self.var_dir = Path(var_dir)
        self.port = port or free_port()
        self.receiver_port = receiver_port or free_port()
        self.env = env
        self.output_path = self.var_dir / "make-run.out"
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def start(self, timeout: float = 240) -> MakeRun:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            # make run's own defaults, not the caller's (a test run's database, broker...).
            if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
                           "WEBHOOK_ALLOWED_NETWORKS", "DEBUG", "PUBLIC_BASE_URL",
                           "LOG_FORMAT", "LOG_LEVEL", "SECRET_KEY", "MAKEFLAGS", "MFLAGS")
        }  # fmt: skip
        env.update(VAR_DIR=str(self.var_dir), RECEIVER_PORT=str(self.receiver_port),
                   PYTHONUNBUFFERED="1", **self.env)  # fmt: skip
        out = self.output_path.open("ab")
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={self.port}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"make run exited {self.proc.returncode}:\n{self.output()}")
            if self.api_key() and self._up(f"{self.base_url}/healthz") and self._receiver_up():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"make run not serving within {timeout} s:\n{self.output()}")

    def api_key(self) -> str | None:
        keys = KEY_LINE.findall(self.output())
        return keys[-1] if keys else None

    def _up(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _receiver_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.receiver_port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the whole group (make, dev-run.sh, runserver, worker, receiver),
        as Ctrl-C in the terminal would; SIGKILL whatever is left after ``timeout``."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            self.proc.poll()
            time.sleep(0.2)
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)

    def __enter__(self) -> MakeRun:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
