#!/usr/bin/env bash
# Scale-out on one machine (issue 23): 3 api instances and 2 workers of the suite cell behind
# nginx, on this machine's PostgreSQL and Redis. Builds the release binary (~15 min cold on
# 2 cores), installs nginx and wrk (Debian) and websockets (PyPI) when missing, runs
# scripts/scale-out.py (a few minutes) and prints its Markdown report (docs/scale-out.md holds
# the latest). Not part of CI: its figures need a release build. `CELL_BIN=target/debug/suite`
# runs the checks on a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh >/dev/null
if [ -z "${CELL_BIN:-}" ]; then
  cargo build --release --locked -p suite
fi
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get install -y -qq nginx-light wrk >/dev/null
fi
python3 -c 'import websockets' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check "websockets>=14,<16"
exec python3 scripts/scale-out.py
