#!/usr/bin/env bash
# The whole test suite: every test, the database ones on SQLite and on PostgreSQL.
# Starts PostgreSQL and Redis first if they are down. Extra arguments go to the test runner
# (e.g. `scripts/test.sh -p kernel`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
