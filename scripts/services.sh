#!/usr/bin/env bash
# Makes sure the services the tests use are running: PostgreSQL (127.0.0.1:5432) and Redis
# (127.0.0.1:6379). Starts them with the machine's own commands when they are down.
set -euo pipefail

wait_for() { # name, check command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "error: $name did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi
# moto: a local S3- and SES-compatible server (PyPI moto[server]) for the storage and mail tests.
MOTO_PORT=${MOTO_PORT:-5055}
if ! curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1; then
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto[server]"
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5.1,<6"
  fi
  echo "starting moto on 127.0.0.1:$MOTO_PORT"
  nohup moto_server -H 127.0.0.1 -p "$MOTO_PORT" >/tmp/moto-server.log 2>&1 &
  wait_for moto curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/"
fi
# aiosmtpd: a real SMTP server the mail tests start on their own ports.
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "installing aiosmtpd"
  python3 -m pip install --quiet --disable-pip-version-check "aiosmtpd>=1.4,<2"
fi
# standardwebhooks: the independent Standard Webhooks implementation the webhook tests'
# receiver verifies every delivery with.
if ! python3 -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "installing standardwebhooks"
  python3 -m pip install --quiet --disable-pip-version-check "standardwebhooks>=1.0,<2"
fi
# stripe: Stripe's own Python library, which the finance tests check their webhook signatures
# with (both ways: it verifies ours, the cell verifies its).
if ! python3 -c "import stripe" >/dev/null 2>&1; then
  echo "installing stripe"
  python3 -m pip install --quiet --disable-pip-version-check "stripe>=13,<14"
fi
# A streaming replica of PostgreSQL on 127.0.0.1:5433, for the read-replica tests.
"$(dirname "$0")/replica.sh"
echo "services: PostgreSQL (and its replica on 5433), Redis and moto are up; aiosmtpd, standardwebhooks and stripe are installed"
