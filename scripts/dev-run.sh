#!/usr/bin/env bash
# `make run`: the demo data, then the web process, one Celery worker (with beat
# embedded) and a webhook receiver, on the embedded defaults: SQLite, local
# files, Kombu's filesystem broker, all under VAR_DIR (var/ unless set).
#   PORT             the service's port (8000)
#   RECEIVER_PORT    the webhook receiver's port (PORT + 1)
set -euo pipefail
PORT="${PORT:-8000}"
RECEIVER_PORT="${RECEIVER_PORT:-$((PORT + 1))}"
export DEBUG="${DEBUG:-1}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
VAR="${VAR_DIR:-var}"
mkdir -p "$VAR"

# The demo organization (made once), a fresh key, and its webhook endpoint to
# the receiver below (hmac-signed; loopback is reachable because DEBUG is on).
.venv/bin/python manage.py seed_demo \
  --webhook-url "http://127.0.0.1:$RECEIVER_PORT/webhooks" \
  --hmac-key-file "$VAR/demo-hmac-key"

pids=()
stop_all() {
  # A warm shutdown with beat embedded can hang on the filesystem transport:
  # give the worker 10 s to finish its tasks, then stop it for good.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

.venv/bin/python -u scripts/webhook_receiver.py --port "$RECEIVER_PORT" \
  --hmac-key-file "$VAR/demo-hmac-key" --log-file "$VAR/webhooks.log" &
pids+=($!)
.venv/bin/celery -A billing_project worker --beat -Q pdf,webhooks -c 2 --loglevel INFO \
  > "$VAR/worker.log" 2>&1 &
pids+=($!)
echo "worker and beat running (log: $VAR/worker.log); deliveries print here and in $VAR/webhooks.log"
echo "what runs where: http://127.0.0.1:$PORT/ ; try it: README.md, \"Walk-through\", with KEY set to the key above"
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
