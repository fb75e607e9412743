#include "server/ops/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <prometheus/text_serializer.h>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace grid::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Seconds, from 100 µs (a read served from memory) to 10 s (a stalled disk).
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
}

Histogram::BucketBoundaries CountBuckets() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpcs_(BuildCounter()
                .Name("gridlog_rpcs_total")
                .Help("Finished gRPC calls by method and status code")
                .Register(*registry_)),
      rpc_seconds_(BuildHistogram()
                       .Name("gridlog_rpc_duration_seconds")
                       .Help("Duration of unary gRPC calls, from arrival to status sent")
                       .Register(*registry_)),
      append_events_(BuildCounter()
                         .Name("gridlog_append_events_total")
                         .Help("Events committed by Append")
                         .Register(*registry_)
                         .Add({})),
      append_batch_events_(BuildHistogram()
                               .Name("gridlog_append_batch_events")
                               .Help("Events per committed Append request")
                               .Register(*registry_)
                               .Add({}, CountBuckets())),
      commit_seconds_(BuildHistogram()
                          .Name("gridlog_commit_duration_seconds")
                          .Help("Time to write and fsync one commit group")
                          .Register(*registry_)
                          .Add({}, LatencyBuckets())),
      commit_group_batches_(BuildHistogram()
                                .Name("gridlog_commit_group_batches")
                                .Help("Append requests per commit group (one fsync)")
                                .Register(*registry_)
                                .Add({}, CountBuckets())),
      fell_behind_(BuildCounter()
                       .Name("gridlog_subscriber_fell_behind_total")
                       .Help("Times a live subscriber fell out of the in-memory tail "
                             "and went back to reading the log from disk")
                       .Register(*registry_)
                       .Add({})),
      etcd_commit_seconds_(BuildHistogram()
                               .Name("gridlog_cluster_etcd_commit_seconds")
                               .Help("Cluster mode: the writer's etcd transaction per commit group, until "
                                     "its outcome was known")
                               .Register(*registry_)
                               .Add({}, LatencyBuckets())) {}

void ServerMetrics::EtcdCommit(absl::Duration took) {
  etcd_commit_seconds_.Observe(absl::ToDoubleSeconds(took));
}

void ServerMetrics::RpcDone(const std::string& method, int code, bool unary, absl::Duration elapsed) {
  const std::string code_name(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  rpcs_.Add({{"method", method}, {"code", code_name}}).Increment();
  if (unary) {
    rpc_seconds_.Add({{"method", method}}, LatencyBuckets()).Observe(absl::ToDoubleSeconds(elapsed));
  }
}

void ServerMetrics::AppendCommitted(size_t events) {
  append_events_.Increment(static_cast<double>(events));
  append_batch_events_.Observe(static_cast<double>(events));
}

void ServerMetrics::CommitGroup(absl::Duration commit, size_t batches, size_t events) {
  commit_seconds_.Observe(absl::ToDoubleSeconds(commit));
  commit_group_batches_.Observe(static_cast<double>(batches));
}

void ServerMetrics::SubscriberFellBehind() { fell_behind_.Increment(); }

std::vector<prometheus::MetricFamily> ServerMetrics::Collect() const { return registry_->Collect(); }

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  prometheus::MetricFamily f = GaugeFamily(std::move(name), std::move(help));
  f.type = prometheus::MetricType::Counter;
  return f;
}

void AddSample(prometheus::MetricFamily* family, double value,
               std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family->metric.push_back(std::move(m));
}

std::vector<prometheus::MetricFamily> ProcessMetrics() {
  std::vector<prometheus::MetricFamily> out;
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  {
    std::ifstream statm("/proc/self/statm");
    double size = 0, resident = 0;
    if (statm >> size >> resident) {
      auto f = GaugeFamily("process_resident_memory_bytes", "Resident set size in bytes");
      AddSample(&f, resident * page);
      out.push_back(std::move(f));
    }
  }
  if (DIR* d = opendir("/proc/self/fd"); d != nullptr) {
    double fds = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    closedir(d);
    auto f = GaugeFamily("process_open_fds", "Open file descriptors");
    AddSample(&f, fds - 1);  // less the one listing them
    out.push_back(std::move(f));
  }
  {
    // /proc/self/stat: fields after the parenthesized command name; utime
    // and stime are fields 14 and 15, starttime 22 (in ticks since boot).
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close != std::string::npos) {
      std::vector<std::string> fields = absl::StrSplit(text.substr(close + 2), ' ', absl::SkipEmpty());
      double utime = 0, stime = 0, start = 0;
      if (fields.size() > 19 && absl::SimpleAtod(fields[11], &utime) &&
          absl::SimpleAtod(fields[12], &stime) && absl::SimpleAtod(fields[19], &start)) {
        auto cpu = CounterFamily("process_cpu_seconds_total", "User and system CPU time");
        AddSample(&cpu, (utime + stime) / ticks);
        out.push_back(std::move(cpu));
        std::ifstream uptime_file("/proc/uptime");
        double uptime = 0;
        if (uptime_file >> uptime) {
          const double boot = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()) - uptime;
          auto f = GaugeFamily("process_start_time_seconds", "Start time, Unix seconds");
          AddSample(&f, boot + start / ticks);
          out.push_back(std::move(f));
        }
      }
    }
  }
  return out;
}

std::string ToPrometheusText(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace grid::server
