# Shared by the shell end-to-end tests: a temporary folder removed on exit,
# and the real gridd started on 127.0.0.1:0 (its port parsed from stdout) and
# killed by PID on exit. Source it after setting GRIDD.
tmp=$(mktemp -d)
pid=""
port=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_gridd [FLAG...]: serves $tmp/data; sets pid and port.
start_gridd() {
  "$GRIDD" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="$tmp/data" "$@" >"$tmp/gridd.out" 2>"$tmp/gridd.err" &
  pid=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/^gridd listening on port \([0-9]*\)$/\1/p' "$tmp/gridd.out")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  cat "$tmp/gridd.err" >&2
  echo "gridd did not start" >&2
  exit 1
}
