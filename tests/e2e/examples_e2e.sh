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
