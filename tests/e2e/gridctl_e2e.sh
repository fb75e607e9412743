#!/usr/bin/env bash
# End to end: start the real gridd on 127.0.0.1:0, drive it with gridctl the
# way a user would, stop it with SIGTERM by PID, restart it, check again.
# usage: gridctl_e2e.sh GRIDD GRIDCTL
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
source "$(dirname "$0")/gridd_lib.sh"

start() {
  start_gridd --checkpoint_every_events=2 --checkpoint_every_seconds=3600
  S="--server=127.0.0.1:$port"
}

ctl() { "$GRIDCTL" "$@" "$S"; }

start

grid='{"event_id":"g-1","type":"GridDefined","org_path":"350583/101/203/g05","grid_defined":{"org_path":"350583/101/203/g05","name":"溪西村第五网格"}}'
out=$(ctl append --stream org/350583 --expect no_stream "$grid")
check "first append gets position 1" grep -q '"position":"1"' <<<"$out"
check "append's JSON has every field, zero ones too" \
  grep -q '"results":\[{"position":"1","stream_version":"0","duplicate":false}\],"stream_version":"0"' <<<"$out"

out=$(printf '%s\n%s\n' \
  '{"event_id":"w-1","type":"WorkerAssigned","org_path":"350583/101/203/g05","worker_assigned":{"worker_id":"w-4","org_path":"350583/101/203/g05"}}' \
  '{"eventId":"g-2","type":"GridDefined","orgPath":"350583/102","gridDefined":{"orgPath":"350583/102","name":"g"}}' |
  ctl append --stream org/350583 --expect 0)
check "stdin append gets positions 2 and 3" grep -q '"position":"3"' <<<"$out"

out=$(ctl append --stream org/350583 "$grid")
check "retry is a duplicate at the original position" grep -q '"position":"1","stream_version":"0","duplicate":true' <<<"$out"

set +e
ctl append --stream org/350583 '{"event_id": ' 2>"$tmp/err"; rc=$?
check "malformed JSON exits 2" test "$rc" -eq 2
check "malformed JSON is explained" grep -q "malformed event JSON" "$tmp/err"
ctl append --stream org/350583 '{"event_id":"x","type":"Bogus"}' 2>"$tmp/err"; rc=$?
check "unknown type exits 1" test "$rc" -eq 1
check "unknown type is INVALID_ARGUMENT" grep -q "INVALID_ARGUMENT.*unknown event type 'Bogus'" "$tmp/err"
ctl append --stream org/350583 --expect 0 '{"event_id":"x2","type":"GridRetired","org_path":"350583/102","grid_retired":{"org_path":"350583/102"}}' 2>"$tmp/err"; rc=$?
check "stale expected version exits 1" test "$rc" -eq 1
check "stale expected version says the current one" grep -q "is at version 2; expected version 0" "$tmp/err"
ctl read --all --from=99 2>"$tmp/err"; rc=$?
check "read past the head exits 1" test "$rc" -eq 1
check "read past the head is OUT_OF_RANGE" grep -q "OUT_OF_RANGE" "$tmp/err"
set -e

check "read --all gives 3 events" test "$(ctl read --all | wc -l)" -eq 3
check "read as a table: one line per event" \
  grep -qE '^2 +org/350583@1 +WorkerAssigned +350583/101/203/g05 +w-1$' <(ctl read --all --output table)
check "status as a table" grep -qE '^head_position +3$' <(ctl status --output table)
set +e
ctl status --output xml 2>"$tmp/err"; rc=$?
check "unknown --output exits 2" test "$rc" -eq 2
"$GRIDCTL" status --server=127.0.0.1:1 2>"$tmp/err"; rc=$?
check "no server exits 1" test "$rc" -eq 1
check "no server gives a hint with the address" grep -q 'hint: is gridd running on 127.0.0.1:1?' "$tmp/err"
set -e
check "gridctl --help prints the usage, exit 0" bash -c '"$1" --help | grep -q "^usage: gridctl"' _ "$GRIDCTL"
check "gridctl -h prints the usage, exit 0" bash -c '"$1" -h | grep -q "^usage: gridctl"' _ "$GRIDCTL"
check "every command's --help has examples" bash -c '
  for c in append read subscribe replay verify status simulate bench; do
    "$0" "$c" --help | grep -q "^  gridctl $c" || { echo "no example in $c --help" >&2; exit 1; }
  done' "$GRIDCTL"
check "read --stream backwards starts at the last version" \
  grep -q '"event_id":"g-2"' <<<"$(ctl read --stream org/350583 --backwards --max 1)"
check "events carry their chain in hex" grep -qE '"chain":"[0-9a-f]{64}"' <<<"$(ctl read --all --max 1)"

# Live: a filtered subscriber started before the event it waits for.
ctl subscribe --now --type GridRetired --max_events 1 --checkpoints >"$tmp/live" &
sub=$!
wait_for_line "$tmp/live" '"caught_up":true'  # live before the event is appended
ctl append --stream org/350583 '{"event_id":"r-1","type":"GridRetired","org_path":"350583/102","grid_retired":{"org_path":"350583/102","reason":"merged"}}' >/dev/null
wait "$sub"
check "live subscriber got the event" grep -q '"event_id":"r-1"' "$tmp/live"
check "catch-up subscriber gets all 4" test "$(ctl subscribe --max_events 4 | wc -l)" -eq 4
check "resume after position 3 gives the 4th" grep -q '"position":"4"' <<<"$(ctl subscribe --from 3 --max_events 1)"

# Audit: export, verify offline and online, detect tampering.
out=$(ctl replay --out "$tmp/log.export")
check "replay exports 4 events" grep -q '"exported":4' <<<"$out"
check "export verifies offline" grep -q '"verified":4' <<<"$("$GRIDCTL" verify --file "$tmp/log.export")"
check "log verifies online" grep -q '"verified":4' <<<"$(ctl verify)"
key=$(ctl status | sed -n 's/.*"signing_public_key":"\([0-9a-f]*\)".*/\1/p')
check "status shows the signing key" test "${#key}" -eq 64
out=$("$GRIDCTL" verify --file "$tmp/log.export" --pubkey "$key")
check "signed checkpoints verify offline" grep -q '"signed_through":3,"unsigned_tail":1' <<<"$out"
check "signed checkpoints verify online" grep -q '"signed_through":3' <<<"$(ctl verify --pubkey "$key")"
/usr/bin/python3 - "$tmp/log.export" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) - 60] ^= 0x01      # inside the last record's stored bytes
open(p, 'wb').write(bytes(b))
EOF
set +e
"$GRIDCTL" verify --file "$tmp/log.export" 2>"$tmp/err"; rc=$?
set -e
check "tampered export fails verify" test "$rc" -eq 1
check "tampering is located at position 4" grep -q "DATA_LOSS: position 4" "$tmp/err"

check "status shows head 4" grep -q '"head_position":4' <<<"$(ctl status)"


# The domain: a simulated county, then its department views.
start=$(date -u -d '-4 days' +%Y-%m-%dT%H:%M:%SZ)
out=$(ctl simulate --county 350584 --days 3 --seed 5 --start "$start")
check "simulate appends a county" grep -qE '"events":[0-9]{4,}' <<<"$out"
head_pos=$(sed -n 's/.*"head_position":\([0-9]*\).*/\1/p' <<<"$out")
out=$(ctl projection get population --row 350584 --min_position "$head_pos" --output json)
check "population rolls up to the county" grep -q '"residents":"[1-9]' <<<"$out"
check "the view is as of the head" grep -q "\"position\":\"$head_pos\"" <<<"$out"
out=$(ctl projection get population --prefix 350584/101 --min_position "$head_pos")
check "names beside codes" grep -qE '^350584/101 +[0-9]+ +溪美街道 ' <<<"$out"
out=$(ctl projection get incident_stats --prefix '350584#' --output json)
check "incidents were reported and closed" grep -q '"closed":"[1-9]' <<<"$out"
out=$(ctl projection get village_income --prefix 350584/101/201 --output json)
check "a village's books have its operating income" grep -q '"operating_total_fen":"[1-9]' <<<"$out"
out=$(ctl projection get cadre_scoreboard --prefix 350584/101/201 --output json)
check "the village's cadres are scored day by day" grep -q '"days_scored":[1-9]' <<<"$out"
# A county simulated over a year's end: year-end scores, then the close.
out=$(ctl simulate --county 350585 --days 3 --seed 61 --towns 1 --villages 2 --grids 1 --households 1 \
  --start 2025-12-30T08:00:00+08:00)
close_pos=$(sed -n 's/.*"head_position":\([0-9]*\).*/\1/p' <<<"$out")
out=$(ctl projection get cadre_scoreboard --prefix 350585 --min_position "$close_pos" --output json)
check "the year's close ranks every cadre" test "$(grep -o '"closed":true' <<<"$out" | wc -l)" -eq 4
check "the top 30 % is flagged" test "$(grep -o '"top":true' <<<"$out" | wc -l)" -ge 2
out=$(ctl simulate --county 350584 --days 3 --seed 5 --start "$start")
check "the same simulation again is all duplicates (its forms prefilled alike)" \
  grep -qE '"events":([0-9]+),"duplicates":\1,' <<<"$out"
out=$(ctl projection get reporting_burden --prefix '350584#' --min_position "$head_pos" --output json)
check "simulated villages confirm prefilled items" grep -q '"items_confirmed":"[1-9]' <<<"$out"
out=$(COUNTY=350584 TASK=story bash "$(dirname "$0")/../../client/examples/shell/one_table_story.sh" "$GRIDCTL" "$S")
check "the form offers the network's count" grep -qE '^population.residents +[1-9][0-9]* person +projection:population' <<<"$out"
check "day 2 offers what the village typed on day 1" grep -qE '^village.cleaners +4 person +form:story-1' <<<"$out"
check "day 1: two items typed" grep -q '"key":"350584/101/201#story-1".*"items_confirmed":"2","items_edited":"0","items_typed":"2"' <<<"$out"
check "day 2: one item typed" grep -q '"key":"350584/101/201#story-2".*"items_confirmed":"3","items_edited":"0","items_typed":"1"' <<<"$out"
out=$(COUNTY=350584 INCIDENT=story-1 bash "$(dirname "$0")/../../client/examples/shell/incident_story.sh" "$GRIDCTL" "$S")
check "the incident story reaches the department's queue" grep -q '"key":"350584#county-sanitation#story-1".*"state":"DISPATCHED"' <<<"$out"
check "the incident story closes with a satisfied citizen" grep -q '"resolved":"1".*"satisfaction_sum":"5"' <<<"$out"
check "the rules told the story in order" test "$(grep -c '^   Incident' <<<"$out")" -eq 8
set +e
ctl append --stream incident/story-1 '{"type":"IncidentRated","org_path":"350584/101/201/g01","occurred_at":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'","incident_rated":{"incident_id":"story-1","by_org":"350584/101/201","satisfaction":4}}' 2>"$tmp/err"
set -e
check "a second rating is refused, naming the rule" grep -q "incident story-1 is already rated" "$tmp/err"
head_pos=$(ctl status | sed -n 's/.*"head_position":\([0-9]*\).*/\1/p')
out=$(ctl projection get population --row 350584 --at 200 --output json)
check "a past view is as of its position" grep -q '"position":"200"' <<<"$out"
out=$(ctl projection list)
check "fifteen projections are listed" test "$(grep -cE '^[a-z_]+ +[0-9]+ +[0-9]+ +(live|catching up)' <<<"$out")" -eq 15
out=$(ctl projection get form_completion --prefix "t5-1#350584/101")
check "form completion shows a table" grep -qE '^t5-1#350584/101/201 +[0-9]+ +t5-1' <<<"$out"
out=$(ctl projection watch population --prefix 350584/101 --max_messages 1 --output json)
check "watch starts with a snapshot" grep -q '"snapshot":true' <<<"$out"
set +e
ctl projection get populaton 2>"$tmp/err"; rc=$?
set -e
check "unknown projection exits 1" test "$rc" -eq 1
check "unknown projection is NOT_FOUND with the names" grep -q "NOT_FOUND.*there are: grid_sanitation" "$tmp/err"

# Graceful stop and restart.
kill -TERM "$pid"
set +e
wait "$pid"; rc=$?
set -e
pid=""
check "SIGTERM exits 0" test "$rc" -eq 0
start
check "restart keeps the head" grep -q "\"head_position\":$head_pos" <<<"$(ctl status)"
out=$(ctl projection get population --row 350584 --min_position "$head_pos" --output json)
check "projections survive the restart" grep -q "\"position\":\"$head_pos\"" <<<"$out"
out=$(ctl append --stream org/350583 "$grid")
check "idempotency survives restart" grep -q '"duplicate":true' <<<"$out"

kill -TERM "$pid" && wait "$pid" || true
pid=""

finish "gridctl e2e"
