#!/usr/bin/env bash
# The database side of collab's performance goals (issue 18), on PostgreSQL, with pgbench:
#   - search over 1 000 000 indexed entities of one org, a two-word type-ahead query (p95 < 50 ms);
#   - an entity's activity page (25 items) among 10 000 entries (p95 < 10 ms);
#   - a 100 000-row list (tenancy's teams) with `?tags=hot` against the same list without it (< 2×).
# The schema is the cell's own (`suite migrate up` on a scratch database); the statements are the
# ones collab sends (`crates/collab/src/search.rs`, `http/activity.rs`, `http/tags.rs` ByTags and
# the kernel's list: a count and a page). The HTTP path around them is measured by cellbench
# (docs/benchmarks.md: about 1 ms per request at p50 on these machines).
#
# Usage: scripts/bench-collab.sh [seconds per query, default 15]. Needs target/debug/suite
# (`cargo build -p suite` is NOT needed: the test build makes it) and PostgreSQL on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-15}
PG=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=collabbench
URL="${PG%/*}/$DB"
ORG=00000000-0000-0000-0000-00000000000a
psql "$PG" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
CELL__DATABASE__URL="$URL" ./target/debug/suite migrate up >/dev/null
echo "seeding (1M search entries, 10k activity entries, 100k teams with 10% tagged)…"
start=$(date +%s)
psql "$URL" -q <<SQL
INSERT INTO organizations (id, name, slug, plan, personal, settings, created_at, updated_at)
VALUES ('$ORG', 'Bench', 'bench', 'free', false, '{}', now(), now());
-- Titles of three words from a 2 000-word vocabulary, the first two skewed (common words are
-- common), bodies of four uniform words; three entity types.
WITH words AS (SELECT array_agg(substr('w' || md5(i::text), 1, 8)) AS w FROM generate_series(1, 2000) i)
INSERT INTO collab_search (org_id, entity_type, entity_id, title, body, indexed_at)
SELECT '$ORG', (ARRAY['contact', 'task', 'document'])[1 + i % 3], gen_random_uuid(),
  w[1 + floor(2000 * power(random(), 3))::int] || ' ' || w[1 + floor(2000 * power(random(), 3))::int]
    || ' ' || w[1 + floor(2000 * random())::int],
  w[1 + floor(2000 * random())::int] || ' ' || w[1 + floor(2000 * random())::int] || ' '
    || w[1 + floor(2000 * random())::int] || ' ' || w[1 + floor(2000 * random())::int],
  now()
FROM generate_series(1, 1000000) i, words;
INSERT INTO collab_activity (id, org_id, entity_type, entity_id, name, actor_type, actor_id, details, occurred_at)
SELECT gen_random_uuid(), '$ORG', 'task', ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid,
  'task.updated', 'user', '00000000-0000-0000-0000-0000000000ff', '{"field": "status"}', now() - make_interval(secs => i)
FROM generate_series(1, 100000) i;
INSERT INTO teams (id, org_id, name, description, visibility, created_by, created_at, updated_at)
SELECT ('10000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, '$ORG', 'Team ' || i, NULL, 'public',
  '00000000-0000-0000-0000-0000000000ff', now() - make_interval(secs => i), now()
FROM generate_series(1, 100000) i;
INSERT INTO collab_tags (id, org_id, name, name_key, color, category, created_by, created_at, updated_at)
VALUES ('20000000-0000-0000-0000-000000000001', '$ORG', 'Hot', 'hot', NULL, NULL, '00000000-0000-0000-0000-0000000000ff', now(), now());
INSERT INTO collab_entity_tags (org_id, tag_id, entity_type, entity_id, created_by, created_at)
SELECT '$ORG', '20000000-0000-0000-0000-000000000001', 'team', ('10000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,
  '00000000-0000-0000-0000-0000000000ff', now()
FROM generate_series(10, 100000, 10) i;
VACUUM ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - start )) s"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Two type-ahead words (a 5-character prefix and a whole word), uniform over the vocabulary.
cat > "$tmp/search.sql" <<SQL
\set a random(1, 2000)
\set b random(1, 2000)
SELECT entity_type, entity_id FROM collab_search,
  to_tsquery('simple', substr('w' || md5(:a::text), 1, 5) || ':* & ' || substr('w' || md5(:b::text), 1, 8) || ':*') q
WHERE org_id = '$ORG' AND document @@ q ORDER BY ts_rank(document, q) DESC, entity_id LIMIT 40;
SQL
# The same, both words among the 30 most common (the worst case: many matches to rank).
sed 's/random(1, 2000)/random(1, 30)/; s/1, 5) ||/1, 8) ||/' "$tmp/search.sql" > "$tmp/search_common.sql"
cat > "$tmp/activity.sql" <<SQL
\set e random(0, 9)
SELECT * FROM collab_activity WHERE org_id = '$ORG' AND entity_type = 'task'
  AND entity_id = ('00000000-0000-0000-0000-' || lpad(:e::text, 12, '0'))::uuid ORDER BY id DESC LIMIT 26;
SQL
cat > "$tmp/list.sql" <<SQL
SELECT count(*) FROM teams WHERE org_id = '$ORG';
SELECT * FROM teams WHERE org_id = '$ORG' ORDER BY created_at DESC, id LIMIT 25;
SQL
TAGGED="id IN (SELECT entity_id FROM collab_entity_tags WHERE org_id = '$ORG' AND entity_type = 'team' AND tag_id IN (SELECT id FROM collab_tags WHERE org_id = '$ORG' AND name_key = 'hot'))"
cat > "$tmp/list_tagged.sql" <<SQL
SELECT count(*) FROM teams WHERE org_id = '$ORG' AND $TAGGED;
SELECT * FROM teams WHERE org_id = '$ORG' AND $TAGGED ORDER BY created_at DESC, id LIMIT 25;
SQL

printf '\n| query | transactions | p50 | p95 | p99 |\n|---|---|---|---|---|\n'
for q in search search_common activity list list_tagged; do
  (cd "$tmp" && rm -f pgbench_log.* && pgbench -n -f "$q.sql" -T "$SECONDS_PER" -c 1 -l "$URL" >/dev/null 2>&1)
  python3 - "$tmp" "$q" <<'PY'
import glob, sys
v = sorted(int(l.split()[2]) for f in glob.glob(sys.argv[1] + '/pgbench_log.*') for l in open(f))
at = lambda q: v[min(len(v) - 1, int(len(v) * q))] / 1000
print(f"| {sys.argv[2]} | {len(v)} | {at(.5):.2f} ms | {at(.95):.2f} ms | {at(.99):.2f} ms |")
PY
done
[ -n "${KEEP:-}" ] || psql "$PG" -qc "DROP DATABASE $DB"
