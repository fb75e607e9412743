"""Joins the peers' summary.json with gridlog's bench results into one table.

usage: compare.py PEERS_SUMMARY_JSON GRIDLOG_JSONL [--quick] [--commit SHA]
                  [--previous DIR] [--scale SCALE_JSONL] [--plots DIR]

Every target of the performance issue is a row: gridlog's figure, the peer's
from the same run, the ratio, the goal and whether it is met. Rows whose
inputs are missing say so instead of guessing. --commit names the code the
run measured; --previous DIR (a run kept by `compare.sh --record`: its
peers.json, gridlog.jsonl and commit) adds that run's ratio or figure to
each row, so a change shows as a change.

--scale: the rows of compare.sh's second log, measured at growing sizes
(each size starts with an `append --mode unary` row); they give the restart,
the big replay and the projection targets, and a table by log size.
--plots DIR: draws the curves (by log size, fan-out by subscribers) as PNGs
with gnuplot.
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def load_rows(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                runs.append(json.loads(line))
    return runs


def load(peers_path, gridlog_path):
    with open(peers_path) as f:
        peers = {(r["system"], r["workload"]): r for r in json.load(f)}
    return peers, load_rows(gridlog_path)


def ours(runs, workload, nth=-1, **match):
    """The nth (default: last) result of `workload` whose fields equal `match`."""
    found = [r for r in runs
             if r.get("workload") == workload and all(r.get(k) == v for k, v in match.items())]
    return found[nth] if found and -len(found) <= nth < len(found) else None


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    if abs(v) >= 10 or v == int(v):
        return f"{v:.0f}{unit}"
    return f"{v:.2f}{unit}"


def flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    peers, runs = load(argv[1], argv[2])
    quick = "--quick" in argv
    commit = flag(argv, "--commit")
    previous = flag(argv, "--previous")
    scale_path = flag(argv, "--scale")
    scale = load_rows(scale_path) if scale_path else None
    rows = build_rows(peers, runs, scale)
    before, before_commit = None, None
    if previous and os.path.exists(os.path.join(previous, "gridlog.jsonl")):
        p_peers, p_runs = load(os.path.join(previous, "peers.json"), os.path.join(previous, "gridlog.jsonl"))
        p_scale_path = os.path.join(previous, "scale.jsonl")
        p_scale = load_rows(p_scale_path) if os.path.exists(p_scale_path) else None
        before = {}
        for key, row in keyed(build_rows(p_peers, p_runs, p_scale)):
            # the ratio where there is one, else gridlog's figure
            before[key] = row[5] if row[5] not in ("", "—") else row[2]
        commit_file = os.path.join(previous, "commit")
        if os.path.exists(commit_file):
            with open(commit_file) as f:
                before_commit = f.read().strip()

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## gridlog vs peers: {'quick' if quick else 'full'} run, {os.cpu_count()} CPUs, "
          f"{platform.system()} {platform.release()}, {when}" + (f", main at `{commit}`" if commit else "") + "\n")
    head = "| target | gridlog workload | gridlog | peer (same run) | peer | ratio | goal | met? |"
    rule = "|---|---|---:|---|---:|---:|---|---|"
    if before is not None:
        head += f" last recorded{f' (`{before_commit}`)' if before_commit else ''} |"
        rule += "---:|"
    print(head)
    print(rule)
    for key, (target, what, mine, peer_name, peer_value, ratio, goal, met) in keyed(rows):
        verdict = "—" if met is None else ("**yes**" if met else "**no**")
        line = f"| {target} | {what} | {mine} | {peer_name} | {peer_value} | {ratio} | {goal} | {verdict} |"
        if before is not None:
            line += f" {before.get(key, '—')} |"
        print(line)
    batch = ours(runs, "append", mode="batch")
    unary = ours(runs, "append", mode="unary")
    replay = ours(runs, "replay", nth=0)
    get = lambda r, k: r.get(k) if r else None  # noqa: E731
    if batch:
        print(f"\nEvents: simulated grid events with photo references, {fmt(batch['event_bytes'])} bytes "
              f"(batch), {fmt(get(unary, 'event_bytes'))} bytes (mixed, one per call) as sent; "
              f"{fmt(get(replay, 'stored_event_bytes'))} bytes stored with the server's fields and chain. "
              "Peers use 512-byte events. Every gridlog append passed the domain rules and was folded "
              "into every projection (15).")
    if scale:
        print_scale(scale)
    print_fanout(runs)
    plots = flag(argv, "--plots")
    if plots:
        draw(scale or [], runs, plots)
    if quick:
        print("\nQuick run: small counts and short runs; a smoke test, not a measurement.")
    return 0


def points(scale):
    """The scale rows by log size: a list of dicts workload/mode -> row, one
    per size, each started by its `append --mode unary` row (the fill and
    restart before it belong to it)."""
    out, carried = [], {}
    for r in scale:
        name = r["workload"] + ("/" + r["mode"] if r.get("mode") else "")
        if name == "append/unary":
            out.append(carried)
            carried = {}
        if r["workload"] in ("fill", "restart"):  # how the next size was reached
            carried[name] = r
        elif out:
            out[-1].setdefault(name, r)
    return out


def print_scale(scale):
    pts = points(scale)
    if not pts:
        return
    print("\n### By log size (a second log; after each fill gridd restarts, so admission starts cold)\n")
    print("| log events | households filled | append, 1/call, 64 callers | p99 | append, 100/call, 8 callers | p99 "
          "| household appends, 8 callers | p99 | restart | replay | point-in-time GetProjection p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    households = 0
    for p in pts:
        u, b, h = p.get("append/unary", {}), p.get("append/batch", {}), p.get("append/households", {})
        rs, rp, pr = p.get("restart"), p.get("replay"), p.get("projection")
        households += p.get("fill", {}).get("households", 0)
        print(f"| {fmt(u.get('log_events'))} | {fmt(households) if 'fill' in p else '—'} "
              f"| {fmt(u.get('events_per_s'), '/s')} "
              f"| {ms(u.get('call_p99_us'))} | {fmt(b.get('events_per_s'), '/s')} | {ms(b.get('call_p99_us'))} "
              f"| {fmt(h.get('calls_per_s'), ' calls/s')} | {ms(h.get('call_p99_us'))} "
              f"| {restart_text(rs)} | {fmt(rp.get('events_per_s') if rp else None, '/s')} "
              f"| {ms(pr.get('at_position_p99_us') if pr else None)} |")
    first, last = pts[0], pts[-1]
    if len(pts) > 1:
        for mode, what, rate in (("unary", "1 event/call", "events_per_s"),
                                 ("batch", "100 events/call", "events_per_s"),
                                 ("households", "one household per call (calls/s)", "calls_per_s")):
            a = first.get(f"append/{mode}", {}).get(rate)
            z = last.get(f"append/{mode}", {}).get(rate)
            n = last.get(f"append/{mode}", {}).get("log_events")
            if a and z:
                r = z / a
                verdict = "**yes**" if r >= 0.9 else "**no**"
                print(f"\nAppend, {what}, at {fmt(n)} events: {r:.2f}× its rate on an empty log "
                      f"(goal ≥ 0.9×): {verdict}", end="")
        print()
    batch = last.get("append/batch", {})
    if batch.get("lanes_continued"):
        print(f"\nThe batch and household rows after a fill continue the fill's last "
              f"{fmt(batch['lanes_continued'])} counties (their grids' streams; changes to households "
              "registered during the fill, each read cold by the admission); on the empty log they are "
              "new counties (the household rows after each county's first events, appended untimed), "
              "whose states are still in the admission's cache: the ratios are what the log's size and "
              "a cold cache cost together. The unary rows are new counties at every size.")


def restart_text(row):
    return "—" if row is None else f"{row['seconds']:.2f} s"


def print_fanout(runs):
    fans = sorted((r for r in runs if r.get("workload") == "fanout"), key=lambda r: r["subscribers"])
    if len(fans) < 2:
        return
    print("\n### Fan-out by subscribers (whole-log subscriptions while one client appends)\n")
    print("| subscribers | appends/s | delivered/s | every event to every subscriber | p50 | p99 |")
    print("|---:|---:|---:|---|---:|---:|")
    for f in fans:
        print(f"| {fmt(f['subscribers'])} | {fmt(f.get('append_rate'), '/s')} | {fmt(f.get('delivered_per_s'), '/s')} "
              f"| {fmt(f.get('all_delivered'))} | {ms(f.get('delivery_p50_us'))} | {ms(f.get('delivery_p99_us'))} |")


def ms(us):
    return "—" if us is None else f"{us / 1000:.2f} ms"


def gnuplot(script, png):
    subprocess.run(["gnuplot"], input=f"set terminal pngcairo size 900,520 font ',11'\nset output '{png}'\n"
                   + script, text=True, check=True)


def datablock(name, rows):
    return f"${name} << EOD\n" + "".join(" ".join(str(v) for v in r) + "\n" for r in rows) + "EOD\n"


# A rate on the left axis and a latency on the right, both from zero.
TWO_AXES = """set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key outside bottom center horizontal
set grid
"""


def draw(scale, runs, outdir):
    """scale-append.png, scale-read.png (by log size), fanout.png (by
    subscribers): whichever has at least two points."""
    os.makedirs(outdir, exist_ok=True)
    pts = [p for p in points(scale) if "append/unary" in p]
    if len(pts) >= 2:
        data = [(p["append/unary"]["log_events"] / 1e6,
                 p["append/unary"].get("events_per_s", 0), p["append/unary"].get("call_p99_us", 0) / 1000,
                 p.get("append/batch", {}).get("events_per_s", 0),
                 p.get("append/batch", {}).get("call_p99_us", 0) / 1000,
                 p.get("append/households", {}).get("calls_per_s", 0),
                 p.get("append/households", {}).get("call_p99_us", 0) / 1000) for p in pts]
        gnuplot(datablock("d", data) + """
set title 'Appends by log size (cold admission cache after each fill)'
set xlabel 'events in the log (millions)'
set ylabel 'events/s'
set y2label 'call p99 (ms)'
""" + TWO_AXES + """plot $d using 1:4 with linespoints lw 2 title '100 events/call, 8 callers', \
     $d using 1:2 with linespoints lw 2 title '1 event/call, 64 callers', \
     $d using 1:6 with linespoints lw 2 title 'households, calls/s, 8 callers', \
     $d using 1:5 axes x1y2 with linespoints dt 2 title 'p99, 100/call', \
     $d using 1:3 axes x1y2 with linespoints dt 2 title 'p99, 1/call', \
     $d using 1:7 axes x1y2 with linespoints dt 2 title 'p99, households'
""", os.path.join(outdir, "scale-append.png"))
        data = [(p["append/unary"]["log_events"] / 1e6,
                 p.get("replay", {}).get("events_per_s", 0),
                 p.get("projection", {}).get("at_position_p99_us", 0) / 1000) for p in pts]
        gnuplot(datablock("d", data) + """
set title 'Reads by log size'
set xlabel 'events in the log (millions)'
set ylabel 'replay, events/s'
set y2label 'point-in-time GetProjection p99 (ms)'
""" + TWO_AXES + """plot $d using 1:2 with linespoints lw 2 title 'replay (Read, 1,000 events/message)', \
     $d using 1:3 axes x1y2 with linespoints dt 2 title 'GetProjection at a position, p99'
""", os.path.join(outdir, "scale-read.png"))
    fans = sorted((r for r in runs if r.get("workload") == "fanout"), key=lambda r: r["subscribers"])
    if len(fans) >= 2:
        data = [(f["subscribers"], f.get("delivered_per_s", 0), f.get("delivery_p99_us", 0) / 1000) for f in fans]
        gnuplot(datablock("d", data) + f"""
set title 'Fan-out by live subscribers (appending at up to {fmt(fans[0].get('target_rate'))}/s)'
set xlabel 'subscribers'
set logscale x
set ylabel 'events delivered/s'
set y2label 'append-to-delivery p99 (ms)'
set logscale y2
set ytics nomirror
set y2tics
set yrange [0:*]
set key outside bottom center horizontal
set grid
plot $d using 1:2 with linespoints lw 2 title 'delivered/s (all subscribers)', \
     $d using 1:3 axes x1y2 with linespoints dt 2 title 'p99 append to delivery'
""", os.path.join(outdir, "fanout.png"))


def keyed(rows):
    """Each row with a key that finds the same row in another run: its
    target, peer and goal, and how many rows before it had those."""
    seen = {}
    for row in rows:
        base = (row[0], row[3], row[6])
        seen[base] = seen.get(base, 0) + 1
        yield base + (seen[base],), row


def build_rows(peers, runs, scale=None):
    """`scale`, when given, has the restart, the big replay and the
    projection read (at its largest log); without it (runs recorded before
    the curves) they are the second replay and the last rows in `runs`."""
    rows = []

    def peer(system, workload):
        r = peers.get((system, workload))
        return r["ops_per_s"] if r and r.get("ops_per_s") else None

    def ratio_row(target, what, mine, system, workload, goal):
        p = peer(system, workload)
        ratio = mine / p if mine is not None and p else None
        met = None if ratio is None else ratio >= goal
        rows.append((target, what, fmt(mine, "/s"), f"{system}: {workload}", fmt(p, "/s"),
                     fmt(ratio, "×") if ratio is not None else "—", f"≥ {goal}×", met))

    def limit_row(target, what, mine, goal_text, met, context="", context_value=None):
        rows.append((target, what, mine, context, fmt(context_value, "/s") if context_value else "",
                     "", goal_text, met))

    batch = ours(runs, "append", mode="batch")
    unary = ours(runs, "append", mode="unary")
    piped = ours(runs, "append", mode="pipelined")
    get = lambda r, k: r.get(k) if r else None  # noqa: E731

    ratio_row("P1", "append, 100 events/call, 8 callers, durable", get(batch, "events_per_s"),
              "RocksDB", "fillseq sync=1, WriteBatch of 100 (p50/p99 per batch)", 0.7)
    ratio_row("P1", "(same)", get(batch, "events_per_s"),
              "NATS JetStream", "R1 file, async publish, 256 in flight", 1.0)
    ratio_row("P1", "(same)", get(batch, "events_per_s"),
              "Redis Streams", "XADD, appendfsync always, 50 clients x pipeline 16", 1.0)
    ratio_row("P2", "append, 1 event/call, 64 callers, durable", get(unary, "events_per_s"),
              "gRPC", "unary echo 512 B, 64 callers, 1 channel", 0.8)
    ratio_row("P2", "(same)", get(unary, "events_per_s"),
              "NATS JetStream", "R1 file, sync publish, 32 publishers", 1.0)
    ratio_row("—", "append, 1 event/call, 256 in flight (pipelined)", get(piped, "events_per_s"),
              "NATS JetStream", "R1 file, async publish, 256 in flight", 1.0)
    replay = ours(runs, "replay", nth=0)
    ratio_row("P3", f"replay of {fmt(get(replay, 'events'))} events, 1 client", get(replay, "events_per_s"),
              "RocksDB", "readseq (iterator over all keys, warm cache)", 0.8)
    ratio_row("P3", "(same)", get(replay, "events_per_s"),
              "NATS JetStream", "R1 file, replay with ordered push consumer", 4.0)
    big_replay = ours(scale, "replay") if scale else ours(runs, "replay", nth=1)
    if big_replay:
        ratio_row("—", f"replay of {fmt(big_replay['events'])} events (after the fill), 1 client",
                  big_replay["events_per_s"], "RocksDB", "readseq (iterator over all keys, warm cache)", 0.8)

    fan = ours(runs, "fanout", nth=0)  # the first: the target's; then the curve's
    if fan:
        p99 = fan["delivery_p99_us"] / 1000
        ok = fan["all_delivered"] and p99 <= 10
        limit_row("P4", f"{fan['subscribers']} subscribers at {fmt(fan['target_rate'])} appends/s",
                  f"all delivered: {fmt(fan['all_delivered'])}, p99 {p99:.1f} ms, "
                  f"{fmt(fan['delivered_per_s'])} events/s delivered",
                  "every event to every subscriber, p99 ≤ 10 ms", ok,
                  "gRPC: server streaming, 1 event/message, 64 streams",
                  peer("gRPC", "server streaming, 1 event/message, 64 streams"))
    else:
        limit_row("P4", "fanout", "—", "not run", None)
    idle = ours(runs, "idle")
    if idle:
        per_1000 = idle["rss_added_mib"] * 1000 / max(1, idle["subscriptions"])
        limit_row("P5", f"{idle['subscriptions']} idle subscriptions",
                  f"+{fmt(idle['rss_added_mib'])} MiB RSS ({fmt(per_1000)} MiB per 1,000)",
                  "≤ 100 MB per 1,000", per_1000 <= 100 * 1e6 / 2**20)
    slow = ours(runs, "slow")
    if slow:
        figure = (f"RSS max {fmt(slow['rss_first_half_max_mib'])} → {fmt(slow['rss_second_half_max_mib'])} MiB "
                  f"(first → second half)")
        if "rss_beyond_cache_first_half_max_mib" in slow:
            # Shown, not judged: RocksDB's shared cache grows towards
            # storage_cache_bytes with the log, subscriber or not, but so do
            # gridd's other bounded caches, which this does not take out.
            figure += (f"; less RocksDB's cache {fmt(slow['rss_beyond_cache_first_half_max_mib'])} → "
                       f"{fmt(slow['rss_beyond_cache_second_half_max_mib'])} MiB")
        if "control_before_rss_first_half_max_mib" in slow:
            # The same load without the subscriber, just before and just
            # after: what the RSS does anyway. Shown, not judged.
            figure += (f"; without the subscriber, before {fmt(slow['control_before_rss_first_half_max_mib'])} → "
                       f"{fmt(slow['control_before_rss_second_half_max_mib'])} MiB, after "
                       f"{fmt(slow['control_after_rss_first_half_max_mib'])} → "
                       f"{fmt(slow['control_after_rss_second_half_max_mib'])} MiB")
        flat = slow["rss_second_half_max_mib"] <= slow["rss_first_half_max_mib"] * 1.1
        limit_row("P5", f"1 subscriber at 1/10 of {fmt(slow['append_rate'])} appends/s for {fmt(slow['seconds'])} s",
                  figure, "flat (second half ≤ first + 10%)", flat)
    restart = ours(scale or runs, "restart")
    if restart:
        big = restart["events"] >= 10_000_000
        limit_row("P6", f"restart of a {fmt(restart['events'])}-event log, until serving",
                  f"{restart['seconds']:.2f} s", "≤ 2 s at 10M events",
                  restart["seconds"] <= 2 if big else None)
    proj = ours(scale or runs, "projection")
    if proj:
        p99 = proj["at_position_p99_us"] / 1000
        limit_row("P6", f"point-in-time GetProjection of one row ({fmt(proj['log_position'])}-event log)",
                  f"p50 {proj['at_position_p50_us'] / 1000:.2f} ms, p99 {p99:.2f} ms", "≤ 10 ms", p99 <= 10)
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv))
