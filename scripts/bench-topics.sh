#!/usr/bin/env bash
# Many topics, side by side: eventagg bench (batches of 100 from 8
# publishers, random ids, 20% repeats) against a fresh server for each topic
# count, on SQLite and on PostgreSQL (one replica), alternating the counts
# ROUNDS times so that each round compares the same minutes of this shared
# machine. For each run it prints events/s, p99, the CPU time per event of
# the server and of PostgreSQL (all its processes on this machine: less
# disturbed by the noise of a shared machine than events/s), the server's
# peak resident memory, and the size and time of GET /stats afterwards; then
# each count's ratio to the first count, per round.
#
# Usage: scripts/bench-topics.sh [TOPICS...]        (default: 8 100000)
#   ROUNDS=2  EVENTS=200000  STORES="sqlite postgres"
#   EVENTAGG_TEST_POSTGRES_URL=postgres://… (for the postgres rows)
#   EVENTAGG_BIN=path runs a binary built elsewhere (say, another commit).
#   BENCH_FLAGS="--clocks=false" adds flags to the load generator's runs.
#   WARM=1 runs the same load once unmeasured first, so that the measured run
#   finds its topics (and as many events) stored: the cost of an event with
#   many topics, apart from the cost of creating them.
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
counts=("${@:-8 100000}")
[ $# -eq 0 ] && counts=(8 100000)
rounds=${ROUNDS:-2} events=${EVENTS:-200000} stores=${STORES:-sqlite postgres}
extra=${BENCH_FLAGS:-} # more flags for eventagg bench, say --clocks=false
pg=${EVENTAGG_TEST_POSTGRES_URL:-}
port=18290

# db_ticks STORE prints the CPU time of all the PostgreSQL processes on
# this machine (0 if none are: a remote database), in clock ticks.
db_ticks() {
  [ "$1" = postgres ] || { echo 0; return; }
  local p sum=0
  for p in $(pgrep -x postgres || true); do sum=$((sum + $(ticks "$p" 2>/dev/null || echo 0))); done
  echo "$sum"
}

run() { # store topics round
  local store=$1 topics=$2 round=$3 schema="" store_flag
  if [ "$store" = postgres ]; then
    [ -n "$pg" ] || { echo "set EVENTAGG_TEST_POSTGRES_URL for the postgres rows" >&2; exit 2; }
    schema="topics_$RANDOM$RANDOM"
    psql "$pg" -qc "CREATE SCHEMA $schema"
    local sep='?'; [[ $pg == *\?* ]] && sep='&'
    store_flag=(--store "$pg${sep}search_path=$schema")
  else
    rm -f "$work"/bench.db*
    store_flag=(--db "$work/bench.db")
  fi
  "$bin" serve --addr "127.0.0.1:$port" "${store_flag[@]}" 2>"$work/serve.log" &
  pid=$!
  until curl -sf "127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
  local out eps p99 mism stats rss
  if [ -n "${WARM:-}" ]; then
    "$bin" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 \
      --topics "$topics" --id random --duplicate-rate 0.2 $extra --json >/dev/null
  fi
  local s0 s1 d0 d1
  s0=$(ticks "$pid") d0=$(db_ticks "$store")
  out=$("$bin" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 \
    --topics "$topics" --id random --duplicate-rate 0.2 $extra --json)
  s1=$(ticks "$pid") d1=$(db_ticks "$store")
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
  mism=$(echo "$out" | tr -d '\n' | sed -n 's/.*"mismatches": \[\(.*\)\].*/\1/p')
  stats=$(curl -s -o /dev/null -w '%{size_download} B, %{time_total} s' "127.0.0.1:$port/stats")
  rss=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  [ -n "$schema" ] && psql "$pg" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
  local cpu dbcpu=–
  cpu=$(per_event $((s1 - s0)))
  [ "$store" = postgres ] && [ "$d0" != 0 ] && dbcpu=$(per_event $((d1 - d0)))
  printf '| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | `eventagg bench --url … --events %s --batch 100 --concurrency 8 --topics %s --id random%s` |\n' \
    "$round" "$store" "$topics" "$eps" "$p99" "$cpu" "$dbcpu" "$rss" "$stats" "${mism:-none}" "$events" "$topics" "${extra:+ $extra}"
  echo "$round $store $topics $eps $((s1 - s0 + d1 - d0))" >> "$work/eps"
}

echo '| round | store | topics | events/s | p99 ms | server CPU µs/event | PostgreSQL CPU µs/event | server peak RSS | /stats after | /stats mismatches | command |'
echo '|---|---|---|---|---|---|---|---|---|---|---|'
for round in $(seq 1 "$rounds"); do
  for topics in "${counts[@]}"; do
    for store in $stores; do run "$store" "$topics" "$round" </dev/null; done
  done
done
echo
# The second ratio is of CPU time per event (the server's, and PostgreSQL's
# on this machine), the first run's over this one's: the same sense as the
# events/s ratio, and less disturbed by the noise of a shared machine.
echo '| round | store | topics | ÷ the '"${counts[0]}"'-topic run of the round | by CPU per event |'
echo '|---|---|---|---|---|'
awk -v first="${counts[0]}" '
  { eps[$1" "$2" "$3] = $4; cpu[$1" "$2" "$3] = $5; order[n++] = $1" "$2" "$3 }
  END { for (i = 0; i < n; i++) { split(order[i], k, " "); base = k[1]" "k[2]" "first; if (k[3] != first)
          printf "| %s | %s | %s | %.2f | %.2f |\n", k[1], k[2], k[3], eps[order[i]] / eps[base], cpu[base] / cpu[order[i]] } }' "$work/eps"
