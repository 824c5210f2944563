#!/usr/bin/env bash
# Fuzzes every cell against its own OpenAPI document with schemathesis (`--checks all`): on
# SQLite, and on PostgreSQL serving as an application role (row-level security binding). Any
# 5xx, any answer the document does not declare, any data the document calls valid that the
# cell refuses (or invalid that it accepts) fails the run.
#
#   scripts/fuzz.sh                    # every cell, both backends, FUZZ_SECONDS (90) each
#   scripts/fuzz.sh suite sqlite       # one cell, one backend
#
# Needs the cells built (`cargo build -p <cell>`; CI's test step builds them), PostgreSQL as
# scripts/services.sh starts it, and Python 3 (schemathesis is installed, pinned, into a venv).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=${FUZZ_VENV:-$HOME/.cache/cell-platform/schemathesis-$SCHEMATHESIS_VERSION}
SECONDS_EACH=${FUZZ_SECONDS:-90}
PG=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PASSWORD='Fuzz-Passw0rd-long-enough'
cells=${1:-"suite fullorbit outreach"}
backends=${2:-"sqlite postgres"}

if [ ! -x "$VENV/bin/st" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# One run: the cell on one backend, fuzzed for SECONDS_EACH; `ok` or `failed` in $dir/result
# (a step that fails before the fuzzer leaves no token, and the run fails on its 401s).
fuzz_one() {
  local cell=$1 backend=$2
  local bin=${CARGO_TARGET_DIR:-target}/debug/$cell
  local run="$cell-$backend"
  local dir="$work/$run"
  mkdir -p "$dir"
  local env=(CELL__CELL__DATA_DIR="$dir" CELL__RATE_LIMIT__ENABLED=false CELL__TELEMETRY__LOG_FORMAT=json
       CELL__CELL__ADMIN_TOKEN="fuzz-admin-token-$RANDOM$RANDOM"
       CELL__TELEMETRY__LOG_LEVEL=warn)
  local db="fuzz_${cell}_$$" role="fuzz_app_${cell}_$$"
  if [ "$backend" = postgres ]; then
    psql "$PG" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
      -c "DROP ROLE IF EXISTS $role" -c "CREATE ROLE $role NOLOGIN NOSUPERUSER NOBYPASSRLS" >/dev/null
    env+=(CELL__DATABASE__URL="${PG%/*}/$db" CELL__DATABASE__APP_ROLE="$role")
  fi
  # The operator user, then the cell on a free port.
  echo "$PASSWORD" | env "${env[@]}" "$bin" users create --email fuzz@example.com --org "Fuzz" --role owner \
    >"$dir/users.log" 2>&1 || true
  local port
  port=$(free_port)
  env "${env[@]}" "$bin" serve --port "$port" >"$dir/cell.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break
    sleep 0.1
  done
  local token
  token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"fuzz@example.com\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || true
  echo "fuzz: $run on :$port for ${SECONDS_EACH}s"
  # Signing out would end the run's own session: those two operations are left out. The live
  # feed (/ws, a protocol switch; /ws/stream, a stream that never ends by design) is tested by
  # the realtime module's own tests with a WebSocket client and a streaming reader.
  if "$VENV/bin/st" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/api-docs/openapi.json" \
      --checks all --exclude-checks use_after_free,ensure_resource_availability \
      --max-time "$SECONDS_EACH" --workers 1 --seed 17 \
      --header "Authorization: Bearer $token" \
      --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/logout-all \
      --exclude-path /ws --exclude-path /ws/stream \
      --report junit --report-junit-path "$dir/junit.xml" >"$dir/st.log" 2>&1; then
    echo ok >"$dir/result"
  else
    echo failed >"$dir/result"
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then
    psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null || true
  fi
}

# A run is one schemathesis process (single-threaded) and one cell answering it in turn: about
# one core. The backends of a cell run side by side, so the two cores do two runs in the time of
# one; each run's report is printed once both are done.
failed=0
for cell in $cells; do
  bin=${CARGO_TARGET_DIR:-target}/debug/$cell
  [ -x "$bin" ] || cargo build --quiet --locked -p "$cell"
  for backend in $backends; do
    fuzz_one "$cell" "$backend" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  pids=()
  for backend in $backends; do
    dir="$work/$cell-$backend"
    if [ "$(cat "$dir/result" 2>/dev/null)" = ok ]; then
      tail -n 3 "$dir/st.log"
    else
      failed=1
      echo "fuzz: $cell-$backend FAILED"
      cat "$dir/st.log" 2>/dev/null || true
      echo "--- cell log (last 40 lines)"
      tail -n 40 "$dir/cell.log" 2>/dev/null || true
    fi
  done
done
exit $failed
