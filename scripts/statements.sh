#!/usr/bin/env bash
# Counts, from PostgreSQL's own statement log, what a fullorbit cell sends to the database while idle
# (60 s) and for one warmed read of a contact by id. Run after a cellbench PostgreSQL run, which
# leaves its loaded `cellbench` database: scripts/statements.sh target/release/fullorbit
set -euo pipefail
BIN=$1; PORT=18181; LOG=/var/log/postgresql/postgresql-15-main.log
psql -qh 127.0.0.1 -U postgres -c "ALTER DATABASE cellbench SET log_statement = 'all'"
export CELL__MODULES__ABM__HOOK_SECRETS=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw CELL__CELL__SECRET_KEY=bench-secret-key-0123456789abcdef-0123456789 \
  CELL__MODULES__AUTH__JWT_SECRET=bench-jwt-secret-0123456789abcdef-0123456789 CELL__MODULES__ABM__IP_SALT=bench-ip-salt \
  CELL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/cellbench CELL__DATABASE__APP_ROLE=cellbench_app CELL__HTTP__PORT=$PORT \
  CELL__HTTP__PUBLIC_URL=http://127.0.0.1:$PORT
D=$(mktemp -d)
$BIN --set cell.data_dir=$D > /tmp/measure-cell.log 2>&1 &
PID=$!
for i in $(seq 1 100); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.1; done
sleep 5
start=$(wc -l < $LOG)
sleep 60
idle=$(tail -n +$((start+1)) $LOG | grep "@cellbench" | grep -c "statement:\|execute" || true)
echo "idle statements in 60 s: $idle"
tail -n +$((start+1)) $LOG | grep "@cellbench" | grep "statement:\|execute" | sed 's/.*\(statement\|execute[^:]*\): //' | cut -c1-100 | sort | uniq -c
TOKEN=$(curl -s localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"admin@bench.test","password":"Bench-password-for-load-42"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
ID=$(psql -qAth 127.0.0.1 -U postgres cellbench -c "select id from abm_contacts limit 1")
curl -s -o /dev/null -w "warm-up %{http_code}\n" localhost:$PORT/api/abm/contacts/$ID -H "authorization: Bearer $TOKEN"
sleep 1
start=$(wc -l < $LOG)
curl -s -o /dev/null -w "read %{http_code}\n" localhost:$PORT/api/abm/contacts/$ID -H "authorization: Bearer $TOKEN"
sleep 1
echo "statements for one read by id:"
tail -n +$((start+1)) $LOG | grep "@cellbench" | grep "statement:\|execute" | sed 's/.*\(statement\|execute[^:]*\): //' | cut -c1-140
kill $PID; wait $PID 2>/dev/null || true
psql -qh 127.0.0.1 -U postgres -c "ALTER DATABASE cellbench RESET log_statement"
