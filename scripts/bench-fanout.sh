#!/usr/bin/env bash
# Publishing with many live subscribers, side by side: a SQLite store
# filled with FILL events (random ids, batches of 1,000 from 8 publishers)
# is copied for each run; a run starts the server, opens N `curl -N`
# streams of /subscribe, waits until all are open, and measures eventagg
# bench (batches of 100 from 8 publishers, random ids, 20% repeats). The
# kinds alternate in each round:
#   none        no subscriber
#   all         N streams of all topics from the end (?from=end)
#   one-topic   N streams of one topic each (bench.0 … bench.7) from the end
#   catch-up    N streams of all topics from the start (replaying the fill)
# Prints events/s, p99, the server's CPU per event published (from /proc:
# the part of the cost that is the server's, whoever reads the streams),
# the load generator's (with CLIENT=bench, the streams' readers' too), and
# how many events the first stream received.
# With CLIENT=bench the all and one-topic streams are held by eventagg
# bench itself (--subscribers), in one process instead of N curls, and the
# run fails unless each stream received exactly its events.
#
# Usage: scripts/bench-fanout.sh
#   FILL=160000  ROUNDS=2  EVENTS=200000  N=100  KINDS="none all one-topic"
#   CLIENT=curl (or bench)
#   PORT=18293  EVENTAGG_BIN=path runs a binary built elsewhere.
set -euo pipefail
# shellcheck source=serve-lib.sh
. "$(dirname "$0")/serve-lib.sh"
fill=${FILL:-160000} rounds=${ROUNDS:-2} events=${EVENTS:-200000} n=${N:-100} port=${PORT:-18293}
kinds=${KINDS:-none all one-topic} client=${CLIENT:-curl}
curls=()
stop_curls() {
  [ ${#curls[@]} -gt 0 ] || return 0
  kill "${curls[@]}" 2>/dev/null || true
  wait "${curls[@]}" 2>/dev/null || true
  curls=()
}
trap 'stop_curls; cleanup' EXIT

start --db "$work/fill.db"
"$bin" bench --url "http://127.0.0.1:$port" --events "$fill" --batch 1000 --concurrency 8 --id random --duplicate-rate 0 --json >/dev/null
stop

subscribers() { curl -s "127.0.0.1:$port/metrics" | sed -n 's/^eventagg_subscribers \([0-9]*\).*/\1/p'; }

echo "\`eventagg bench --events $events --batch 100 --concurrency 8 --id random\`, store filled with $fill events, $n subscribers:"
echo
echo '| round | subscribers | events/s | p99 ms | server CPU µs/event | eventagg bench CPU µs/event | events the first stream got |'
echo '|---|---|---|---|---|---|---|'
for round in $(seq 1 "$rounds"); do
  for kind in $kinds; do
    rm -f "$work"/run.db* "$work"/first.out
    cp "$work/fill.db" "$work/run.db"
    start --db "$work/run.db" --max-subscribers $(( n + 10 ))
    want=0 subs=()
    if [ "$client" = bench ] && [ "$kind" = all ]; then
      subs=(--subscribers "$n" --subscriber-topics all)
    elif [ "$client" = bench ] && [ "$kind" = one-topic ]; then
      subs=(--subscribers "$n" --subscriber-topics one)
    elif [ "$kind" != none ]; then
      want=$n
      for i in $(seq 0 $(( n - 1 ))); do
        case $kind in
          all) q="from=end" ;;
          one-topic) q="from=end&topic=bench.$(( i % 8 ))" ;;
          catch-up) q="" ;;
        esac
        out=/dev/null
        [ "$i" = 0 ] && out=$work/first.out
        curl -sN "127.0.0.1:$port/subscribe?$q" >"$out" &
        curls+=($!)
      done
    fi
    until [ "$(subscribers)" = "$want" ]; do sleep 0.1; done
    cpu0=$(ticks "$pid") own0=$(children_ticks)
    out=$("$bin" bench --url "http://127.0.0.1:$port" --events "$events" --batch 100 --concurrency 8 --id random --duplicate-rate 0.2 --json "${subs[@]}")
    cpu1=$(ticks "$pid") own1=$(children_ticks)
    us=$(per_event $((cpu1 - cpu0))) bus=$(per_event $((own1 - own0)))
    got=0
    [ -e "$work/first.out" ] && got=$(grep -c '^data: ' "$work/first.out" || true)
    [ ${#subs[@]} -gt 0 ] && got=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"received_min":\([0-9]*\).*/\1/p')
    stop_curls
    stop
    eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
    p99=$(echo "$out" | tr -d '\n ' | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
    printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$round" "$kind" "$eps" "$p99" "$us" "$bus" "$got"
  done
done
