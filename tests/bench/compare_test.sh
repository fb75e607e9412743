#!/usr/bin/env bash
# bench/compare.py turns the peers' summary and gridlog's bench rows into the
# targets table: ratios against the right peer rows, verdicts, and no verdict
# where the input cannot decide (a restart of a log smaller than 10M events).
# usage: compare_test.sh COMPARE_PY
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/summary.json" <<'JSON'
[
 {"system": "RocksDB", "workload": "fillseq sync=1, WriteBatch of 100 (p50/p99 per batch)", "ops_per_s": 100000},
 {"system": "RocksDB", "workload": "readseq (iterator over all keys, warm cache)", "ops_per_s": 1000000},
 {"system": "NATS JetStream", "workload": "R1 file, async publish, 256 in flight", "ops_per_s": 50000},
 {"system": "NATS JetStream", "workload": "R1 file, sync publish, 32 publishers", "ops_per_s": 10000},
 {"system": "NATS JetStream", "workload": "R1 file, replay with ordered push consumer", "ops_per_s": 200000},
 {"system": "gRPC", "workload": "unary echo 512 B, 64 callers, 1 channel", "ops_per_s": 20000}
]
JSON
cat >"$tmp/gridlog.jsonl" <<'JSON'
{"workload":"append","mode":"batch","events_per_s":80000,"event_bytes":490}
{"workload":"append","mode":"unary","events_per_s":15000,"event_bytes":300}
{"workload":"fanout","subscribers":64,"target_rate":5000,"delivered_per_s":320000,"all_delivered":true,"delivery_p99_us":8000}
{"workload":"idle","subscriptions":1000,"rss_added_mib":150}
{"workload":"replay","events":2000000,"events_per_s":900000,"stored_event_bytes":600}
{"workload":"restart","events":500000,"seconds":0.5}
{"workload":"replay","events":12000000,"events_per_s":400000,"stored_event_bytes":600}
{"workload":"projection","log_position":12000000,"at_position_p50_us":200,"at_position_p99_us":12000}
JSON
/usr/bin/python3 "$1" "$tmp/summary.json" "$tmp/gridlog.jsonl" >"$tmp/table.md"
cat "$tmp/table.md"
failed=0
expect() {  # expect DESCRIPTION PATTERN
  grep -Fq -- "$2" "$tmp/table.md" || { echo "FAIL: $1" >&2; failed=$((failed + 1)); }
}
expect "P1 is 0.80x RocksDB batch=100 and met" "| P1 | append, 100 events/call, 8 callers, durable | 80,000/s | RocksDB: fillseq sync=1, WriteBatch of 100 (p50/p99 per batch) | 100,000/s | 0.80× | ≥ 0.7× | **yes** |"
expect "P2 is 0.75x the echo ceiling and missed" "| 15,000/s | gRPC: unary echo 512 B, 64 callers, 1 channel | 20,000/s | 0.75× | ≥ 0.8× | **no** |"
expect "P2 beats JetStream sync publish" "| NATS JetStream: R1 file, sync publish, 32 publishers | 10,000/s | 1.50× | ≥ 1.0× | **yes** |"
expect "P3 uses the first replay" "| P3 | replay of 2,000,000 events, 1 client | 900,000/s |"
expect "P3 misses 4x JetStream" "| 4.50× | ≥ 4.0× | **yes** |"
expect "the second replay is shown without a target" "| — | replay of 12,000,000 events (after the fill), 1 client | 400,000/s |"
expect "P4 met" "every event to every subscriber, p99 ≤ 10 ms | **yes** |"
expect "P5 idle over budget" "≤ 100 MB per 1,000 | **no** |"
expect "a small restart gets no verdict" "≤ 2 s at 10M events | — |"
expect "P6 projection p99 over 10 ms" "p99 12.00 ms |"
expect "missing pipelined run shows a dash" "| — | append, 1 event/call, 256 in flight (pipelined) | — |"

# A recorded earlier run (compare.sh --record): its ratio beside each row.
mkdir "$tmp/prev"
cp "$tmp/summary.json" "$tmp/prev/peers.json"
sed 's/"events_per_s":80000/"events_per_s":40000/' "$tmp/gridlog.jsonl" >"$tmp/prev/gridlog.jsonl"
echo abc1234 >"$tmp/prev/commit"
/usr/bin/python3 "$1" "$tmp/summary.json" "$tmp/gridlog.jsonl" --commit def5678 --previous "$tmp/prev" >"$tmp/table.md"
expect "the commit measured is named" "main at \`def5678\`"
expect "the earlier run is named" "last recorded (\`abc1234\`) |"
expect "P1 now and then" "| 0.80× | ≥ 0.7× | **yes** | 0.40× |"
expect "a limit row shows the earlier figure" "≤ 2 s at 10M events | — | 0.50 s |"
# The curves (compare.sh's second log): the targets that need a big log come
# from it, a table by log size with the 0.9x goal, fan-out by subscribers,
# and the plots drawn.
cat >"$tmp/scale.jsonl" <<'JSON'
{"workload":"append","mode":"unary","log_events":0,"events_per_s":6000,"call_p99_us":20000}
{"workload":"append","mode":"batch","log_events":61000,"events_per_s":30000,"call_p99_us":50000}
{"workload":"replay","events":361000,"events_per_s":500000}
{"workload":"projection","log_position":361000,"at_position_p50_us":200,"at_position_p99_us":900}
{"workload":"append","mode":"households","log_events":330000,"events_per_s":4500,"calls_per_s":3000,"call_p99_us":6000}
{"workload":"fill","events":639000,"households":50000,"lanes":16,"last_round_lane":8,"last_round_events_per_lane":62500}
{"workload":"restart","events":1000000,"seconds":0.4}
{"workload":"append","mode":"unary","log_events":1000000,"events_per_s":5700,"call_p99_us":21000}
{"workload":"append","mode":"batch","log_events":1061000,"events_per_s":29000,"call_p99_us":52000,"lanes_continued":8}
{"workload":"replay","events":1361000,"events_per_s":450000}
{"workload":"projection","log_position":1361000,"at_position_p50_us":200,"at_position_p99_us":1000}
{"workload":"append","mode":"households","log_events":1330000,"events_per_s":4000,"calls_per_s":2900,"call_p99_us":7000,"lanes_continued":8}
{"workload":"fill","events":8639000,"households":650000,"lanes":144,"last_round_lane":152,"last_round_events_per_lane":62500}
{"workload":"restart","events":10000000,"seconds":1.5}
{"workload":"append","mode":"unary","log_events":10000000,"events_per_s":5000,"call_p99_us":25000}
{"workload":"append","mode":"batch","log_events":10061000,"events_per_s":28500,"call_p99_us":60000,"lanes_continued":8}
{"workload":"append","mode":"households","log_events":10330000,"events_per_s":3000,"calls_per_s":2400,"call_p99_us":9000,"lanes_continued":8}
{"workload":"replay","events":10361000,"events_per_s":300000}
{"workload":"projection","log_position":10361000,"at_position_p50_us":200,"at_position_p99_us":3000}
JSON
cat >>"$tmp/gridlog.jsonl" <<'JSON'
{"workload":"fanout","subscribers":1,"target_rate":5000,"append_rate":5000,"delivered_per_s":5000,"all_delivered":true,"delivery_p50_us":900,"delivery_p99_us":3000}
{"workload":"fanout","subscribers":1000,"target_rate":5000,"append_rate":4000,"delivered_per_s":900000,"all_delivered":false,"delivery_p50_us":90000,"delivery_p99_us":900000}
JSON
/usr/bin/python3 "$1" "$tmp/summary.json" "$tmp/gridlog.jsonl" --scale "$tmp/scale.jsonl" --plots "$tmp/plots" \
  >"$tmp/table.md"
cat "$tmp/table.md"
expect "the big replay is the scale log's last" "| — | replay of 10,361,000 events (after the fill), 1 client | 300,000/s |"
expect "the restart at 10M gets its verdict" "| P6 | restart of a 10,000,000-event log, until serving | 1.50 s |  |  |  | ≤ 2 s at 10M events | **yes** |"
expect "the projection read at the largest log" "point-in-time GetProjection of one row (10,361,000-event log) | p50"
expect "P4 is the first fan-out row, not the curve's" "| P4 | 64 subscribers at 5,000 appends/s |"
expect "a row per log size, with the households the fills made" "| 10,000,000 | 700,000 | 5,000/s | 25.00 ms | 28,500/s | 60.00 ms | 2,400 calls/s | 9.00 ms | 1.50 s | 300,000/s | 3.00 ms |"
expect "the empty log's row" "| 0 | — | 6,000/s | 20.00 ms | 30,000/s | 50.00 ms | 3,000 calls/s | 6.00 ms | — | 500,000/s | 0.90 ms |"
expect "household appends at 10M against 0, by calls" "Append, one household per call (calls/s), at 10,330,000 events: 0.80× its rate on an empty log (goal ≥ 0.9×): **no**"
expect "unary at 10M against 0 misses 0.9x" "Append, 1 event/call, at 10,000,000 events: 0.83× its rate on an empty log (goal ≥ 0.9×): **no**"
expect "batch at 10M against 0 meets it" "Append, 100 events/call, at 10,061,000 events: 0.95× its rate on an empty log (goal ≥ 0.9×): **yes**"
expect "the continued counties are said" "continue the fill's last 8 counties"
expect "fan-out by subscribers, in order" "| 1,000 | 4,000/s | 900,000/s | no | 90.00 ms | 900.00 ms |"
for png in scale-append scale-read fanout; do
  if [ "$(head -c 8 "$tmp/plots/$png.png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
    echo "FAIL: $png.png is drawn (a PNG)" >&2
    failed=$((failed + 1))
  fi
done

# P5's slow subscriber: judged on its own run's RSS; what the row also
# carries (the RSS less RocksDB's cache, the controls without the
# subscriber before and after it) printed beside it, and an older row
# without them printed as before.
printf '%s\n' '{"workload":"slow","rss_beyond_cache_first_half_max_mib":380,"rss_beyond_cache_second_half_max_mib":430,"seconds":60,"append_rate":5000,"rss_first_half_max_mib":560,"rss_second_half_max_mib":605,"control_before_rss_first_half_max_mib":460,"control_before_rss_second_half_max_mib":520,"control_after_rss_first_half_max_mib":600,"control_after_rss_second_half_max_mib":620,"errors":0}' \
  >"$tmp/slow.jsonl"
/usr/bin/python3 "$1" "$tmp/summary.json" "$tmp/slow.jsonl" >"$tmp/table.md"
expect "the slow row with its cache-less RSS and controls" "| P5 | 1 subscriber at 1/10 of 5,000 appends/s for 60 s | RSS max 560 → 605 MiB (first → second half); less RocksDB's cache 380 → 430 MiB; without the subscriber, before 460 → 520 MiB, after 600 → 620 MiB |  |  |  | flat (second half ≤ first + 10%) | **yes** |"
printf '%s\n' '{"workload":"slow","seconds":60,"append_rate":5000,"rss_first_half_max_mib":500,"rss_second_half_max_mib":600,"errors":0}' \
  >"$tmp/slow.jsonl"
/usr/bin/python3 "$1" "$tmp/summary.json" "$tmp/slow.jsonl" >"$tmp/table.md"
expect "an older slow row, over the line" "| RSS max 500 → 600 MiB (first → second half) |  |  |  | flat (second half ≤ first + 10%) | **no** |"
[ "$failed" -eq 0 ] && echo "compare.py: all checks passed"
exit "$failed"
