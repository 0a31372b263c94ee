# Sourced by the bench scripts: a scratch directory $work (removed at exit,
# with the server in $pid killed), the binary $bin (EVENTAGG_BIN, or built
# from this checkout), and start and stop of one `eventagg serve` on
# 127.0.0.1:$port.

bin=${EVENTAGG_BIN:-}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "$bin" ]; then
  bin=$work/eventagg
  go build -o "$bin" ./cmd/eventagg
fi

# start FLAGS... runs the server and waits until /readyz answers; a port
# that another server already answers on is an error, not a measurement of
# that server.
start() {
  if curl -s "127.0.0.1:$port/readyz" >/dev/null; then
    echo "port $port is taken by another server; set PORT" >&2; exit 1
  fi
  "$bin" serve --addr "127.0.0.1:$port" "$@" 2>>"$work/serve.log" &
  pid=$!
  until curl -sf "127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
  done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# ticks PID prints a process's CPU time (user and system, in clock ticks);
# children_ticks the same for this shell's children that have ended (and
# been waited for); per_event TICKS prints ticks as µs per event of $events.
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
children_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
per_event() { awk -v d="$1" -v hz="$hz" -v n="$events" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }'; }

# stat_of NAME prints an integer field of /stats.
stat_of() { curl -s "127.0.0.1:$port/stats" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }

# pgurl SCHEMA prints $pg (a postgres:// URL) with the connections'
# search_path set to SCHEMA.
pgurl() { local sep='?'; [[ $pg == *\?* ]] && sep='&'; echo "$pg${sep}search_path=$1"; }
