#!/usr/bin/env bash
# The whole test suite: every test, the database ones on SQLite and on PostgreSQL.
# Starts PostgreSQL and Redis first if they are down. Extra arguments go to the test runner
# (e.g. `scripts/test.sh -p kernel`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export TEST_REPLICA_URL=${TEST_REPLICA_URL:-postgres://postgres@127.0.0.1:5433/postgres}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
export TEST_AWS_ENDPOINT=${TEST_AWS_ENDPOINT:-http://127.0.0.1:${MOTO_PORT:-5055}}
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
  # nextest does not run doctests; iam's prove that a permission proof cannot be forged.
  # `--workspace`, not `-p iam`: the same feature set as the tests, so nothing is compiled again.
  cargo test --doc --workspace --locked
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
