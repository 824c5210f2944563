#!/usr/bin/env bash
# Builds the TypeScript SDK (sdk/: its packages from npm, its types generated from
# docs/openapi/*.json) and runs its tests against a live suite cell on SQLite: sign-in, typed
# calls, a list with filters and pages, the error envelope, token refresh (access tokens live
# 60 s here, so one test waits past expiry and leeway), and a real webhook delivery verified with the
# standardwebhooks package.
#
# Needs Node.js ≥ 20 and the suite binary (`cargo build -p suite`; CI's build step makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/debug/suite
[ -x "$bin" ] || { echo "sdk: $bin is missing: cargo build -p suite" >&2; exit 1; }

(cd sdk && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password='Sdk-Passw0rd-long-enough'
env=(CELL__CELL__DATA_DIR="$work" CELL__RATE_LIMIT__ENABLED=false CELL__TELEMETRY__LOG_LEVEL=warn
     CELL__MODULES__AUTH__ACCESS_TTL_SECS=60 CELL__MODULES__WEBHOOKS__ALLOW_PRIVATE_TARGETS=true)
printf '%s\n' "$password" | env "${env[@]}" "$bin" users create --email sdk@example.com --org "SDK tests" >/dev/null
env "${env[@]}" "$bin" serve --port "$port" >"$work/cell.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.1
done
if ! (cd sdk && CELL_URL="http://127.0.0.1:$port" CELL_EMAIL=sdk@example.com CELL_PASSWORD="$password" npm test --silent); then
  echo "sdk: tests failed; the cell's log:" >&2
  tail -40 "$work/cell.log" >&2
  exit 1
fi
