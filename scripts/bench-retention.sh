#!/usr/bin/env bash
# Publishing while retention purges a backlog, side by side: fills a SQLite
# file with FILL events (random ids, batches of 1,000 from 8 publishers),
# copies it twice, and alternates ROUNDS times between a server on one copy
# without retention and a server on the other with --retention 1s, which
# finds the whole fill expired at start and purges it while the same load
# runs (eventagg bench, batches of 100 from 8 publishers, random ids, 20%
# repeats). Prints events/s, p99, how many events the purge removed during
# the run, and the file size after.
#
# Usage: scripts/bench-retention.sh
#   FILL=1000000  ROUNDS=2  EVENTS=200000  PORT=18292
#   EVENTAGG_BIN=path runs a binary built elsewhere.
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
fill=${FILL:-1000000} rounds=${ROUNDS:-2} events=${EVENTS:-200000} port=${PORT:-18292}


start --db "$work/fill.db"
"$bin" bench --url "http://127.0.0.1:$port" --events "$fill" --batch 1000 --concurrency 8 --id random --duplicate-rate 0 --json >/dev/null
stop

echo '| round | server | events/s | p99 ms | expired during the run | file after | command |'
echo '|---|---|---|---|---|---|---|'
for round in $(seq 1 "$rounds"); do
  for kind in plain retention; do
    rm -f "$work"/run.db*
    cp "$work/fill.db" "$work/run.db"
    if [ "$kind" = retention ]; then start --db "$work/run.db" --retention 1s; else start --db "$work/run.db"; fi
    before=$(stat_of expired)
    out=$("$bin" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 --id random --duplicate-rate 0.2 --json)
    after=$(stat_of expired)
    stop
    eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
    p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"P99":\([0-9.]*\).*/\1/p')
    printf '| %s | %s | %.0f | %s | %s | %s MB | `eventagg bench --events %s --batch 100 --concurrency 8 --id random` |\n' \
      "$round" "$kind" "$eps" "$p99" "$(( after - before ))" "$(( $(stat -c %s "$work/run.db") / 1000000 ))" "$events"
  done
done
