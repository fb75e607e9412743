#!/usr/bin/env bash
# grid_admission_bench runs (a smoke, as bench_smoke is for gridctl bench; no
# timing is checked): one row per length and mode, and with snapshots a
# cold append to a stream of 300 reports folds only the tail after the last
# snapshot, where folding the history reads all 300.
set -euo pipefail
bench=$1
out=$("$bench" --lengths 0,300 --repeat 2)
echo "$out"
[ "$(echo "$out" | grep -c '"workload":"admission"')" -eq 4 ] || { echo "FAIL: 4 rows expected" >&2; exit 1; }
folded() { echo "$out" | grep "\"mode\":\"$1\",\"stream_events\":300," | sed 's/.*"folded_events":\([0-9]*\).*/\1/'; }
s=$(folded snapshots); f=$(folded fold)
[ "$f" -ge 300 ] || { echo "FAIL: folding the history read $f events of 300" >&2; exit 1; }
[ "$s" -lt 100 ] || { echo "FAIL: with snapshots a cold append folded $s events" >&2; exit 1; }
echo "ok: a cold append folded $s events with snapshots, $f without"
