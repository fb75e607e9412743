#!/usr/bin/env bash
# Smoke test of the load generator: `gridctl bench --quick` against the real
# gridd on 127.0.0.1:0 runs every workload and reports sane, error-free rows.
# It asserts that the bench still works, never how fast anything was.
# usage: bench_smoke.sh GRIDD GRIDCTL
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
source "$(dirname "$0")/gridd_lib.sh"
start_gridd

if ! "$GRIDCTL" bench --quick --output json --server "127.0.0.1:$port" --metrics_port "$mport" \
  >"$tmp/bench.json" 2>"$tmp/bench.err"; then
  cat "$tmp/bench.err" "$tmp/bench.json" >&2
  echo "FAIL: gridctl bench --quick exited non-zero" >&2
  exit 1
fi
cat "$tmp/bench.json"

failed=0
expect() {  # expect DESCRIPTION PATTERN: some line of the output matches
  if ! grep -Eq "$2" "$tmp/bench.json"; then
    echo "FAIL: $1" >&2
    failed=$((failed + 1))
  fi
}
for mode in unary batch households pipelined; do
  expect "append $mode ran without errors" "\"mode\":\"$mode\".*\"events_per_s\":[1-9].*\"errors\":0,\"duplicates\":0"
done
expect "fanout delivered every event to every subscriber" '"workload":"fanout".*"all_delivered":true.*"errors":0'
expect "replay read events" '"workload":"replay","events":[1-9]'
expect "projection reads were timed" '"workload":"projection".*"latest_p50_us":[1-9]'
expect "idle held every subscription" '"workload":"idle","subscriptions":100,'
expect "slow subscriber run read events" '"workload":"slow".*"subscriber_read":[1-9].*"errors":0'
# Its RSS also less what RocksDB's cache held at each sample (read from
# gridd's /metrics).
expect "slow subscriber run took RocksDB's cache out of the RSS" \
  '"workload":"slow","rss_beyond_cache_first_half_max_mib":[1-9][0-9]*,"rss_beyond_cache_second_half_max_mib":[1-9]'
# And the same load without the subscriber before and after it, the controls.
expect "slow subscriber run had its control runs" \
  '"workload":"slow".*"control_before_rss_first_half_max_mib":[1-9][0-9]*,.*"control_after_rss_second_half_max_mib":[1-9][0-9]*,"errors":0'
[ "$(wc -l <"$tmp/bench.json")" -eq 9 ] || { echo "FAIL: expected 9 result lines" >&2; failed=$((failed + 1)); }

# A fill's counties continued by a later run (the curves by log size): the
# same events are generated again and the appended ones skipped, so none is
# sent twice (a duplicate) and every new one passes the domain rules; the
# fill holds households, and their changes continue too.
"$GRIDCTL" bench fill --events 4000 --batch_clients 2 --batch 10 --run smoke --lane 0 --output json \
  --server "127.0.0.1:$port" >"$tmp/fill.json"
cat "$tmp/fill.json"
if ! grep -Eq '"households":[1-9][0-9]*,"grid_streams":[0-9]+,.*"lanes":2,"last_round_lane":0,"last_round_events_per_lane":2000' \
  "$tmp/fill.json"; then
  echo "FAIL: the fill counts its households and grids and names the lanes of its last round" >&2
  failed=$((failed + 1))
fi
for mode in batch households; do
  "$GRIDCTL" bench append --mode "$mode" --batch_clients 2 --batch 10 --events 400 --run smoke --lane 0 \
    --after 2000 --output json --server "127.0.0.1:$port" >"$tmp/continued.json"
  cat "$tmp/continued.json"
  if ! grep -q "\"mode\":\"$mode\".*\"events\":400,.*\"errors\":0,\"duplicates\":0,\"lanes_continued\":2,\"after_events\":2000" \
    "$tmp/continued.json"; then
    echo "FAIL: the continued lanes appended 400 new events ($mode), none twice" >&2
    failed=$((failed + 1))
  fi
done
if "$GRIDCTL" bench append --mode unary --events 400 --run smoke --lane 0 --after 2000 \
  --server "127.0.0.1:$port" >"$tmp/bad.out" 2>&1 || ! grep -q "use it with --mode batch or --mode households alone" "$tmp/bad.out"; then
  cat "$tmp/bad.out" >&2
  echo "FAIL: --after is refused for the one-per-call mode (a fill's lanes are batch lanes)" >&2
  failed=$((failed + 1))
fi
# A continuation is the same county with the same event ids every time it
# is generated: the same one again gets every event back as a duplicate.
"$GRIDCTL" bench append --mode households --batch_clients 2 --batch 10 --events 400 --run smoke --lane 0 \
  --after 2000 --output json --server "127.0.0.1:$port" >"$tmp/again.json"
cat "$tmp/again.json"
if ! grep -q '"events":400,.*"errors":0,"duplicates":400,' "$tmp/again.json"; then
  echo "FAIL: the same continuation sent again is 400 duplicates" >&2
  failed=$((failed + 1))
fi

kill -TERM "$pid"
wait "$pid" || { echo "FAIL: gridd did not stop cleanly" >&2; failed=$((failed + 1)); }
pid=""
[ "$failed" -eq 0 ] && echo "bench smoke: all checks passed"
exit "$failed"
