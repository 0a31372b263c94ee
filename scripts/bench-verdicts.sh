#!/usr/bin/env bash
# The ingest cost of conflict verdicts and clocks, side by side: the server
# of BASE (a commit before them, built in a temporary worktree) against this
# checkout's, loaded by this checkout's eventagg bench stamping clocks (the
# Go client's default; BASE ignores them) and sending "clock": null
# (publishers without one: the server gives each event its topic's
# largest). Batches of 100 from 8 publishers, random ids, 20% repeats, a
# fresh store each run, the variants alternating ROUNDS times in a rotating
# order so each round compares the same minutes of this shared machine. Per
# run: events/s, p99, and the server's CPU time per event (user + system,
# from /proc), which a busy machine disturbs far less than throughput; then
# each variant's ratios to BASE, per round.
#
# Usage: scripts/bench-verdicts.sh
#   BASE=bee6f5f  ROUNDS=3  EVENTS=200000  TOPICS=8  STORES="sqlite postgres"
#   EVENTAGG_TEST_POSTGRES_URL=postgres://… (for the postgres rows)
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
base=${BASE:-bee6f5f} rounds=${ROUNDS:-3} events=${EVENTS:-200000} topics=${TOPICS:-8}
stores=${STORES:-sqlite postgres} pg=${EVENTAGG_TEST_POSTGRES_URL:-}
port=${PORT:-18310}
git worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && go build -o "$work/eventagg-base" ./cmd/eventagg)
git worktree remove --force "$work/base"
new=$bin

run() { # variant store round
  local variant=$1 store=$2 round=$3 schema="" flags=() extra=()
  case $variant in
    base) bin=$work/eventagg-base ;;
    clocks) bin=$new ;;
    no-clocks) bin=$new; extra=(--clocks=false) ;;
  esac
  if [ "$store" = postgres ]; then
    [ -n "$pg" ] || { echo "set EVENTAGG_TEST_POSTGRES_URL for the postgres rows" >&2; exit 2; }
    schema="verdicts_$RANDOM$RANDOM"
    psql "$pg" -qc "CREATE SCHEMA $schema"
    flags=(--store "$(pgurl "$schema")")
  else
    rm -f "$work"/bench.db*
    flags=(--db "$work/bench.db")
  fi
  start "${flags[@]}"
  local out eps p99 mism cpu0 cpu1 us
  cpu0=$(ticks "$pid")
  out=$("$new" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 \
    --topics "$topics" --id random --duplicate-rate 0.2 --json "${extra[@]}")
  cpu1=$(ticks "$pid")
  stop
  us=$(per_event $((cpu1 - cpu0)))
  [ -n "$schema" ] && psql "$pg" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
  eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
  p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
  mism=$(echo "$out" | tr -d '\n' | sed -n 's/.*"mismatches": \[\(.*\)\].*/\1/p')
  printf '| %s | %s | %s | %.0f | %s | %s | %s |\n' "$round" "$store" "$variant" "$eps" "$p99" "$us" "${mism:-none}"
  echo "$round $store $variant $eps $us" >> "$work/eps"
}

echo "| round | store | variant | events/s | p99 ms | server CPU µs/event | mismatches |"
echo '|---|---|---|---|---|---|---|'
variants=(base clocks no-clocks)
for round in $(seq 1 "$rounds"); do
  for store in $stores; do
    for k in 0 1 2; do # rotated: each variant goes first in one round of three
      run "${variants[$(((k + round) % 3))]}" "$store" "$round" </dev/null
    done
  done
done
echo
echo "| round | store | events/s: clocks / base | no-clocks / base | CPU per event: clocks / base | no-clocks / base |"
echo '|---|---|---|---|---|---|'
awk '{ eps[$1" "$2" "$3] = $4; cpu[$1" "$2" "$3] = $5; key[$1" "$2] = 1 }
  END { for (k in key) printf "| %s | %.2f | %.2f | %.2f | %.2f |\n", k, eps[k" clocks"]/eps[k" base"], eps[k" no-clocks"]/eps[k" base"],
    cpu[k" clocks"]/cpu[k" base"], cpu[k" no-clocks"]/cpu[k" base"] }' "$work/eps" |
  sed 's/^| \([0-9]*\) \([a-z]*\)/| \1 | \2/' | sort
