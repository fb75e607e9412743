#!/usr/bin/env bash
# Cluster mode on one machine: 3 etcd members and 3 gridd nodes of one shard,
# all on loopback, each with its own data directory under $CLUSTER_DIR. For
# trying cluster mode out and for tests, not for production (there, one etcd
# member and one gridd node per machine: README, "Cluster mode").
#
# usage: deploy/cluster/up.sh [BUILD_DIR]     (make cluster; stop: deploy/cluster/down.sh)
#        deploy/cluster/up.sh BUILD_DIR gN    (re)starts only gridd node gN (after a kill)
# environment (defaults in brackets):
#   CLUSTER_DIR            data, logs and PIDs                 [./cluster]
#   SHARD                  the shard (county code)             [350583]
#   CLUSTER_ETCD_PORTS     client ports of the 3 etcd members  [12379 22379 32379]
#   CLUSTER_PEER_PORTS     their peer ports                    [12380 22380 32380]
#   CLUSTER_GRIDD_PORTS    gRPC ports of the 3 gridd nodes     [7443 7444 7445]
#   CLUSTER_METRICS_PORTS  their /metrics and /readyz ports    [9464 9465 9466]
set -euo pipefail
build=${1:-build}
only=${2:-}
case $only in "" | g1 | g2 | g3) ;; *) echo "usage: $0 [BUILD_DIR [g1|g2|g3]]" >&2; exit 2 ;; esac
dir=${CLUSTER_DIR:-cluster}
shard=${SHARD:-350583}
read -r -a etcd_ports <<<"${CLUSTER_ETCD_PORTS:-12379 22379 32379}"
read -r -a peer_ports <<<"${CLUSTER_PEER_PORTS:-12380 22380 32380}"
read -r -a gridd_ports <<<"${CLUSTER_GRIDD_PORTS:-7443 7444 7445}"
read -r -a metrics_ports <<<"${CLUSTER_METRICS_PORTS:-9464 9465 9466}"
command -v etcd >/dev/null || { echo "etcd is not installed (Debian: apt-get install etcd-server)" >&2; exit 1; }
[ -x "$build/gridd" ] || { echo "no $build/gridd: run make build first" >&2; exit 1; }
if [ -z "$only" ] && [ -s "$dir/pids" ]; then
  echo "$dir/pids exists: a cluster may be running; stop it with deploy/cluster/down.sh" >&2
  exit 1
fi
mkdir -p "$dir"
[ -n "$only" ] || : >"$dir/pids"

initial=""
for i in 0 1 2; do initial+="${initial:+,}e$((i + 1))=http://127.0.0.1:${peer_ports[$i]}"; done
endpoints=""
for i in 0 1 2; do endpoints+="${endpoints:+,}127.0.0.1:${etcd_ports[$i]}"; done

for i in 0 1 2; do
  [ -z "$only" ] || break
  n=e$((i + 1))
  # --max-request-bytes: a commit group is one etcd transaction (gridd keeps
  # them to a few MiB).
  etcd --name="$n" --data-dir="$dir/$n" \
    --listen-client-urls="http://127.0.0.1:${etcd_ports[$i]}" \
    --advertise-client-urls="http://127.0.0.1:${etcd_ports[$i]}" \
    --listen-peer-urls="http://127.0.0.1:${peer_ports[$i]}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${peer_ports[$i]}" \
    --initial-cluster="$initial" --initial-cluster-state=new --initial-cluster-token="gridlog-$shard" \
    --max-request-bytes=8388608 --logger=zap --log-outputs="$dir/$n.log" >"$dir/$n.out" 2>&1 &
  echo "$! $n" >>"$dir/pids"
done

# Every node of a shard turns ID numbers into the same person tokens: one key
# for all (in production, copy the first node's to the others).
if [ ! -s "$dir/person_key" ]; then
  (umask 077 && head -c 32 /dev/urandom >"$dir/person_key")
fi

for i in 0 1 2; do
  n=g$((i + 1))
  [ -z "$only" ] || [ "$only" = "$n" ] || continue
  if [ -n "$only" ]; then  # a restart: gN's old entry goes, if it is gone
    old=$(awk -v n="$n" '$2 == n {p = $1} END {print p}' "$dir/pids")
    # (A process killed a moment ago may linger as a zombie: not running.)
    state=""
    [ -z "$old" ] || state=$(awk '{print $3}' "/proc/$old/stat" 2>/dev/null || true)
    if [ -n "$state" ] && [ "$state" != Z ]; then
      echo "$n is running (pid $old); stop it first" >&2
      exit 1
    fi
    sed -i "/ $n\$/d" "$dir/pids"
  fi
  "$build/gridd" --cluster="$endpoints" --shard="$shard" --node_id="$n" --person_key="$dir/person_key" \
    --listen="127.0.0.1:${gridd_ports[$i]}" --metrics_listen="127.0.0.1:${metrics_ports[$i]}" \
    --data_dir="$dir/$n" >"$dir/$n.out" 2>>"$dir/$n.log" &
  echo "$! $n" >>"$dir/pids"
done

# Ready once one node is the writer and every node started here answers
# /readyz (with gN, only gN: the others may be down on purpose).
want=(0 1 2)
[ -z "$only" ] || want=($((${only#g} - 1)))
writer=""
for _ in $(seq 1 600); do
  ready=0
  for i in "${want[@]}"; do
    if curl -sf -o /dev/null "http://127.0.0.1:${metrics_ports[$i]}/readyz"; then
      ready=$((ready + 1))
    fi
  done
  if [ "$ready" -eq "${#want[@]}" ]; then
    for i in 0 1 2; do
      if "$build/gridctl" status --server="127.0.0.1:${gridd_ports[$i]}" 2>/dev/null | grep -q '"role":"writer"'; then
        writer="g$((i + 1)) at 127.0.0.1:${gridd_ports[$i]}"
      fi
    done
    [ -n "$writer" ] && break
  fi
  sleep 0.1
done
if [ -z "$writer" ]; then
  echo "the cluster did not become ready in 60 s; logs in $dir/" >&2
  exit 1
fi
if [ -n "$only" ]; then
  echo "$only is ready; writer: $writer"
  exit 0
fi
cat <<TEXT
shard $shard: 3 etcd members ($endpoints), 3 gridd nodes on 127.0.0.1:${gridd_ports[0]}, :${gridd_ports[1]}, :${gridd_ports[2]}
writer: $writer; the others are replicas (an append at any node is committed by the writer)
  $build/gridctl status --server=127.0.0.1:${gridd_ports[1]}
  $build/gridctl simulate --server=127.0.0.1:${gridd_ports[2]}
stop: deploy/cluster/down.sh   (data stays in $dir/; remove it for a fresh cluster)
TEXT
