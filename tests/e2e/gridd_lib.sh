# Shared by the shell end-to-end tests: a temporary folder removed on exit,
# and the real gridd started on 127.0.0.1:0 (its ports parsed from stdout)
# and killed by PID on exit. Source it after setting GRIDD.
tmp=$(mktemp -d)
pid=""
port=""
mport=""
started=()
cleanup() {
  for p in "${started[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_gridd [FLAG...]: serves ${data:-$tmp/data}, stdout and stderr in
# $tmp/${name:-gridd}.out and .err; sets pid, port (gRPC) and mport (HTTP:
# /metrics, /healthz, /readyz). Set `data` and `name` to run a second one.
start_gridd() {
  local n=${name:-gridd}
  # Emptied here, not only by the redirect below: that one runs in the
  # background child, and until it does the loop would read the port of the
  # previous gridd of the same name.
  : >"$tmp/$n.out"
  : >"$tmp/$n.err"
  "$GRIDD" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="${data:-$tmp/data}" "$@" \
    >"$tmp/$n.out" 2>"$tmp/$n.err" &
  pid=$!
  started+=("$pid")
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/^gridd listening on port \([0-9]*\)$/\1/p' "$tmp/$n.out")
    if [ -n "$port" ]; then
      mport=$(sed -n 's/^gridd metrics on port \([0-9]*\)$/\1/p' "$tmp/$n.out")
      return 0
    fi
    sleep 0.1
  done
  cat "$tmp/$n.err" >&2
  echo "gridd did not start" >&2
  exit 1
}

# free_ports N: N loopback ports nothing listens on now, on one line.
free_ports() {
  /usr/bin/python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])' "$1"
}

# wait_for_line FILE REGEX: until a line of FILE matches (at most 30 s);
# fails if none does. What the other side prints is the signal, not a nap.
wait_for_line() {
  for _ in $(seq 1 300); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no line matching '$2' in $1 after 30 s" >&2
  return 1
}

passed=0
failed=0
# check NAME COMMAND...: the command must succeed.
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name" >&2
  fi
}

# finish NAME: the summary line; fails if any check did.
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
