#!/usr/bin/env bash
# The README's PostgreSQL figures: eventagg bench against 1 and then 3
# replicas on one fresh database schema, 20% duplicates: light load (few
# publishers, where each replica gets a third of the requests and so groups a
# third as large) and heavy load (enough publishers to saturate; every replica
# then admits 512 requests at once, so that one replica is not held back by
# its --max-inflight default of 64 while three admit 192).
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

run() { # replicas batch concurrency [serve flags…]
  local n=$1 batch=$2 conc=$3 schema="bench_$RANDOM$RANDOM"
  local flags=("${@:4}")
  psql "$base" -qc "CREATE SCHEMA $schema"
  local sep='?'; [[ $base == *\?* ]] && sep='&'
  local urls=()
  for i in $(seq 1 "$n"); do
    port=$((18090 + i))
    "$bin" serve "${flags[@]}" --addr "127.0.0.1:$port" --store "$base${sep}search_path=$schema" 2>/dev/null &
    pids+=($!)
    urls+=("http://127.0.0.1:$port")
  done
  for u in "${urls[@]}"; do until curl -sf "$u/readyz" >/dev/null; do sleep 0.1; done; done
  local list; list=$(IFS=,; echo "${urls[*]}")
  events=200000; [ "$batch" = 1 ] && events=$(( conc > 32 ? 40000 : 20000 ))
  out=$("$bin" bench --url "$list" --events "$events" --batch "$batch" --concurrency "$conc" --id sortable --json)
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
  mism=$(echo "$out" | tr -d '\n' | sed -n 's/.*"mismatches": \[\(.*\)\].*/\1/p')
  printf '| %s | %s | %s | %.0f | %s | %s | %s | `eventagg bench --url <%s replicas> --events %s --batch %s --concurrency %s --id sortable` |\n' \
    "$n" "$batch" "$conc" "$eps" "$p99" "${mism:-none}" "${flags[*]:-}" "$n" "$events" "$batch" "$conc"
  cleanup; pids=()
  wait 2>/dev/null || true
  psql "$base" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
}
echo '| replicas | batch | concurrency | events/s | p99 ms | /stats mismatches | serve flags | command |'
echo '|---|---|---|---|---|---|---|---|'
# 1 and 3 replicas one after the other for each load, so that the pairs
# compare the same minute of this shared machine.
while read -r batch conc flags; do
  for n in 1 3; do run "$n" "$batch" "$conc" $flags </dev/null; done
done <<'LOADS'
100 8
1000 8
1 32
100 64 --max-inflight 512
1 256 --max-inflight 512
LOADS
