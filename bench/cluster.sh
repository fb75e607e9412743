#!/usr/bin/env bash
# Cluster mode measured beside a single node, on this machine, in one run
# (issue 16's goals): a single gridd, then deploy/cluster/up.sh's 3 etcd
# members and 3 gridd nodes, all on loopback sharing the two CPUs and the
# disk. Prints one table and keeps every raw JSON result:
#   - batched (100 events per call, 8 callers) and unary (64 callers)
#     appends: the single node, the cluster at its writer, and at a replica
#     (forwarded to the writer);
#   - the raw etcd baseline: the writer's fenced commits alone
#     (build/grid_etcd_bench), batches of 100 and of 1;
#   - batched appends at the writer with the two replicas stopped: what
#     the etcd path costs, apart from the replicas sharing the CPUs;
#   - replication: append at the writer -> delivered to a subscriber at a
#     replica (p50/p99), at 1,000 appends/s;
#   - how long appends are unavailable after kill -9 of the writer, from
#     the kill to the first append acknowledged at a surviving node (3 times).
# usage: bench/cluster.sh [--quick] [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=--quick ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || out=$(mktemp -d -t gridlog-cluster-bench.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "[cluster-bench $(date +%H:%M:%S)] $*" >&2; }

make -C "$root" build >&2
build=$root/build
gridctl=$build/gridctl
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }

# Data on the same kind of disk as bench/compare.sh's (not tmpfs).
parent=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ "$(stat -f -c %T /tmp)" = tmpfs ] && [ -d /var/tmp ]; then parent=/var/tmp; fi
data=$(mktemp -d "$parent/gridlog-cluster-bench.XXXXXX")
single=""
export CLUSTER_DIR=$data/cluster
cleanup() {
  [ -n "$single" ] && kill -9 "$single" 2>/dev/null || true
  "$root/deploy/cluster/down.sh" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT
: >"$out/results.jsonl"
record() { tee -a "$out/results.jsonl" >&2; }
tag() { /usr/bin/python3 -c 'import json,sys
for line in sys.stdin:
    r = json.loads(line); r["at"] = sys.argv[1]; print(json.dumps(r))' "$1"; }

# CPU time (utime + stime, clock ticks) of processes, and a command's own
# (its children's rusage): where the CPUs go per batched event, in each run.
ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
timed() {  # timed FILE CMD...: runs CMD, writes its CPU seconds to FILE
  /usr/bin/python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$@"
}
hz=$(getconf CLK_TCK)
# cpu_row AT EVENTS CLIENT_SECONDS NAME=TICKS...: one JSON row, µs per event.
cpu_row() {
  /usr/bin/python3 - "$hz" "$@" <<'PY'
import json, sys
hz, at, events, client = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
row = {"workload": "cpu", "at": at, "events": int(events),
       "client_us_per_event": round(client / events * 1e6, 1)}
for kv in sys.argv[5:]:
    name, t = kv.split("=")
    row[name + "_us_per_event"] = round(float(t) / hz / events * 1e6, 1)
print(json.dumps(row))
PY
}
events_of() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["events"])'; }

# 1. One node, for the ratio.
log "single node"
"$build/gridd" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="$data/single" \
  >"$out/single.out" 2>"$out/single.err" &
single=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/^gridd listening on port \([0-9]*\)$/\1/p' "$out/single.out")
  [ -n "$port" ] && break
  sleep 0.01
done
t0=$(ticks "$single")
timed "$data/client-cpu" "$gridctl" bench append --mode batch $quick --output json --server "127.0.0.1:$port" \
  >"$data/single-batch.json"
t1=$(ticks "$single")
tag single <"$data/single-batch.json" | record
cpu_row single "$(events_of <"$data/single-batch.json")" "$(cat "$data/client-cpu")" "gridd=$((t1 - t0))" | record
"$gridctl" bench append --mode unary $quick --output json --server "127.0.0.1:$port" | tag single | record
kill -TERM "$single"
wait "$single" || true
single=""

# 2. The cluster, on ports nothing else uses now.
read -r -a ports < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(12)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
export CLUSTER_ETCD_PORTS="${ports[*]:0:3}" CLUSTER_PEER_PORTS="${ports[*]:3:3}"
export CLUSTER_GRIDD_PORTS="${ports[*]:6:3}" CLUSTER_METRICS_PORTS="${ports[*]:9:3}"
log "cluster: 3 etcd members, 3 gridd nodes"
"$root/deploy/cluster/up.sh" "$build" >"$out/cluster-up.txt"
etcd_endpoints="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
role() { "$gridctl" status --server="127.0.0.1:$1" 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("role",""))' || true; }
writer_index() {
  for _ in $(seq 1 600); do
    for i in 0 1 2; do
      [ "$(role "${ports[$((6 + i))]}")" = writer ] && { echo "$i"; return 0; }
    done
    sleep 0.05
  done
  return 1
}
w=$(writer_index)
r=$(((w + 1) % 3))
writer=127.0.0.1:${ports[$((6 + w))]}
replica=127.0.0.1:${ports[$((6 + r))]}

log "raw etcd: the writer's fenced commits alone"
seconds=10
[ -n "$quick" ] && seconds=3
for b in 100 1; do
  "$build/grid_etcd_bench" --etcd="$etcd_endpoints" --batch="$b" --seconds="$seconds" | record
done
log "appends at the writer ($writer) and at a replica ($replica)"
pid_of() { awk -v n="$1" '$2 == n {p = $1} END {print p}' "$CLUSTER_DIR/pids"; }
procs=(e1 e2 e3 "g$((w + 1))" "g$(((w + 1) % 3 + 1))" "g$(((w + 2) % 3 + 1))")  # the writer first
before=()
for n in "${procs[@]}"; do before+=("$(ticks "$(pid_of "$n")")"); done
timed "$data/client-cpu" "$gridctl" bench append --mode batch $quick --output json --server "$writer" \
  >"$data/writer-batch.json"
used=()
for i in "${!procs[@]}"; do used+=($(($(ticks "$(pid_of "${procs[$i]}")") - before[i]))); done
tag writer <"$data/writer-batch.json" | record
cpu_row cluster "$(events_of <"$data/writer-batch.json")" "$(cat "$data/client-cpu")" \
  "etcd=$((used[0] + used[1] + used[2]))" "writer=${used[3]}" "replica1=${used[4]}" "replica2=${used[5]}" | record
"$gridctl" bench append --mode unary $quick --output json --server "$writer" | tag writer | record
"$gridctl" bench append --mode batch --mode unary $quick --output json --server "$replica" | tag replica | record
log "replication: appends at the writer, delivered at a replica"
"$gridctl" bench fanout --subscribers 1 --rate 1000 --seconds "$seconds" --output json --server "$writer" \
  --subscribe_server "$replica" | tag replication | record

log "the writer alone (its replicas stopped) with the 3 etcd members"
stopped=()
for i in 0 1 2; do
  [ "$i" = "$w" ] && continue
  node=g$((i + 1))
  pid=$(pid_of "$node")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done  # its RocksDB lock goes with it
  stopped+=("$node")
done
# A writer that loses its lease here (etcd stalled past it) has no one to
# hand over to: the callers stop with the error, which the row reports.
{ "$gridctl" bench append --mode batch $quick --output json --server "$writer" || true; } | tag writer_alone | record
for node in "${stopped[@]}"; do "$root/deploy/cluster/up.sh" "$build" "$node" >/dev/null; done

log "kill -9 of the writer: until an append is acknowledged again"
for k in 1 2 3; do
  w=$(writer_index)
  node=g$((w + 1))
  pid=$(pid_of "$node")
  survivor=127.0.0.1:${ports[$((6 + (w + 1) % 3))]}
  t0=$(date +%s%N)
  kill -9 "$pid"
  i=0
  until "$gridctl" append --server="$survivor" --stream org/bench-kill \
    "{\"event_id\":\"kill-$k-$i-$t0\",\"type\":\"GridDefined\",\"org_path\":\"bench-kill/g$k-$i\",\"grid_defined\":{\"org_path\":\"bench-kill/g$k-$i\",\"name\":\"g\"}}" \
    >/dev/null 2>&1; do
    i=$((i + 1))
  done
  t1=$(date +%s%N)
  echo "{\"workload\":\"writer_kill\",\"killed\":\"$node\",\"unavailable_s\":$(awk "BEGIN{printf \"%.2f\", ($t1-$t0)/1e9}"),\"attempts\":$((i + 1))}" | record
  "$root/deploy/cluster/up.sh" "$build" "$node" >/dev/null
done
"$root/deploy/cluster/down.sh" >/dev/null

# 3. The table.
/usr/bin/python3 - "$out/results.jsonl" <<'PY' | tee "$out/cluster.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def find(workload, at=None, mode=None, batch=None):
    for r in rows:
        if r.get("workload") == workload and (at is None or r.get("at") == at) \
           and (mode is None or r.get("mode") == mode) and (batch is None or r.get("batch") == batch):
            return r
    return {}
def rate(r):
    return r.get("events_per_s") or r.get("rate") or 0
print("| what | figure | against | ratio | goal | met? |")
print("|---|---:|---|---:|---|---|")
for mode, label in (("batch", "append, 100 events/call, 8 callers"), ("unary", "append, 1 event/call, 64 callers")):
    s = rate(find("append", "single", mode))
    for at in ("writer", "replica"):
        c = rate(find("append", at, mode))
        ratio = c / s if s else 0
        goal = "≥ 0.5×" if mode == "batch" else ""
        met = ("**yes**" if ratio >= 0.5 else "**no**") if mode == "batch" else ""
        print(f"| {label}, cluster, at the {at} | {c:,.0f}/s | single node {s:,.0f}/s | {ratio:.2f}× | {goal} | {met} |")
alone = rate(find("append", "writer_alone", "batch"))
s = rate(find("append", "single", "batch"))
print(f"| append, 100 events/call, 8 callers, the writer with its replicas stopped | {alone:,.0f}/s | single node {s:,.0f}/s | "
      f"{(alone / s if s else 0):.2f}× | | |")
for b in (100, 1):
    e = find("etcd_commit", batch=b)
    print(f"| raw etcd: fenced commits of {b} records, one writer | {e.get('records_per_s', 0):,.0f} records/s "
          f"({e.get('commits_per_s', 0):,.0f} commits/s, p50 {e.get('p50_ms', 0)} ms, p99 {e.get('p99_ms', 0)} ms) | | | | |")
rep = find("fanout", "replication")
ms = lambda us: f"{us / 1000:.1f}" if isinstance(us, (int, float)) else "?"
print(f"| replication: append at the writer → delivered at a replica, {rep.get('target_rate', 0):,.0f}/s | "
      f"p50 {ms(rep.get('delivery_p50_us'))} ms, p99 {ms(rep.get('delivery_p99_us'))} ms | | | | |")
cs, cc = find("cpu", "single"), find("cpu", "cluster")
if cs and cc:
    client_s, client_c = cs["client_us_per_event"], cc["client_us_per_event"]
    single = cs["gridd_us_per_event"]
    reps = cc["replica1_us_per_event"] + cc["replica2_us_per_event"]
    total = cc["writer_us_per_event"] + reps + cc["etcd_us_per_event"]
    # The client's figure includes generating the events before its clock
    # starts; the bounds below leave the client out.
    print(f"| CPU per batched event: single node | gridd {single} µs (client {client_s} µs) | | | | |")
    print(f"| CPU per batched event: cluster | {total:.1f} µs: writer {cc['writer_us_per_event']}, replicas "
          f"{cc['replica1_us_per_event']} + {cc['replica2_us_per_event']}, etcd members {cc['etcd_us_per_event']} "
          f"(client {client_c} µs) | | | | |")
    # An estimate of the rate the CPUs sustain: all of them divided by the
    # CPU time one event costs the cluster, over the single node's rate.
    # Not a hard bound: CPU is read around the whole gridctl run (its event
    # generation, and the replicas' catch-up after its clock stops), a short
    # run's writer can acknowledge faster than its replicas apply, and CPU
    # per event would change with the group sizes. "etcd free": etcd and the
    # writer's etcd work cost nothing (the writer costs what the single node
    # does), and the replicas still apply every event.
    import os
    cpus, s_rate = len(os.sched_getaffinity(0)), rate(find("append", "single", "batch"))
    def bound(us):
        return cpus * 1e6 / us / s_rate if us and s_rate else 0
    print(f"| the ratio {cpus} CPUs sustain, estimated: at the cluster's CPU per event / with etcd free | | | "
          f"{bound(total):.2f}× / {bound(single + reps):.2f}× | | |")
kills = [r for r in rows if r.get("workload") == "writer_kill"]
worst = max((k["unavailable_s"] for k in kills), default=0)
print(f"| appends unavailable after kill -9 of the writer | {', '.join(str(k['unavailable_s']) + ' s' for k in kills)} | | | "
      f"≤ 3 s | {'**yes**' if kills and worst <= 3 else '**no**'} |")
PY
log "raw results in $out"
