#!/usr/bin/env bash
# Stops what deploy/cluster/up.sh started (SIGTERM by PID, gridd nodes
# first, then etcd), keeping the data in $CLUSTER_DIR.
# usage: deploy/cluster/down.sh
set -euo pipefail
dir=${CLUSTER_DIR:-cluster}
[ -s "$dir/pids" ] || { echo "no cluster running from $dir/"; exit 0; }
mapfile -t entries < <(tac "$dir/pids")  # gridd nodes were started last
for e in "${entries[@]}"; do
  pid=${e%% *}
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
done
rm -f "$dir/pids"
echo "cluster stopped; data in $dir/"
