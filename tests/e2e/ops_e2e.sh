#!/usr/bin/env bash
# End to end, what an operator does with the real gridd and gridctl:
# configuration file and --print-config, probes and metrics over HTTP, JSON
# logs that never carry personal data, and a backup taken while appends go on,
# restored into a new server that verifies and shows the same projections.
# usage: ops_e2e.sh GRIDD GRIDCTL
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
source "$(dirname "$0")/gridd_lib.sh"
umask 022  # what gridd and gridctl write must be private anyway
http() { curl -s -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$1$2"; }

# ---- configuration: file, flag over file, --print-config, mistakes
cat >"$tmp/gridd.json" <<'JSON'
// a test configuration
{
  "tail_events": 5000,   
  "log_format": "json",
  // every RPC gets a log line at debug
  "log_level": "debug"
}
JSON
"$GRIDD" --config="$tmp/gridd.json" --log_level=trace --print-config >"$tmp/effective"
check "file value in effective config" grep -q '"tail_events": "5000"' "$tmp/effective"
check "flag overrides file" grep -q '"log_level": "trace"' "$tmp/effective"
check "default kept" grep -q '"listen": "127.0.0.1:7443"' "$tmp/effective"
check "printed config is commented" grep -q '^  // most events kept in the in-memory live tail' "$tmp/effective"
echo '{"tail_event": 1}' >"$tmp/typo.json"
set +e
"$GRIDD" --config="$tmp/typo.json" 2>"$tmp/err"; rc=$?
check "unknown setting exits 2" test "$rc" -eq 2
check "unknown setting is named" grep -q 'typo.json.*tail_event' "$tmp/err"
"$GRIDD" --log_format=xml 2>"$tmp/err"; rc=$?
check "bad value exits 2" test "$rc" -eq 2
check "bad value is explained" grep -q 'log_format: must be text or json' "$tmp/err"
"$GRIDD" --listen=0.0.0.0:0 --metrics_listen "" --data_dir="$tmp/never" 2>"$tmp/err"; rc=$?
check "non-loopback without auth refuses to start" test "$rc" -eq 1
set -e

# ---- probes and metrics
start_gridd --config="$tmp/gridd.json"
S="--server=127.0.0.1:$port"
check "metrics port reported" test -n "$mport"
check "/healthz is 200" test "$(http "$mport" /healthz)" = 200
check "/readyz is 200 when serving" test "$(http "$mport" /readyz)" = 200
check "/nope is 404" test "$(http "$mport" /nope)" = 404
# Regression: the data directory was 0755 and its files 0644 (the WAL and
# SST files hold names). Started here with umask 022.
check "data directory is 0700" test "$(stat -c %a "$tmp/data")" = 700
check "no file in it is open to group or others" test -z "$(find "$tmp/data" -perm /077 -type f)"

"$GRIDCTL" simulate --days 3 --towns 1 --seed 7 "$S" >/dev/null
# A household with a known name and phone, and one refused because it sends an
# ID number in the clear (the refusal must not log it either).
person='"head":{"person_token":"pt-x1","name":"欧阳明月","phone":"13812345678"}'
"$GRIDCTL" append --stream household/h-x1 --expect no_stream \
  '{"event_id":"ops-h1","type":"HouseholdCreated","org_path":"350583/101/201/g01","household_created":{"household_id":"h-x1","kind":"FAMILY","org_path":"350583/101/201/g01","house_number":"88",'"$person"',"source":"GRID_VISIT","head_residence":"REGISTERED_RESIDENT"}}' \
  "$S" >/dev/null
"$GRIDCTL" append --stream household/h-x2 --expect no_stream \
  '{"event_id":"ops-h2","type":"HouseholdCreated","org_path":"350583/101/201/g01","household_created":{"household_id":"h-x2","org_path":"350583/101/201/g01","head":{"name":"司马青衫","id_number":"11010519491231002X"}}}' \
  "$S" >/dev/null 2>&1 || true
head=$("$GRIDCTL" status "$S" | sed -n 's/.*"head_position":"\{0,1\}\([0-9]*\).*/\1/p')
check "log has events" test "$head" -gt 100
check "/metrics is 200" test "$(http "$mport" /metrics)" = 200
cp "$tmp/body" "$tmp/metrics"
check "metrics: head position" grep -q "^gridlog_log_head_position $head\$" "$tmp/metrics"
check "metrics: appended events" grep -q "^gridlog_append_events_total $head\$" "$tmp/metrics"
check "metrics: refused append counted" grep -q 'gridlog_rpcs_total{code="\(INVALID_ARGUMENT\|FAILED_PRECONDITION\)",method="/grid.v1.Log/Append"} 1' "$tmp/metrics"
check "metrics: projection lag" grep -q '^gridlog_projection_lag_events{projection="household_roster"}' "$tmp/metrics"
check "metrics: rocksdb" grep -q '^gridlog_rocksdb_live_data_bytes{db="log"}' "$tmp/metrics"
check "metrics: process" grep -q '^process_open_fds ' "$tmp/metrics"
# Regression: a gauge with an `le` label, which Prometheus' linter rejects.
check "metrics pass promtool check metrics" bash -c 'promtool check metrics <"$1"' _ "$tmp/metrics"

# ---- logs: JSON lines, one per RPC at debug, never personal data
check "every log line is a JSON object with time, level, msg" /usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert {"time", "level", "msg"} <= o.keys(), line
    n += 1
assert n > 0' "$tmp/gridd.err"
check "a debug line per RPC" grep -q '"msg":"rpc /grid.v1.Log/Append code=OK ms=' "$tmp/gridd.err"
"$GRIDCTL" read --all "$S" >"$tmp/events"
/usr/bin/python3 - "$tmp/events" >"$tmp/personal" <<'PY'
import json, sys
# Every value of a personal field in the log's events, but for short numbers
# (house numbers such as "12" also occur in durations and positions).
keys = {"name", "id_number", "phone", "house_number", "person_token"}
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if isinstance(v, str) and k in keys and not (v.isdigit() and len(v) < 8):
                print(v)
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
for line in open(sys.argv[1], encoding="utf-8"):
    walk(json.loads(line))
PY
printf '%s\n' 欧阳明月 13812345678 司马青衫 11010519491231002X >>"$tmp/personal"
check "personal values collected" test "$(sort -u "$tmp/personal" | wc -l)" -gt 50
check "the known name and phone are in the events" grep -q '"name":"欧阳明月","phone":"13812345678"' "$tmp/events"
check "no personal value in gridd's log" bash -c '! grep -F -f <(sort -u "$1") "$2"' _ "$tmp/personal" "$tmp/gridd.err"

# ---- backup while appending, restore into a new server
"$GRIDCTL" simulate --days 3 --towns 1 --seed 8 --county 350584 "$S" >/dev/null &
sim=$!
"$GRIDCTL" admin backup "$tmp/backup" "$S" >"$tmp/backup.json"
wait "$sim"
bhead=$(sed -n 's/.*"head_position":\([0-9]*\).*/\1/p' "$tmp/backup.json")
check "backup has a manifest" test -f "$tmp/backup/MANIFEST.json"
check "backup head is within the log" test "$bhead" -ge "$head"
set +e
"$GRIDCTL" admin backup "$tmp/backup" "$S" 2>"$tmp/err"; rc=$?
check "backup refuses an existing folder" test "$rc" -eq 1
cp -r "$tmp/backup" "$tmp/tampered"
f=$(ls "$tmp/tampered/log/"*.sst | head -1)
printf 'x' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
"$GRIDCTL" admin restore "$tmp/tampered" --data_dir "$tmp/never" 2>"$tmp/err"; rc=$?
check "restore refuses a damaged backup" test "$rc" -eq 1
check "restore names the damaged file" grep -q "DATA_LOSS.*$(basename "$f") does not match the manifest" "$tmp/err"
check "nothing restored from it" test ! -e "$tmp/never"
set -e
"$GRIDCTL" admin restore "$tmp/backup" --data_dir "$tmp/restored" >/dev/null
first_pid=$pid
first=$S
data="$tmp/restored" name=restored start_gridd
R="--server=127.0.0.1:$port"
check "restored server is at the backup's head" \
  grep -q "\"head_position\":\"\{0,1\}$bhead[\",]" <("$GRIDCTL" status "$R")
check "restored chain verifies" grep -q "\"verified\":$bhead," <("$GRIDCTL" verify "$R")
"$GRIDCTL" read --all --max "$bhead" "$first" >"$tmp/a"
"$GRIDCTL" read --all "$R" >"$tmp/b"
check "restored events equal the original's" cmp -s "$tmp/a" "$tmp/b"
compared=0
for p in $("$GRIDCTL" projection list --output json "$R" | grep -o '"name":"[a-z_]*"' | cut -d'"' -f4); do
  "$GRIDCTL" projection get "$p" --at "$bhead" --output json "$first" >"$tmp/p1"
  "$GRIDCTL" projection get "$p" --at "$bhead" --output json "$R" >"$tmp/p2"
  check "projection $p equal at the backup's head" cmp -s "$tmp/p1" "$tmp/p2"
  cmp -s "$tmp/p1" "$tmp/p2" || { diff <(tr "," "\n" <"$tmp/p1") <(tr "," "\n" <"$tmp/p2") | head -40 || true; }
  compared=$((compared + 1))
done
check "all fifteen projections compared" test "$compared" -eq 15
check "restored data is its owner's only" test -z "$(find "$tmp/restored" -perm /077)"
kill -TERM "$first_pid" "$pid"
wait "$first_pid" "$pid" || true
# A secret key that other users may read is refused at start: by the world,
# and (regression: only the world's bits were checked) by the group.
for mode in 644 640; do
  chmod "$mode" "$tmp/restored/person_key"
  set +e
  "$GRIDD" --listen=127.0.0.1:0 --metrics_listen "" --data_dir="$tmp/restored" 2>"$tmp/err"; rc=$?
  set -e
  check "a key of mode $mode refuses the start" test "$rc" -eq 1
  check "the key is named ($mode)" grep -q "person_key is a secret key that other users may read" "$tmp/err"
done
finish "ops e2e"
