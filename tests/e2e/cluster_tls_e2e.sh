#!/usr/bin/env bash
# Cluster mode as a production deployment runs it, on loopback: etcd serving
# TLS only and asking for client certificates, two gridd nodes serving TLS
# with tokens and the access policy, reaching etcd with a client
# certificate and each other with their node certificate (CN=gridd, a
# CLUSTER_NODE principal of the policy). An append at the replica is
# committed by the writer as the token's principal, and the replica reads
# it back with min_position.
# usage: cluster_tls_e2e.sh GRIDD GRIDCTL
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
source "$(dirname "$0")/gridd_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

bash "$root/deploy/dev-certs.sh" "$tmp/certs" >/dev/null
certs=$tmp/certs
token=$(cat "$certs/token")
read -r etcd_client etcd_peer < <(free_ports 2)
etcd --name=e1 --data-dir="$tmp/etcd" \
  --listen-client-urls="https://127.0.0.1:$etcd_client" --advertise-client-urls="https://127.0.0.1:$etcd_client" \
  --cert-file="$certs/tls.crt" --key-file="$certs/tls.key" --trusted-ca-file="$certs/ca.crt" --client-cert-auth \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="e1=http://127.0.0.1:$etcd_peer" --max-request-bytes=8388608 \
  --logger=zap --log-outputs="$tmp/etcd.log" &
started+=("$!")

cat >"$tmp/policy.json" <<JSON
{"principals": [
  {"principal": "gridd", "role": "CLUSTER_NODE"},
  {"principal": "dev-admin", "role": "DEPARTMENT", "jurisdiction": [""], "clearance": "C4_RESTRICTED",
   "append_types": ["GridDefined"]}
]}
JSON
head -c 32 /dev/urandom >"$tmp/person_key"
chmod 600 "$tmp/person_key"

declare -A node_port
start_node() {
  local n=$1
  shift
  name=$n data="$tmp/$n" start_gridd --config="$certs/gridd-auth.json" --policy_file="$tmp/policy.json" \
    --cluster="127.0.0.1:$etcd_client" --shard=350583 --node_id="$n" --person_key="$tmp/person_key" \
    --etcd_ca="$certs/ca.crt" "$@"
  node_port[$n]=$port
}
ctl() { local n=$1; shift; "$GRIDCTL" "$@" --server="127.0.0.1:${node_port[$n]}" --ca="$certs/ca.crt" --token="$token"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('$1',''))"; }
wait_role() {  # NODE ROLE: until NODE says ROLE (at most 30 s)
  for _ in $(seq 1 300); do
    [ "$(ctl "$1" status 2>/dev/null | field role)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

start_node n1 --etcd_cert="$certs/client.crt" --etcd_key="$certs/client.key"
check "n1 reaches etcd over TLS and writes" wait_role n1 writer
start_node n2 --etcd_cert="$certs/client.crt" --etcd_key="$certs/client.key"
check "n2 reaches etcd over TLS as a replica" wait_role n2 replica
for _ in $(seq 1 300); do [ "$(ctl n2 status | field writer_node)" = n1 ] && break; sleep 0.1; done

grid='{"event_id":"g-1","type":"GridDefined","org_path":"350583/101/203/g01","grid_defined":{"org_path":"350583/101/203/g01","name":"g01"}}'
out=$(ctl n2 append --stream org/350583 --expect no_stream "$grid")
check "an append at the replica is committed (forwarded with the node certificate)" \
  grep -q '"position":"1"' <<<"$out"
read=$(ctl n2 read --stream org/350583 --min_position 1)
check "the replica reads its own write" grep -q '"event_id":"g-1"' <<<"$read"
check "the event's actor is the caller, not the forwarding node" grep -q '"principal":"dev-admin"' <<<"$read"

finish cluster_tls_e2e
