#!/usr/bin/env bash
# Produces the README's bench table: eventagg bench on the embedded SQLite
# store, 20% duplicates, for each batch size, concurrency and id kind, then
# again on a database that already holds 1,000,000 events.
# Usage: scripts/bench-matrix.sh > bench-matrix.md
set -euo pipefail
bin=$(mktemp -d)/eventagg
go build -o "$bin" ./cmd/eventagg
work=$(mktemp -d)
trap 'rm -rf "$work" "$(dirname "$bin")"' EXIT

row() { # db-label extra-args...
  local label=$1; shift
  for id in random sortable; do
    for batch in 1 100 1000; do
      for conc in 1 8 32; do
        events=200000; [ "$batch" = 1 ] && events=20000
        args="--embedded --events $events --batch $batch --concurrency $conc --duplicate-rate 0.2 --id $id"
        out=$("$bin" bench $args "$@" --json)
        eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
        rps=$(echo "$out" | sed -n 's/.*"requests_per_second": \([0-9.]*\).*/\1/p')
        p50=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p50":\([0-9.]*\).*/\1/p')
        p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
        printf '| %s | %s | %s | %s | %.0f | %.0f | %s | %s | `eventagg bench %s%s` |\n' \
          "$label" "$id" "$batch" "$conc" "$eps" "$rps" "$p50" "$p99" "$args" "${*:+ $*}"
      done
    done
  done
}

echo '| store holds | ids | batch | concurrency | events/s | requests/s | p50 ms | p99 ms | command |'
echo '|---|---|---|---|---|---|---|---|---|'
row "empty"
"$bin" bench --embedded --db "$work/big.db" --events 1000000 --batch 1000 --concurrency 8 --duplicate-rate 0 --id random --json > /dev/null
# Every run adds its events to big.db, so later rows start from a bit more.
row "1M events" --db "$work/big.db"
