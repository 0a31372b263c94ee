#!/usr/bin/env bash
# A long history, side by side: fills a store with FILL unique events
# (random ids, 100-byte payloads, batches of 1,000 from 8 publishers, a
# million at a time, printing each million's rate), then alternates ROUNDS
# times between an empty store and the full one under the same load
# (eventagg bench, batches of 100 from 8 publishers, random ids, 20%
# repeats), printing events/s, p99 and the server's peak resident memory,
# and the full ÷ empty ratio of each round.
#
# Usage: scripts/bench-history.sh
#   FILL=10000000  ROUNDS=2  EVENTS=200000  STORES="sqlite postgres"
#   KEEP=dir       keeps the filled SQLite file (and PostgreSQL schema name)
#                  there and reuses it when it is already full
#   EVENTAGG_TEST_POSTGRES_URL=postgres://… (for the postgres rows)
#   EVENTAGG_BIN=path runs a binary built elsewhere (say, another commit).
#   PORT=18291 the port the servers listen on
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
fill=${FILL:-10000000} rounds=${ROUNDS:-2} events=${EVENTS:-200000} stores=${STORES:-sqlite postgres}
pg=${EVENTAGG_TEST_POSTGRES_URL:-}
keep=${KEEP:-$work}
mkdir -p "$keep"
port=${PORT:-18291}


stored() { stat_of stored; }
rss() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status"; }

# flag store name → the flags that open the full store of that kind.
full_flags() {
  if [ "$1" = postgres ]; then echo --store "$(pgurl "$(cat "$keep/pg-schema")")"; else echo --db "$keep/full.db"; fi
}

fill_store() { # store
  local store=$1
  if [ "$store" = postgres ]; then
    [ -n "$pg" ] || { echo "set EVENTAGG_TEST_POSTGRES_URL for the postgres rows" >&2; exit 2; }
    [ -s "$keep/pg-schema" ] || { echo "history_$RANDOM$RANDOM" > "$keep/pg-schema"; psql "$pg" -qc "CREATE SCHEMA $(cat "$keep/pg-schema")"; }
  fi
  # shellcheck disable=SC2046
  start $(full_flags "$store")
  local have step
  have=$(stored)
  echo "$store: $have events stored, filling to $fill" >&2
  while [ "$have" -lt "$fill" ]; do
    step=$(( fill - have < 1000000 ? fill - have : 1000000 ))
    local out eps rate
    out=$("$bin" bench --url "http://127.0.0.1:$port" --events "$step" --batch 1000 --concurrency 8 --id random --duplicate-rate 0 --json)
    eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
    have=$(stored)
    printf '| fill | %s | %s → %s | %.0f | %s | `eventagg bench --events %s --batch 1000 --concurrency 8 --id random --duplicate-rate 0` |\n' \
      "$store" "$(( have - step ))" "$have" "$eps" "$(rss)" "$step"
  done
  stop
}

run() { # store empty|full round
  local store=$1 kind=$2 round=$3 schema=""
  if [ "$kind" = empty ]; then
    if [ "$store" = postgres ]; then
      schema="history_empty_$RANDOM$RANDOM"
      psql "$pg" -qc "CREATE SCHEMA $schema"
      start --store "$(pgurl "$schema")"
    else
      rm -f "$work"/empty.db*
      start --db "$work/empty.db"
    fi
  else
    # shellcheck disable=SC2046
    start $(full_flags "$store")
  fi
  local before out eps p99 mism
  before=$(stored)
  out=$("$bin" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 --id random --duplicate-rate 0.2 --json)
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
  mism=$(echo "$out" | tr -d '\n' | sed -n 's/.*"mismatches": \[\(.*\)\].*/\1/p')
  printf '| %s | %s | %s (%s stored) | %.0f | %s | %s | %s | `eventagg bench --events %s --batch 100 --concurrency 8 --id random` |\n' \
    "$round" "$store" "$kind" "$before" "$eps" "$p99" "$(rss)" "${mism:-none}" "$events"
  echo "$round $store $kind $eps" >> "$work/eps"
  stop
  if [ -n "$schema" ]; then psql "$pg" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"; fi
}

echo '| round | store | store state | events/s | p99 ms | server peak RSS | /stats mismatches | command |'
echo '|---|---|---|---|---|---|---|---|'
for store in $stores; do fill_store "$store" </dev/null; done
for round in $(seq 1 "$rounds"); do
  for kind in empty full; do
    for store in $stores; do run "$store" "$kind" "$round" </dev/null; done
  done
done
echo
echo '| round | store | full ÷ empty |'
echo '|---|---|---|'
awk '{ eps[$1" "$2" "$3] = $4; if ($3 == "full") order[n++] = $1" "$2 }
  END { for (i = 0; i < n; i++) { split(order[i], k, " ")
          printf "| %s | %s | %.2f |\n", k[1], k[2], eps[order[i]" full"] / eps[order[i]" empty"] } }' "$work/eps"
