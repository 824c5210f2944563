#!/usr/bin/env bash
# The performance harness in one command: builds the cells and cellbench in release, makes sure
# PostgreSQL is up, then runs every scenario on SQLite and on PostgreSQL with the database's own
# figures beside them and writes target/cellbench/report.md (copy it to docs/benchmarks.md when
# a change moves a figure). Arguments go to `cellbench run` (see `--help`), e.g.
#   scripts/bench.sh --backends postgres --duration 30
#   scripts/bench.sh --tiny            # seconds: what CI runs
#   scripts/bench.sh --peer            # also the Loco.rs starter's read by id (scripts/peer.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
args=()
for a in "$@"; do
  if [ "$a" = --peer ]; then
    peer=$(scripts/peer.sh)
    args+=(--peer "$peer" --peer-dir "${PEER_HOME:-$HOME/.cache/cell-platform}/peer")
  else
    args+=("$a")
  fi
done
cargo build --release --locked -p fullorbit -p suite -p cellbench
exec target/release/cellbench run "${args[@]}"
