#!/usr/bin/env bash
# `make cluster` as a new user runs it: deploy/cluster/up.sh starts 3 etcd
# members and 3 gridd nodes (here on free ports, in a temporary folder), one
# node writes, an append there is served by the others, and down.sh stops
# every process it started.
# usage: cluster_up_e2e.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
GRIDD=$build/gridd
source "$src/tests/e2e/gridd_lib.sh"
mapfile -t ports < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(12)]
for x in s: x.bind(("127.0.0.1", 0))
for x in s: print(x.getsockname()[1])')
export CLUSTER_DIR=$tmp/cluster
export CLUSTER_ETCD_PORTS="${ports[0]} ${ports[1]} ${ports[2]}" CLUSTER_PEER_PORTS="${ports[3]} ${ports[4]} ${ports[5]}"
export CLUSTER_GRIDD_PORTS="${ports[6]} ${ports[7]} ${ports[8]}" CLUSTER_METRICS_PORTS="${ports[9]} ${ports[10]} ${ports[11]}"
trap '"$src/deploy/cluster/down.sh" >/dev/null 2>&1 || true; cleanup' EXIT

out=$("$src/deploy/cluster/up.sh" "$build")
check "up.sh names the writer" grep -q "^writer: g[123] at 127.0.0.1:" <<<"$out"
writer=$(sed -n 's/^writer: g[123] at \(127.0.0.1:[0-9]*\);.*/\1/p' <<<"$out")
ev='{"event_id":"g-1","type":"GridDefined","org_path":"350583/101/203/g01","grid_defined":{"org_path":"350583/101/203/g01","name":"g01"}}'
check "the writer takes an append" "$build/gridctl" append --stream org/350583 "$ev" --server="$writer"
for p in ${ports[6]} ${ports[7]} ${ports[8]}; do
  ok=""
  for _ in $(seq 1 300); do
    if "$build/gridctl" read --stream org/350583 --server="127.0.0.1:$p" 2>/dev/null | grep -q '"g-1"'; then ok=1; break; fi
    sleep 0.1
  done
  check "node on port $p serves the append" test -n "$ok"
done

# Both replicas killed, the writer appends on, then `up.sh BUILD gN` brings
# back one and then the other: each is ready once it has caught up, while
# the other is still down (regression: up.sh waited for all three nodes,
# so the first restart failed after 60 s).
serves_g2() {
  local out
  out=$("$build/gridctl" read --stream org/350583 --server="127.0.0.1:$1") && grep -q '"g-2"' <<<"$out"
}
node_of() { for i in 0 1 2; do if [ "127.0.0.1:${ports[$((6 + i))]}" = "$1" ]; then echo "g$((i + 1))"; fi; done; }
w=$(node_of "$writer")
replicas=()
for n in g1 g2 g3; do [ "$n" = "$w" ] || replicas+=("$n"); done
for n in "${replicas[@]}"; do kill -9 "$(awk -v n="$n" '$2 == n {p = $1} END {print p}' "$CLUSTER_DIR/pids")"; done
ev2='{"event_id":"g-2","type":"GridDefined","org_path":"350583/101/203/g02","grid_defined":{"org_path":"350583/101/203/g02","name":"g02"}}'
check "the writer takes an append with both replicas down" "$build/gridctl" append --stream org/350583 "$ev2" --server="$writer"
for n in "${replicas[@]}"; do
  check "up.sh restarts $n alone" "$src/deploy/cluster/up.sh" "$build" "$n"
  p=${ports[$((5 + ${n#g}))]}
  check "$n serves what was appended while it was down" serves_g2 "$p"
done
refuses() {  # refuses NODE TEXT: up.sh BUILD NODE fails saying TEXT
  local out
  if out=$("$src/deploy/cluster/up.sh" "$build" "$1" 2>&1); then return 1; fi
  grep -q "$2" <<<"$out"
}
check "up.sh refuses a node that is not g1..g3" refuses g4 "^usage:"
check "up.sh refuses to start a node that is running" refuses "$w" "^$w is running"

mapfile -t pids < <(awk '{print $1}' "$CLUSTER_DIR/pids")
"$src/deploy/cluster/down.sh" >/dev/null
alive=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "down.sh stopped every process it started" test "${#pids[@]}" -eq 6 -a "$alive" -eq 0
finish cluster_up_e2e
