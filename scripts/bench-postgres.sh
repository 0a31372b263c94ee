#!/usr/bin/env bash
# The README's PostgreSQL figures: eventagg bench against 1 and then 3
# replicas on one fresh database schema, 20% duplicates.
# Usage: EVENTAGG_TEST_POSTGRES_URL=postgres://… scripts/bench-postgres.sh
# EVENTAGG_BIN=path runs a binary built elsewhere (say, another commit), to
# compare two versions on the same machine state.
set -euo pipefail
base=${EVENTAGG_TEST_POSTGRES_URL:?set EVENTAGG_TEST_POSTGRES_URL}
bin=${EVENTAGG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(mktemp -d)/eventagg
  go build -o "$bin" ./cmd/eventagg
fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

run() { # replicas batch concurrency
  local n=$1 batch=$2 conc=$3 schema="bench_$RANDOM$RANDOM"
  psql "$base" -qc "CREATE SCHEMA $schema"
  local sep='?'; [[ $base == *\?* ]] && sep='&'
  local urls=()
  for i in $(seq 1 "$n"); do
    port=$((18090 + i))
    "$bin" serve --addr "127.0.0.1:$port" --store "$base${sep}search_path=$schema" 2>/dev/null &
    pids+=($!)
    urls+=("http://127.0.0.1:$port")
  done
  for u in "${urls[@]}"; do until curl -sf "$u/readyz" >/dev/null; do sleep 0.1; done; done
  local list; list=$(IFS=,; echo "${urls[*]}")
  events=200000; [ "$batch" = 1 ] && events=20000
  out=$("$bin" bench --url "$list" --events "$events" --batch "$batch" --concurrency "$conc" --id sortable --json)
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"P99":\([0-9.]*\).*/\1/p')
  mism=$(echo "$out" | tr -d '\n' | sed -n 's/.*"mismatches": \[\(.*\)\].*/\1/p')
  printf '| %s | %s | %s | %.0f | %s | %s | `eventagg bench --url <%s replicas> --events %s --batch %s --concurrency %s --id sortable` |\n' \
    "$n" "$batch" "$conc" "$eps" "$p99" "${mism:-none}" "$n" "$events" "$batch" "$conc"
  cleanup; pids=()
  wait 2>/dev/null || true
  psql "$base" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
}
echo '| replicas | batch | concurrency | events/s | p99 ms | /stats mismatches | command |'
echo '|---|---|---|---|---|---|---|'
for n in 1 3; do
  run "$n" 100 8
  run "$n" 1000 8
  run "$n" 1 32
done
