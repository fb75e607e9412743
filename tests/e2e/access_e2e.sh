#!/usr/bin/env bash
# Access control end to end with the real gridd and gridctl, using the sample
# policy deploy/policy.json: appends only where and what a principal may,
# reads redacted to its clearance (an ID number becomes its person token),
# the access audit readable by the auditor only, a SIGHUP reload that cuts a
# live subscription, and a server that will not serve the network without a
# policy.
# usage: access_e2e.sh GRIDD GRIDCTL SOURCE_DIR
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
SRC=$3
source "$(dirname "$0")/gridd_lib.sh"

A="$tmp/auth"
bash "$SRC/deploy/dev-certs.sh" "$A" >/dev/null
cp "$SRC/deploy/policy.json" "$tmp/policy.json"
# A token for every principal of the sample policy, configured by its hash.
principals=(county-grid-office worker-w-1 county-drc county-leader county-auditor dev-admin)
{
  echo '{"tls_cert": "'"$A/tls.crt"'", "tls_key": "'"$A/tls.key"'",'
  echo ' "policy_file": "'"$tmp/policy.json"'", "tokens": ['
  sep=""
  for p in "${principals[@]}"; do
    openssl rand -hex 16 >"$tmp/$p.token"
    printf '%s {"principal": "%s", "sha256_hex": "%s"}\n' "$sep" "$p" \
      "$(tr -d '\n' <"$tmp/$p.token" | sha256sum | cut -d' ' -f1)"
    sep=","
  done
  echo ']}'
} >"$tmp/gridd.json"
start_gridd --config="$tmp/gridd.json"
as() { local who=$1; shift; "$GRIDCTL" "$@" --server="localhost:$port" --ca "$A/ca.crt" --token "$(tr -d '\n' <"$tmp/$who.token")"; }

g1=350583/101/201/g01
check "the grid office defines a grid" as county-grid-office append --stream org/350583 \
  '{"event_id":"o-1","type":"GridDefined","org_path":"'$g1'","grid_defined":{"org_path":"'$g1'","name":"g1"}}' >/dev/null
check "and assigns worker w-1 to it" as county-grid-office append --stream org/350583 \
  '{"event_id":"o-2","type":"WorkerAssigned","org_path":"'$g1'","worker_assigned":{"worker_id":"w-1","org_path":"'$g1'","from":"2026-11-01T00:00:00Z"}}' >/dev/null
check "worker w-1 registers a household, head given by ID number" as worker-w-1 append --stream household/h-1 \
  '{"event_id":"h-1","type":"HouseholdCreated","org_path":"'$g1'","household_created":{"household_id":"h-1","kind":"FAMILY","org_path":"'$g1'","address_id":"a-1","house_number":"12","head":{"name":"张三丰","phone":"13812341234","id_number":"11010519491231002X"},"source":"GRID_VISIT","head_residence":"REGISTERED_RESIDENT"}}' >/dev/null

set +e
as worker-w-1 append --stream org/350583 \
  '{"event_id":"o-3","type":"GridDefined","org_path":"350583/102/301/g01","grid_defined":{"org_path":"350583/102/301/g01"}}' \
  >/dev/null 2>"$tmp/err"
rc=$?
set -e
check "the worker may not define grids (exit 1)" test "$rc" -eq 1
check "refused PERMISSION_DENIED, saying why" grep -q '^gridctl: PERMISSION_DENIED: .*may not append GridDefined' "$tmp/err"
check "with a hint" grep -q '^hint: gridd.s access policy' "$tmp/err"

as county-auditor read --stream household/h-1 >"$tmp/auditor.json"
as county-drc read --stream household/h-1 >"$tmp/drc.json"
as county-leader read --all >"$tmp/leader.json"
check "no one gets the ID number back" bash -c "! grep -q 11010519491231002X '$tmp/auditor.json'"
check "the auditor sees the person token the server made" grep -q '"person_token":"pt-[0-9a-f]\{32\}"' "$tmp/auditor.json"
check "C1 development & reform sees the name masked" grep -q '"name":"张\*"' "$tmp/drc.json"
check "and the phone masked" grep -q '"phone":"138\*\*\*\*1234"' "$tmp/drc.json"
check "the count-only leader sees no name at all" bash -c "! grep -q '张' '$tmp/leader.json'"
check "but sees the household's event" grep -q '"type":"HouseholdCreated"' "$tmp/leader.json"
check "the auditor verifies the chain (full clearance: stored bytes)" as county-auditor verify >/dev/null

check "the auditor reads the access audit" as county-auditor audit --output table >"$tmp/audit.txt"
check "it lists the refusal" grep -q 'worker-w-1 .*GRID_WORKER .*/grid.v1.Log/Append .*PERMISSION_DENIED' "$tmp/audit.txt"
set +e
as worker-w-1 audit >/dev/null 2>"$tmp/err"
rc=$?
set -e
check "a worker may not read the audit" test "$rc" -eq 1
check "PERMISSION_DENIED" grep -q '^gridctl: PERMISSION_DENIED' "$tmp/err"

# ---- SIGHUP: the worker leaves the policy; its live subscription ends.
as worker-w-1 subscribe --now --checkpoints >"$tmp/sub.out" 2>"$tmp/sub.err" &
sub=$!
started+=("$sub")
wait_for_line "$tmp/sub.out" '"caught_up":true'  # live before the reload
sed 's/"worker-w-1"/"worker-w-1-retired"/' "$SRC/deploy/policy.json" >"$tmp/policy.json"
kill -HUP "$pid"
for _ in $(seq 1 100); do kill -0 "$sub" 2>/dev/null || break; sleep 0.1; done
set +e
wait "$sub"
rc=$?
set -e
check "the live subscription ends (exit 1)" test "$rc" -eq 1
check "PERMISSION_DENIED: access revoked" grep -q 'PERMISSION_DENIED: access revoked' "$tmp/sub.err"
check "gridd logged the reload" grep -q 'access policy reloaded' "$tmp/gridd.err"
kill -TERM "$pid"; wait "$pid" || true

# ---- no policy, no network; a broken policy is named
set +e
"$GRIDD" --config="$tmp/gridd.json" --policy_file "" --listen=0.0.0.0:0 --metrics_listen "" \
  --data_dir="$tmp/x" 2>"$tmp/err"
rc=$?
check "non-loopback with authentication but no policy refuses to start" test "$rc" -eq 1
check "and names policy_file" grep -q 'needs an access policy (policy_file)' "$tmp/err"
echo '{"principals": [{"principal": "p", "role": "LEADER", "jurisdiction": ["350583"], "append_types": ["GridDefined"]}]}' >"$tmp/bad.json"
"$GRIDD" --policy_file="$tmp/bad.json" --check-policy 2>"$tmp/err"
rc=$?
set -e
check "--check-policy refuses a leader that appends (exit 2)" test "$rc" -eq 2
check "naming the principal" grep -q 'principals\[0\] (p): LEADER principals append nothing' "$tmp/err"
check "--check-policy passes the sample" "$GRIDD" --policy_file="$SRC/deploy/policy.json" --check-policy
finish "access e2e"
