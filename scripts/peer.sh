#!/usr/bin/env bash
# Builds the peer the harness measures the cell against, once: the Loco.rs 1.2 starter
# (`cargo install loco`, `loco new`, only crates.io needed) with a scaffolded `notes` model
# (`generate scaffold note title:string content:text --api`), whose `GET /api/notes/{id}`
# requires a JWT. About 20 minutes the first time on 2 cores; seconds after.
# Prints the binary's path. Everything lives under ~/.cache/cell-platform (PEER_HOME).
set -euo pipefail
HOME_DIR=${PEER_HOME:-$HOME/.cache/cell-platform}
LOCO_VERSION=1.2.0
mkdir -p "$HOME_DIR"
loco="$HOME_DIR/loco/bin/loco"
app="$HOME_DIR/peer"
target="$HOME_DIR/peer-target"
bin="$target/release/peer-cli"
if [ ! -x "$loco" ]; then
  echo "peer: installing loco $LOCO_VERSION" >&2
  cargo install loco --version "$LOCO_VERSION" --locked --root "$HOME_DIR/loco" >&2
fi
if [ ! -d "$app" ]; then
  echo "peer: generating the starter" >&2
  (cd "$HOME_DIR" && "$loco" new --path "$HOME_DIR" --name peer --db sqlite --bg async --assets none >&2)
fi
build() { (cd "$app" && CARGO_TARGET_DIR="$target" cargo build --release --quiet "$@" >&2); }
if [ ! -f "$app/src/controllers/notes.rs" ]; then
  # loco's generator exists only with debug assertions on (loco-rs gates it), and it writes the
  # entities with sea-orm-cli.
  echo "peer: scaffolding notes" >&2
  [ -x "$HOME_DIR/loco/bin/sea-orm-cli" ] ||
    cargo install sea-orm-cli --version '^2.0' --locked --root "$HOME_DIR/loco" >&2
  build --config 'profile.release.package.loco-rs.debug-assertions=true'
  (cd "$app" && PATH="$HOME_DIR/loco/bin:$PATH" LOCO_ENV=development \
    "$bin" generate scaffold note title:string content:text --api >&2)
fi
# The scaffold's routes take a JWT (loco's default): the benchmark reads with one, as it reads the cell.
grep -q "_auth: auth::JWT" "$app/src/controllers/notes.rs" ||
  { echo "peer: the scaffolded notes routes take no JWT" >&2; exit 1; }
build
echo "$bin"
