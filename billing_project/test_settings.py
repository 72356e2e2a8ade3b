"""Settings for the test run: the real settings, with test defaults for the
environment. Tests talk to a real PostgreSQL (numbering and locks behave
differently on SQLite); override DATABASE_URL to point elsewhere."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
# A Redis database of its own, so tests never share queues with a dev broker.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Stored files go to a directory of this test run; worker processes started
# by the tests inherit it through the environment.
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="invoicing-test-"))
# Test receivers listen on 127.0.0.1, which the SSRF guard refuses by default.
os.environ.setdefault("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")

from billing_project.settings import *  # noqa: F403
