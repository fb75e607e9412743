#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each from the committed seed corpus
# (new inputs go to a scratch copy, never into the repository).
# usage: run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for corpus in "$here"/corpus/*/; do
  name=$(basename "$corpus")
  mkdir -p "$work/$name"
  if ! "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
      "$work/$name" "$corpus" >"$work/$name.log" 2>&1; then
    failed=$((failed + 1))
    echo "fuzz_$name: FAILED"
    tail -n 40 "$work/$name.log"
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null || true
  else
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
    echo "fuzz_$name: ${runs:-?} inputs in ${seconds}s, no crash"
  fi
done
[ "$failed" -eq 0 ]
