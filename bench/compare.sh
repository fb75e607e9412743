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
#                 summary, gridlog's rows, the table, the plots, the commit),
#                 to commit: the next run shows its ratios beside its own
#   OUTDIR        keeps every raw result (default: a new temporary folder)
# Needs root for the peers (they install Debian packages and start servers).
#
# gridlog runs on two fresh logs: the first for the targets (appends on an
# empty log, fan-out at 64 subscribers and then 1 and 1,000, idle and slow
# subscribers, replay of a freshly written log); the second for the curves
# by log size: appends, replay and point-in-time reads on an empty log, then
# filled to 1M and to 10M events, each time left to finish its background
# work and restarted (the restart figure; admission starts cold) before
# measuring again, the batch and household appends continuing the fill's
# last counties (their grids' and households' streams, with histories).
# compare.py draws the curves with gnuplot.
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || out=$(mktemp -d -t gridlog-compare.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

# The code measured: what `make build` builds now (the tree may change while
# the run goes on).
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit+changes"
make -C "$root" build >&2
if ! command -v gnuplot >/dev/null; then  # for the plots; in cmake/install-deps.sh's test packages
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >&2
fi
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
    # (printed before the line above)
    metrics_port=$(sed -n 's/^gridd metrics on port \([0-9]*\)$/\1/p' "$out/gridd.out")
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
results=$out/gridlog.jsonl
bench() {
  log "gridctl bench $*"
  "$gridctl" bench "$@" $quick --output json --server "127.0.0.1:$port" | tee -a "$results" >&2
}
# Restart: SIGTERM, start again, time until a status call is answered.
restart() {
  stop
  local t0 t1
  t0=$(date +%s%N)
  start
  until "$gridctl" status --server "127.0.0.1:$port" >"$out/status.json" 2>/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  head=$(sed -n 's/.*"head_position":\([0-9]*\).*/\1/p' "$out/status.json")
  echo "{\"workload\":\"restart\",\"events\":$head,\"seconds\":$(awk "BEGIN{printf \"%.2f\", ($t1-$t0)/1e9}")}" |
    tee -a "$results" >&2
}
# Waits until gridd is idle (under 5% of a CPU for a second; 300 s at most):
# a fill leaves flushes, compactions and the projections' catch-up behind,
# work a log that grew over years has long done. Logs how long it took.
quiesce() {
  local t0=$SECONDS before after
  while [ $((SECONDS - t0)) -lt 300 ]; do
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep 1
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    [ $((after - before)) -lt $(($(getconf CLK_TCK) / 20)) ] && break
  done
  log "gridd idle after $((SECONDS - t0)) s"
}
field() {  # field NAME JSON_LINE: a number in one of gridctl's rows
  sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

# 2a. The targets, on an empty log.
: >"$out/gridlog.jsonl"
start
bench append
bench fanout  # P4 (64 subscribers; 8 when --quick); then the curve's other points
bench fanout --subscribers 1
if [ -n "$quick" ]; then bench fanout --subscribers 100; else bench fanout --subscribers 1000; fi
bench idle
bench slow --metrics_port "$metrics_port"  # RSS, and RSS less RocksDB's cache
bench replay  # P3: a freshly written log of ~2M events, the size db_bench's readseq reads
stop
rm -rf "$data/data"

# 2b. The curves by log size, on a second log.
results=$out/scale.jsonl
: >"$results"
if [ -n "$quick" ]; then
  sizes="50000 150000" unary=2000 batch=8000 households=2000
else
  sizes="1000000 10000000" unary=60000 batch=300000 households=40000
fi
run=scale$$
measure() {  # measure POINT [--lane L --after N]: the workloads at one log size
  local point=$1
  shift
  bench append --mode unary --events "$unary" --run "$run" --lane $((100000 + 1000 * point))
  if [ $# -gt 0 ]; then
    bench append --mode batch --events "$batch" --run "$run" "$@"
    bench append --mode households --events "$households" --run "$run" "$@"
  else
    bench append --mode batch --events "$batch" --run "$run" --lane $((200000 + 1000 * point))
    bench append --mode households --events "$households" --run "$run" --lane $((300000 + 1000 * point))
  fi
  bench replay
  bench projection
}
start
measure 0
point=0
fill_lane=0
for size in $sizes; do
  point=$((point + 1))
  status=$("$gridctl" status --server "127.0.0.1:$port")
  want=$(($size - $(field head_position "$status")))
  if [ "$want" -le 0 ]; then
    echo "the log already holds $size events: the sizes are too close for the workloads" >&2
    exit 1
  fi
  log "filling the log to $size events ..."
  row=$("$gridctl" bench fill --events "$want" --run "$run" --lane "$fill_lane" --output json \
    --server "127.0.0.1:$port" | tee -a "$results")
  echo "$row" >&2
  fill_lane=$((fill_lane + $(field lanes "$row")))
  quiesce
  restart
  quiesce
  measure "$point" --lane "$(field last_round_lane "$row")" --after "$(field last_round_events_per_lane "$row")"
done
stop

# 3. The table, beside the last recorded run of the same kind.
kept=$root/bench/results/${quick:+quick}
[ -n "$quick" ] || kept=$root/bench/results/full
/usr/bin/python3 "$root/bench/compare.py" "$peers_dir/summary.json" "$out/gridlog.jsonl" ${quick:+--quick} \
  --scale "$out/scale.jsonl" --plots "$out" --commit "$commit" --previous "$kept" | tee "$out/compare.md"
log "raw results in $out"
if [ -n "$record" ]; then
  mkdir -p "$kept"
  cp "$peers_dir/summary.json" "$kept/peers.json"
  cp "$out/gridlog.jsonl" "$out/scale.jsonl" "$out/compare.md" "$kept/"
  cp "$out"/*.png "$kept/" 2>/dev/null || true
  echo "$commit" >"$kept/commit"
  log "recorded in $kept (commit it)"
fi
