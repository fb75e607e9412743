#!/usr/bin/env bash
# Runs the peer baselines (../shared/peers) and gridlog's own workloads on this
# machine, one after the other, and prints one table: each target, gridlog's
# figure, the peer's, the ratio and whether the target is met. Absolute
# numbers drift between runs on shared machines; the ratios are the result.
#
# usage: bench/compare.sh [--quick] [--skip-peers DIR] [--record] [OUTDIR]
#   --quick       small counts and short runs (peers ~2 min, gridlog ~2 min)
#   --skip-peers  reuse the peers' summary.json in DIR instead of running them
#   --record      keep this run in bench/results/{full,quick}/ (the peers'
#                 summary, gridlog's rows, the table, the commit), to commit:
#                 the next run shows its ratios beside its own
#   OUTDIR        keeps every raw result (default: a new temporary folder)
# Needs root for the peers (they install Debian packages and start servers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$root/../shared/peers}
quick=""
peers_dir=""
record=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=--quick ;;
    --skip-peers) peers_dir=$2; shift ;;
    --record) record=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || out=$(mktemp -d -t gridlog-compare.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

make -C "$root" build >&2
gridd=$root/build/gridd
gridctl=$root/build/gridctl

# 1. The peers, first, on an otherwise idle machine.
if [ -z "$peers_dir" ]; then
  [ -x "$peers/run.sh" ] || { echo "no peer suite at $peers (set PEERS=...)" >&2; exit 1; }
  log "running the peer baselines ($peers) ..."
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" "$peers/run.sh" $quick "$out/peers" >"$out/peers.md"
  peers_dir=$out/peers
fi

# 2. gridlog, its data on the same kind of disk as the peers' (not tmpfs).
parent=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ "$(stat -f -c %T /tmp)" = tmpfs ] && [ -d /var/tmp ]; then parent=/var/tmp; fi
data=$(mktemp -d "$parent/gridlog-bench.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

start() {
  : >"$out/gridd.out"
  "$gridd" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="$data/data" >"$out/gridd.out" 2>>"$out/gridd.err" &
  pid=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's/^gridd listening on port \([0-9]*\)$/\1/p' "$out/gridd.out")
    [ -n "$port" ] && return 0
    sleep 0.01
  done
  echo "gridd did not start (see $out/gridd.err)" >&2
  exit 1
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}
bench() {
  log "gridctl bench $*"
  "$gridctl" bench "$@" $quick --output json --server "127.0.0.1:$port" | tee -a "$out/gridlog.jsonl" >&2
}

: >"$out/gridlog.jsonl"
start
bench append
bench fanout
bench idle
bench slow
bench replay  # P3: a log of ~2M events, the size db_bench's readseq reads
if [ -n "$quick" ]; then fill=300000; else fill=10000000; fi
log "filling the log to $fill events for the restart, replay and projection figures ..."
"$gridctl" bench fill --events "$fill" --output json --server "127.0.0.1:$port" | tee -a "$out/gridlog.jsonl" >&2

# Restart: SIGTERM, start again, time until a status call is answered.
stop
t0=$(date +%s%N)
start
until "$gridctl" status --server "127.0.0.1:$port" >"$out/status.json" 2>/dev/null; do sleep 0.005; done
t1=$(date +%s%N)
head=$(sed -n 's/.*"head_position":\([0-9]*\).*/\1/p' "$out/status.json")
echo "{\"workload\":\"restart\",\"events\":$head,\"seconds\":$(awk "BEGIN{printf \"%.2f\", ($t1-$t0)/1e9}")}" |
  tee -a "$out/gridlog.jsonl" >&2

bench replay
bench projection
stop

# 3. The table, beside the last recorded run of the same kind.
kept=$root/bench/results/${quick:+quick}
[ -n "$quick" ] || kept=$root/bench/results/full
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit+changes"
/usr/bin/python3 "$root/bench/compare.py" "$peers_dir/summary.json" "$out/gridlog.jsonl" ${quick:+--quick} \
  --commit "$commit" --previous "$kept" | tee "$out/compare.md"
log "raw results in $out"
if [ -n "$record" ]; then
  mkdir -p "$kept"
  cp "$peers_dir/summary.json" "$kept/peers.json"
  cp "$out/gridlog.jsonl" "$out/compare.md" "$kept/"
  echo "$commit" >"$kept/commit"
  log "recorded in $kept (commit it)"
fi
