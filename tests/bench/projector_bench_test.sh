#!/usr/bin/env bash
# grid_projector_bench runs (a smoke, as bench_smoke is for gridctl bench; no
# timing is checked): a row per run size for every projection together, and
# one per projection with its row versions per event, which for a county
# with households and incidents are more than nothing where they roll up.
set -euo pipefail
bench=$1
out=$(TMPDIR=${TMPDIR:-/var/tmp} "$bench" --days 10 --towns 1 --batch_events 100,40)
echo "$out"
failed=0
fail() { echo "FAIL: $1" >&2; failed=$((failed + 1)); }
[ "$(echo "$out" | grep -c '"workload":"projector","projections":15,')" -eq 2 ] || fail "2 rows of 15 projections expected"
echo "$out" | grep -q '"batch_events":40,"events":[1-9][0-9]*,' || fail "the run of 40 events folded a county"
[ "$(echo "$out" | grep -c '"workload":"projection_versions"')" -eq 15 ] || fail "15 projections' versions expected"
for p in population incident_stats grid_sanitation; do
  echo "$out" | grep -Eq "\"projection\":\"$p\",\"versions_per_event\":(0\.[0-9]*[1-9]|[1-9])" ||
    fail "$p wrote no versions"
done
[ "$failed" -eq 0 ] && echo "ok"
exit "$failed"
