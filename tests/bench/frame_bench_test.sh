#!/usr/bin/env bash
# grid_frame_bench runs (a smoke; no timing is checked): a row for every
# event size in each mode, copied and referenced, each with a cost.
set -euo pipefail
bench=$1
out=$("$bench" --subscribers 2 --per_message 3 --rounds 1)
echo "$out"
failed=0
fail() { echo "FAIL: $1" >&2; failed=$((failed + 1)); }
for mode in copy reference; do
  [ "$(echo "$out" | grep -c "\"mode\":\"$mode\",\"subscribers\":2,\"per_message\":3,")" -eq 7 ] ||
    fail "7 event sizes expected, $mode"
done
echo "$out" | grep -q '"event_bytes":32768,"mode":"reference".*"ns_per_event_per_subscriber_p50":[0-9]' ||
  fail "no figure for referenced 32 KiB events"
[ "$failed" -eq 0 ] && echo "ok"
exit "$failed"
