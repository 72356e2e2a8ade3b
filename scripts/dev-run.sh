#!/usr/bin/env bash
# `make run`: the web process and one Celery worker (with beat embedded) on
# the embedded defaults: SQLite, local files, Kombu's filesystem broker.
set -euo pipefail
PORT="${PORT:-8000}"
export DEBUG="${DEBUG:-1}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
.venv/bin/celery -A billing_project worker --beat -Q pdf,webhooks -c 2 --loglevel INFO \
  > var/worker.log 2>&1 &
worker=$!
stop_worker() {
  # A warm shutdown with beat embedded can hang on the filesystem transport:
  # give it 10 s to finish its tasks, then stop it for good.
  kill -TERM "$worker" 2>/dev/null || return 0
  for _ in $(seq 1 20); do kill -0 "$worker" 2>/dev/null || return 0; sleep 0.5; done
  pkill -KILL -P "$worker" 2>/dev/null || true
  kill -KILL "$worker" 2>/dev/null || true
}
trap stop_worker EXIT
trap 'exit 130' INT TERM
echo "worker and beat running (log: var/worker.log)"
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
