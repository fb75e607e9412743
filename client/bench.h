// gridctl bench: the load generator behind bench/compare.sh.
//
//   gridctl bench [WORKLOAD...] [--quick] [--output table|json] [--server host:port]
//
// Workloads (all of them, in this order, when none is named):
//   append      durable appends of simulated events: one per call from --clients
//               threads (unary), --batch per call (batch), and --inflight calls
//               in flight on one thread (pipelined); events/s and call latency
//   fanout      --subscribers whole-log subscribers while appending at --rate;
//               delivered events/s, append->delivery latency, all delivered?
//   replay      the whole log read by one client, events/s
//   projection  GetProjection of one row, latest and at a random position
//   idle        server RSS with --subscriptions idle subscriptions open
//   slow        one subscriber reading 10x slower than --rate appends; server
//               RSS sampled every second
//   fill        (only when named) unmeasured batch appends, for big logs
//
// A lane is one simulated county, named by --run and its number (--lane is
// the first). `append --lane L --after N` continues lanes L... of an
// earlier `fill` with the same --run, each of which had N events: the
// lanes are generated again and what the fill appended is skipped.
//
// Events come from the domain simulator (domain/simulator.h): every lane is
// its own generated county, appended in order, so every event passes the
// domain rules as in production. Server RSS is read from /proc for a gridd
// on this machine (found by its listening port, or --pid).
#ifndef GRID_CLIENT_BENCH_H_
#define GRID_CLIENT_BENCH_H_

namespace grid::client {

// Runs `gridctl bench` with the arguments after "bench"; returns the exit
// status (0 ok, 1 a workload failed, 2 bad usage).
int RunBench(int argc, char** argv);

}  // namespace grid::client

#endif  // GRID_CLIENT_BENCH_H_
