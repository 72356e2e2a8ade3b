#!/usr/bin/env bash
# `make run`: the web process and one Celery worker (with beat embedded) on
# the embedded defaults: SQLite, local files, Kombu's filesystem broker.
set -euo pipefail
PORT="${PORT:-8000}"
export DEBUG="${DEBUG:-1}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
trap 'kill 0' EXIT INT TERM
.venv/bin/celery -A billing_project worker --beat -Q pdf,webhooks -c 2 --loglevel INFO \
  > var/worker.log 2>&1 &
echo "worker and beat running (log: var/worker.log)"
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
