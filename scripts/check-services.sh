#!/usr/bin/env bash
# The tests need a real PostgreSQL and a real Redis on 127.0.0.1. Start them
# if they are installed but stopped (as on the CI machines); fail loudly if
# they are missing.
set -uo pipefail

pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_ok() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_ok && [ -d /etc/postgresql ]; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_ok && break; sleep 1; done
fi
if ! redis_ok && command -v redis-server >/dev/null; then
  echo "Redis is not answering on 127.0.0.1:6379; starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_ok && break; sleep 1; done
fi

status=0
pg_ok || { echo "FATAL: PostgreSQL is required on 127.0.0.1:5432 (user postgres, trust auth)" >&2; status=1; }
redis_ok || { echo "FATAL: Redis is required on 127.0.0.1:6379" >&2; status=1; }
exit $status
