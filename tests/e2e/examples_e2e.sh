#!/usr/bin/env bash
# The independent clients against the real gridd: the Node mobile backend
# (@grpc/grpc-js) pushes reports while the Python department subscriber
# (python3-grpcio) watches its town's projection live. Both run from copies
# in a temporary folder, so the source tree stays clean.
# usage: examples_e2e.sh GRIDD GRIDCTL SOURCE_DIR
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
SRC=$3
source "$(dirname "$0")/gridd_lib.sh"
export GRIDLOG_PROTO="$SRC/proto"

cp -r "$SRC/client/examples/node" "$tmp/node"
rm -rf "$tmp/node/node_modules"
(cd "$tmp/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
bash "$SRC/client/examples/python/make_stubs.sh" "$tmp/stubs" >/dev/null

start_gridd
S="127.0.0.1:$port"

# The subscriber first, so the changes reach it live, after its snapshot.
/usr/bin/python3 "$SRC/client/examples/python/department_subscriber.py" --server "$S" \
  --prefix 350599/101/ --stubs "$tmp/stubs" --changes 20 >"$tmp/sub.out" 2>"$tmp/sub.err" &
sub=$!
started+=("$sub")
wait_for_line "$tmp/sub.out" '^snapshot: ' || true
check "subscriber took its snapshot" grep -q "^snapshot: 0 rows of grid_sanitation under '350599/101/'" "$tmp/sub.out"

node "$tmp/node/mobile_backend.js" --server "$S" --county 350599 --reports 20 >"$tmp/node.out"
check "backend appended 20 reports" grep -q '"appended":20,"duplicates":0' "$tmp/node.out"
check "a resent report is a duplicate at its first position" \
  grep -q '"resent_report_1":{"duplicate":true,"position":"3"}' "$tmp/node.out"
node "$tmp/node/mobile_backend.js" --server "$S" --county 350599 --reports 20 >"$tmp/node2.out"
check "a rerun stores nothing twice" grep -q '"appended":0,"duplicates":20,.*"head_position":"22"' "$tmp/node2.out"

wait "$sub"
check "subscriber saw 20 live changes" test "$(grep -c ' 350599/101/201/g01 ' "$tmp/sub.out")" -eq 20
check "in order, ending with the last report" \
  grep -q "^22 350599/101/201/g01 .*'last_report_id': 'node-350599-report-20'.*'reports': '20'" "$tmp/sub.out"
check "the log verifies" grep -q '"verified":22,' <("$GRIDCTL" verify --server="$S")

# ---- As a deployment runs: TLS, the sample access policy, the backend as
# grid worker w-1 with its bearer token, the subscriber as the health
# department with its client certificate (dev-certs.sh's client).
A="$tmp/auth"
bash "$SRC/deploy/dev-certs.sh" "$A" >/dev/null
hash_of() { tr -d '\n' <"$tmp/$1.token" | sha256sum | cut -d' ' -f1; }
for p in county-grid-office worker-w-1; do openssl rand -hex 16 >"$tmp/$p.token"; done
printf '%s\n' \
  "{\"tls_cert\": \"$A/tls.crt\", \"tls_key\": \"$A/tls.key\", \"tls_client_ca\": \"$A/ca.crt\"," \
  " \"policy_file\": \"$SRC/deploy/policy.json\", \"tokens\": [" \
  "  {\"principal\": \"county-grid-office\", \"sha256_hex\": \"$(hash_of county-grid-office)\"}," \
  "  {\"principal\": \"worker-w-1\", \"sha256_hex\": \"$(hash_of worker-w-1)\"}]}" >"$tmp/gridd.json"
name=tls data="$tmp/tls-data" start_gridd --config="$tmp/gridd.json"
T="localhost:$port"
g1=350583/101/201/g01
# The org data is the county grid office's.
"$GRIDCTL" append --server "$T" --ca "$A/ca.crt" --token "$(cat "$tmp/county-grid-office.token")" \
  --stream org/350583 \
  '{"event_id":"tls-g1","type":"GridDefined","org_path":"'$g1'","grid_defined":{"org_path":"'$g1'","name":"g01"}}' \
  '{"event_id":"tls-w1","type":"WorkerAssigned","org_path":"'$g1'","worker_assigned":{"worker_id":"w-1","org_path":"'$g1'"}}' \
  >/dev/null
/usr/bin/python3 "$SRC/client/examples/python/department_subscriber.py" --server "$T" --prefix 350583/101/ \
  --stubs "$tmp/stubs" --changes 5 --ca "$A/ca.crt" --cert "$A/client.crt" --key "$A/client.key" \
  >"$tmp/tls-sub.out" 2>"$tmp/tls-sub.err" &
sub=$!
started+=("$sub")
wait_for_line "$tmp/tls-sub.out" '^snapshot: ' || cat "$tmp/tls-sub.err" >&2
check "over TLS, the department's subscriber (client certificate) took its snapshot" \
  grep -q "^snapshot: 0 rows of grid_sanitation under '350583/101/'" "$tmp/tls-sub.out"
node "$tmp/node/mobile_backend.js" --server "$T" --county 350583 --grid "$g1" --worker w-1 --no_reference \
  --reports 5 --ca "$A/ca.crt" --token "$(cat "$tmp/worker-w-1.token")" >"$tmp/tls-node.out"
check "over TLS, the worker's backend (bearer token) appended 5 reports" \
  grep -q '"appended":5,"duplicates":0' "$tmp/tls-node.out"
wait "$sub"
check "the department saw the 5 reports live" test "$(grep -c " $g1 " "$tmp/tls-sub.out")" -eq 5
set +e
node "$tmp/node/mobile_backend.js" --server "$T" --county 350583 --grid "$g1" --worker w-1 --no_reference \
  --reports 1 --ca "$A/ca.crt" 2>"$tmp/err"; rc=$?
check "without a token the backend exits 1" test "$rc" -eq 1
check "UNAUTHENTICATED, with a hint about the policy" grep -q "UNAUTHENTICATED" "$tmp/err"
node "$tmp/node/mobile_backend.js" --server "$T" --county 350583 --reports 1 --ca "$A/ca.crt" \
  --token "$(cat "$tmp/worker-w-1.token")" 2>"$tmp/err"; rc=$?
check "org data from the worker's backend is refused (exit 1)" test "$rc" -eq 1
check "PERMISSION_DENIED" grep -q "PERMISSION_DENIED" "$tmp/err"
/usr/bin/python3 "$SRC/client/examples/python/department_subscriber.py" --server "$T" \
  --stubs "$tmp/stubs" --token x 2>"$tmp/err"; rc=$?
check "a token without --ca is refused before connecting (exit 2)" test "$rc" -eq 2
set -e

set +e
node "$tmp/node/mobile_backend.js" --server 127.0.0.1:1 2>"$tmp/err"; rc=$?
check "backend without a server exits 1 with a hint" test "$rc" -eq 1
check "the hint names the address" grep -q 'hint: is gridd running on 127.0.0.1:1?' "$tmp/err"
/usr/bin/python3 "$SRC/client/examples/python/department_subscriber.py" --server 127.0.0.1:1 \
  --stubs "$tmp/stubs" 2>"$tmp/err"; rc=$?
check "subscriber without a server exits 1 with a hint" test "$rc" -eq 1
check "its hint names the address" grep -q 'hint: is gridd running on 127.0.0.1:1?' "$tmp/err"
set -e
finish "examples e2e"
