#!/usr/bin/env bash
# Starts a PostgreSQL streaming replica of the local server (127.0.0.1:5432) on 127.0.0.1:5433,
# for the read-replica tests (TEST_REPLICA_URL). A real hot standby: pg_basebackup, then a second
# server that replays the primary's WAL. Idempotent: does nothing when 5433 already answers.
set -euo pipefail

PRIMARY_PORT=5432
REPLICA_PORT=${REPLICA_PORT:-5433}
version=$(ls /etc/postgresql | sort -V | tail -n 1)
bin=/usr/lib/postgresql/$version/bin
dir=/var/lib/postgresql/$version/replica

if pg_isready -h 127.0.0.1 -p "$REPLICA_PORT" >/dev/null 2>&1; then
  exit 0
fi

# The primary must admit replication connections from the loopback (its pg_hba's `all` does not
# cover them).
hba=$(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -Atc 'show hba_file')
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$hba"; then
  echo "host replication all 127.0.0.1/32 trust" >>"$hba"
  psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -qAtc 'select pg_reload_conf()' >/dev/null
fi

echo "starting a streaming replica on 127.0.0.1:$REPLICA_PORT"
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres "$bin/pg_ctl" -D "$dir" stop -m immediate >/dev/null 2>&1 || true
rm -rf "$dir"
mkdir -p "$dir" && chown postgres: "$dir" && chmod 700 "$dir"
as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$dir" \
  --write-recovery-conf --wal-method=stream --checkpoint=fast
# Debian keeps the primary's configuration outside its data directory: the replica gets its own.
as_postgres tee "$dir/postgresql.conf" >/dev/null <<CONF
port = $REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
hot_standby = on
hot_standby_feedback = on
max_connections = 200
shared_buffers = 64MB
fsync = off
CONF
# Unlike the primary, the replica checks passwords (SCRAM) for every role but postgres: the
# tests log in there as a role whose password the cell set.
as_postgres tee "$dir/pg_hba.conf" >/dev/null <<CONF
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
CONF
as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
for _ in $(seq 1 60); do
  if [ "$(psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -Atc 'select pg_is_in_recovery()' 2>/dev/null)" = t ]; then
    echo "replica: in recovery, streaming from $PRIMARY_PORT"
    exit 0
  fi
  sleep 0.5
done
echo "error: the replica on $REPLICA_PORT did not come up (see $dir/server.log)" >&2
exit 1
