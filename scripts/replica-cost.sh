#!/usr/bin/env bash
# Where the CPU goes when replicas share a machine with PostgreSQL: starts N
# replicas on a fresh schema, runs one eventagg bench load against them and
# prints, besides events/s, the CPU ticks (1/100 s) used by the replicas, by
# every PostgreSQL process and by the load generator, the machine's busy and
# idle ticks, the group commits the replicas made, PostgreSQL's transactions
# and WAL fsyncs (these two include the replicas' drain at shutdown), and
# the rows each table had updated. The README's forwarding table comes from
# it.
#
# Usage: EVENTAGG_TEST_POSTGRES_URL=postgres://… scripts/replica-cost.sh REPLICAS BATCH PUBLISHERS [EVENTS]
# SERVE_FLAGS adds serve flags (say --max-inflight 512); SERVE_ENV sets
# variables for the replicas (say GOGC=400); ONLY=1 sends the whole load to
# the first replica, so the others only stand by; EVENTAGG_BIN runs a binary
# built elsewhere. PostgreSQL must run on this machine (its processes are
# read from /proc), and pg_stat_wal needs PostgreSQL 14 or later.
set -euo pipefail
n=${1:?replicas} batch=${2:?batch} conc=${3:?publishers} events=${4:-20000}
base=${EVENTAGG_TEST_POSTGRES_URL:?set EVENTAGG_TEST_POSTGRES_URL}
bin=${EVENTAGG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(mktemp -d)/eventagg
  go build -o "$bin" ./cmd/eventagg
fi
schema="cost_$RANDOM$RANDOM"
sep='?'; [[ $base == *\?* ]] && sep='&'
pids=() tf=''
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$tf" ] || rm -f "$tf" "$tf.out"
  psql "$base" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE"
}
trap cleanup EXIT
psql "$base" -qc "CREATE SCHEMA $schema"
urls=()
for i in $(seq 1 "$n"); do
  port=$((18290 + i))
  # shellcheck disable=SC2086 # SERVE_ENV and SERVE_FLAGS are word lists
  env ${SERVE_ENV:-} "$bin" serve ${SERVE_FLAGS:-} --addr "127.0.0.1:$port" --store "$base${sep}search_path=$schema" 2>/dev/null &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
for u in "${urls[@]}"; do until curl -sf "$u/readyz" >/dev/null; do sleep 0.1; done; done
list=$(IFS=,; echo "${urls[*]}")
[ -n "${ONLY:-}" ] && list=${urls[0]}

ticks() { # utime+stime of the given pids
  local s=0 f
  for p in "$@"; do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    s=$((s + ${f% *} + ${f#* }))
  done
  echo "$s"
}
machine() { awk '/^cpu /{print $2+$3+$4, $5+$6}' /proc/stat; } # busy idle
sql() { psql "$base" -Atc "$1"; }
xacts() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }
walsyncs() { sql "SELECT wal_sync FROM pg_stat_wal"; }

declare -A pg0 # PostgreSQL process → its ticks before the run
for p in $(pgrep -f 'postgres:'); do pg0[$p]=$(ticks "$p"); done
x0=$(xacts); w0=$(walsyncs); r0=$(ticks "${pids[@]}"); read -r b0 i0 < <(machine)
tf=$(mktemp) TIMEFORMAT='%U %S' # the load generator's user and system seconds
{ time "$bin" bench --url "$list" --events "$events" --batch "$batch" --concurrency "$conc" \
  --id sortable --json >"$tf.out"; } 2>"$tf" || { cat "$tf" >&2; exit 1; }
out=$(cat "$tf.out")
read -r b1 i1 < <(machine); r1=$(ticks "${pids[@]}")
# Every PostgreSQL process alive now, less what it had used before; the
# pools keep their connections open, so few ended during the run.
pgcpu=0
for p in $(pgrep -f 'postgres:'); do pgcpu=$((pgcpu + $(ticks "$p") - ${pg0[$p]:-0})); done
groups=0
for u in "${urls[@]}"; do
  g=$(curl -s "$u/metrics" | awk '/^eventagg_commit_batch_size_count/{print $2}')
  groups=$((groups + ${g%.*}))
done
# Backends report their statistics when they end (else up to 10 s later):
# stop the replicas and wait for their connections to close.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
for _ in $(seq 50); do
  [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] && break
  sleep 0.2
done
x1=$(xacts); w1=$(walsyncs)
read -r bu bs < "$tf"
eps=$(echo "$out" | sed -n 's/.*"events_per_second": \([0-9.]*\).*/\1/p')
printf 'replicas=%s batch=%s publishers=%s events/s=%.0f\n' "$n" "$batch" "$conc" "$eps"
printf 'cpu ticks: replicas=%s postgres=%s bench=%.0f machine busy=%s idle=%s\n' \
  $((r1 - r0)) "$pgcpu" "$(awk -v u="$bu" -v s="$bs" 'BEGIN{print (u + s) * 100}')" $((b1 - b0)) $((i1 - i0))
echo "group commits=$groups transactions=$((x1 - x0)) wal fsyncs=$((w1 - w0))"
sql "SELECT 'rows updated: ' || string_agg(relname || '=' || n_tup_upd, ' ' ORDER BY relname)
  FROM pg_stat_user_tables WHERE schemaname = '$schema' AND n_tup_upd > 0"
