# Sourced by the bench scripts: start and stop one `eventagg serve` on
# 127.0.0.1:$port, with $bin the binary, $work a scratch directory, and the
# server's pid in $pid (kill it in the caller's EXIT trap).

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

# stat_of NAME prints an integer field of /stats.
stat_of() { curl -s "127.0.0.1:$port/stats" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
