#!/usr/bin/env bash
# Publishing while retention purges a backlog, side by side: for each store,
# fills a store with FILL events (random ids, batches of 1,000 from 8
# publishers) and alternates ROUNDS times between a server on a filled store
# without retention and one on a filled store with --retention 1s, which
# finds the whole fill expired at start and purges it while the same load
# runs (eventagg bench, batches of 100 from 8 publishers, random ids, 20%
# repeats). Prints events/s, p99, how many events the consumer had still to
# process at the start (only processed events expire), how many the purge
# removed during the run, and the size after (SQLite: the file; PostgreSQL: the events
# table with its indexes). SQLite fills once and copies the file; each
# PostgreSQL run fills a schema of its own.
#
# Usage: scripts/bench-retention.sh
#   FILL=1000000  ROUNDS=2  EVENTS=200000  PORT=18292  STORES="sqlite postgres"
#   EVENTAGG_TEST_POSTGRES_URL=postgres://… (for the postgres rows)
#   EVENTAGG_BIN=path runs a binary built elsewhere.
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
fill=${FILL:-1000000} rounds=${ROUNDS:-2} events=${EVENTS:-200000} port=${PORT:-18292} stores=${STORES:-sqlite postgres}
pg=${EVENTAGG_TEST_POSTGRES_URL:-}

load() { "$bin" bench --url "http://127.0.0.1:$port" "$@" --json; }
fill_it() { load --events "$fill" --batch 1000 --concurrency 8 --id random --duplicate-rate 0 >/dev/null; }

# run STORE KIND ROUND: one measured run on a freshly filled store.
run() {
  local store=$1 kind=$2 round=$3 flags=() schema="" size
  if [ "$store" = postgres ]; then
    schema="retention_${kind}_$RANDOM$RANDOM"
    psql "$pg" -qc "CREATE SCHEMA $schema"
    flags=(--store "$(pgurl "$schema")")
    start "${flags[@]}"
    fill_it
    stop
  else
    rm -f "$work"/run.db*
    cp "$work/fill.db" "$work/run.db"
    flags=(--db "$work/run.db")
  fi
  if [ "$kind" = retention ]; then start "${flags[@]}" --retention 1s; else start "${flags[@]}"; fi
  local before after out eps p99 pending
  before=$(stat_of expired) pending=$(stat_of pending)
  out=$(load --events "$events" --batch 100 --concurrency 8 --id random --duplicate-rate 0.2)
  after=$(stat_of expired)
  stop
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
  if [ -n "$schema" ]; then
    size=$(psql "$pg" -tAc "SELECT pg_total_relation_size('$schema.events')")
    psql "$pg" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
  else
    size=$(stat -c %s "$work/run.db")
  fi
  printf '| %s | %s | %s | %.0f | %s | %s | %s | %s MB |\n' "$store" "$round" "$kind" "$eps" "$p99" "$pending" "$(( after - before ))" "$(( size / 1000000 ))"
}

for store in $stores; do
  if [ "$store" = postgres ]; then
    [ -n "$pg" ] || { echo "set EVENTAGG_TEST_POSTGRES_URL for the postgres rows" >&2; exit 2; }
  elif [ ! -e "$work/fill.db" ]; then
    start --db "$work/fill.db"
    fill_it
    stop
  fi
done

echo "\`eventagg bench --events $events --batch 100 --concurrency 8 --id random\` on a store filled with $fill events:"
echo
echo '| store | round | server | events/s | p99 ms | unprocessed at start | expired during the run | size after |'
echo '|---|---|---|---|---|---|---|---|'
for store in $stores; do
  for round in $(seq 1 "$rounds"); do
    for kind in plain retention; do
      run "$store" "$kind" "$round"
    done
  done
done
