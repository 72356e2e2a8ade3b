#!/usr/bin/env bash
# The Procfile's `worker`: one Celery worker per queue, so that webhook
# receivers that hang for their whole deadline can only ever occupy the
# webhook processes, never the ones rendering PDFs. If either worker exits,
# both stop (the process manager restarts the pair); SIGTERM is passed on to
# both for a warm shutdown.
#
# One webhook process by default: it runs up to WEBHOOK_PROCESS_MAX_IN_FLIGHT attempts at
# once on threads (a receiver that hangs holds a thread, not a process), so more processes
# add CPU, not room for waiting. On 2 cores one delivers 720 a second to a fast receiver
# (850 with 2) and keeps a healthy endpoint's deliveries within ~110 ms while 9 others hang,
# for 1.4 ms less CPU per invoice at month-end than 2 (bench/webhooks.py, bench/monthend.py).
set -u
celery -A billing_project worker -Q pdf -n "pdf@%h" \
  --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel "${CELERY_LOG_LEVEL:-INFO}" &
pdf=$!
celery -A billing_project worker -Q webhooks -n "webhooks@%h" \
  --concurrency "${WEBHOOK_WORKER_CONCURRENCY:-1}" --loglevel "${CELERY_LOG_LEVEL:-INFO}" &
webhooks=$!
trap 'kill -TERM $pdf $webhooks 2>/dev/null' TERM INT
wait -n
status=$?
kill -TERM $pdf $webhooks 2>/dev/null
wait
exit $status
