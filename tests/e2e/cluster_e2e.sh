#!/usr/bin/env bash
# Cluster mode end to end, with the real binaries: one etcd member and three
# gridd nodes of shard 350583 on loopback (own ports and data directories,
# stopped by PID). Exactly one node writes; an append to a replica is
# forwarded to the writer, and the replica reads it back with min_position;
# every node serves the same events; kill -9 of the
# writer hands the role to another node, which continues the same log, and
# a retry there of an append the old writer acknowledged is a duplicate; the
# killed node restarts as a replica and catches up.
# usage: cluster_e2e.sh GRIDD GRIDCTL
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
source "$(dirname "$0")/gridd_lib.sh"

read -r etcd_client etcd_peer < <(free_ports 2)
etcd --name=e1 --data-dir="$tmp/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_client" --advertise-client-urls="http://127.0.0.1:$etcd_client" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="e1=http://127.0.0.1:$etcd_peer" --max-request-bytes=8388608 \
  --logger=zap --log-outputs="$tmp/etcd.log" &
started+=("$!")

# Every node of a shard turns ID numbers into the same person tokens: one key.
head -c 32 /dev/urandom >"$tmp/person_key"
chmod 600 "$tmp/person_key"
declare -A node_pid node_port
start_node() {
  name=$1 data="$tmp/$1" start_gridd --cluster="127.0.0.1:$etcd_client" --shard=350583 --node_id="$1" \
    --person_key="$tmp/person_key"
  node_pid[$1]=$pid
  node_port[$1]=$port
}
ctl() { local n=$1; shift; "$GRIDCTL" "$@" --server="127.0.0.1:${node_port[$n]}"; }
role() { ctl "$1" status 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("role",""))' || true; }
applied() { ctl "$1" status 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("applied",0))' || true; }
# wait_writer NODE...: prints the one node among NODE... that is the writer
# (at most 30 s); every other must not be.
wait_writer() {
  for _ in $(seq 1 300); do
    local writers=()
    for n in "$@"; do [ "$(role "$n")" = writer ] && writers+=("$n"); done
    if [ "${#writers[@]}" -eq 1 ]; then echo "${writers[0]}"; return 0; fi
    sleep 0.1
  done
  echo "no single writer among $* after 30 s" >&2
  return 1
}
# wait_applied NODE POSITION: until NODE has applied POSITION (at most 30 s).
wait_applied() {
  for _ in $(seq 1 300); do
    [ "$(applied "$1")" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not apply $2 within 30 s" >&2
  return 1
}

start_node n1
start_node n2
start_node n3
writer=$(wait_writer n1 n2 n3)
replicas=()
for n in n1 n2 n3; do [ "$n" != "$writer" ] && replicas+=("$n"); done

grid() {
  printf '{"event_id":"%s","type":"GridDefined","org_path":"350583/101/203/%s","grid_defined":{"org_path":"350583/101/203/%s","name":"%s"}}' \
    "$1" "$2" "$2" "$2"
}
out=$(ctl "$writer" append --stream org/350583 --expect no_stream "$(grid g-1 g01)")
check "the writer takes an append" grep -q '"position":"1"' <<<"$out"
for i in 2 3 4 5; do ctl "$writer" append --stream org/350583 "$(grid "g-$i" "g0$i")" >/dev/null; done

out=$(ctl "${replicas[0]}" append --stream org/350583 --expect 4 "$(grid g-9 g09)")
check "an append at a replica is committed by the writer" grep -q '"position":"6","stream_version":"5"' <<<"$out"
check "the replica reads its own write" \
  grep -q '"event_id":"g-9"' <(ctl "${replicas[0]}" read --stream org/350583 --min_position 6)

for n in "${replicas[@]}"; do check "$n applies the writer's appends" wait_applied "$n" 6; done
ctl "$writer" read --stream org/350583 >"$tmp/read.$writer"
for n in "${replicas[@]}"; do
  ctl "$n" read --stream org/350583 >"$tmp/read.$n"
  check "$n serves the same events as the writer" cmp -s "$tmp/read.$writer" "$tmp/read.$n"
  check "$n's chain verifies" ctl "$n" verify
done
check "the replica's status says replica" test "$(role "${replicas[0]}")" = replica

# kill -9 of the writer: another node takes over and continues the log.
kill -9 "${node_pid[$writer]}"
wait "${node_pid[$writer]}" 2>/dev/null || true
old=$writer
writer=$(wait_writer "${replicas[@]}")
check "a new writer took over" test "$writer" != "$old"
out=$(ctl "$writer" append --stream org/350583 "$(grid g-3 g03)")
check "a retry on the new writer is a duplicate at the original position" \
  grep -q '"position":"3","stream_version":"2","duplicate":true' <<<"$out"
out=$(ctl "$writer" append --stream org/350583 --expect 5 "$(grid g-6 g06)")
check "the new writer continues the stream" grep -q '"position":"7","stream_version":"6"' <<<"$out"

# The killed node restarts as a replica and catches up.
start_node "$old"
check "the restarted node catches up" wait_applied "$old" 7
check "the restarted node is a replica" test "$(role "$old")" = replica
ctl "$old" read --stream org/350583 >"$tmp/read.$old"
ctl "$writer" read --stream org/350583 >"$tmp/read.$writer"
check "the restarted node serves the same events" cmp -s "$tmp/read.$writer" "$tmp/read.$old"

finish cluster_e2e
