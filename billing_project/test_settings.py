"""Settings for the test run: the real settings, with test defaults for the
environment. Tests talk to a real PostgreSQL (numbering and locks behave
differently on SQLite); override DATABASE_URL to point elsewhere."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")

from billing_project.settings import *  # noqa: F403
