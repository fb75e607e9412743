// gridd's Prometheus metrics (prometheus-cpp), served on their own port by
// the HTTP endpoint (http_endpoint.h) as /metrics.
//
// Two kinds: counters and histograms updated where things happen (RPCs,
// appends, commit groups) and kept in a prometheus::Registry; and gauges
// sampled at scrape time from the running server (log head, queue depth,
// subscribers' lag, projections, RocksDB sizes, the process), built by
// GridServer::CollectMetrics(). No metric carries a label derived from event
// contents: labels are method names, status codes, projection names and
// database names.
//
// Concurrency: every method is safe to call from any thread.
#ifndef GRID_SERVER_OPS_METRICS_H_
#define GRID_SERVER_OPS_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace grid::server {

class ServerMetrics {
 public:
  ServerMetrics();

  // A finished RPC: `code` is its gRPC status code. Unary RPCs' durations go
  // into a histogram (a stream's lifetime says nothing about latency).
  void RpcDone(const std::string& method, int code, bool unary, absl::Duration elapsed);
  // An Append that committed `events` events.
  void AppendCommitted(size_t events);
  // The sequencer wrote a commit group (write + fsync took `commit`).
  void CommitGroup(absl::Duration commit, size_t batches, size_t events);
  // A live subscriber fell out of the in-memory tail and went back to disk.
  void SubscriberFellBehind();
  // Cluster mode: the writer's etcd transaction for one commit group took
  // `took` (the outcome settled, read back if it was unknown).
  void EtcdCommit(absl::Duration took);

  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Counter& append_events_;
  prometheus::Histogram& append_batch_events_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Histogram& commit_group_batches_;
  prometheus::Counter& fell_behind_;
  prometheus::Histogram& etcd_commit_seconds_;
};

// Scrape-time families.
prometheus::MetricFamily GaugeFamily(std::string name, std::string help);
prometheus::MetricFamily CounterFamily(std::string name, std::string help);
void AddSample(prometheus::MetricFamily* family, double value,
               std::vector<prometheus::ClientMetric::Label> labels = {});
// process_resident_memory_bytes, process_open_fds, process_cpu_seconds_total,
// process_start_time_seconds (from /proc/self).
std::vector<prometheus::MetricFamily> ProcessMetrics();
// Prometheus' text exposition format, version 0.0.4.
std::string ToPrometheusText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace grid::server

#endif  // GRID_SERVER_OPS_METRICS_H_
