// The raw etcd baseline of cluster mode: what a shard's writer asks of etcd
// for each commit group, and nothing else. One writer commits batches of
// --batch records of --record_bytes each after the shard's head, each as one
// fenced transaction (ShardLog::Commit: compare the head's revision, put the
// head and the batch), one after another as gridd's sequencer does, for
// --seconds (records of random bytes, which do not compress); it prints
// commits and records per second and the latency of a commit (p50, p99),
// as one JSON object. Its shard's keys are deleted at the end.
// bench/cluster.sh runs it beside gridd in the same run.
//
// usage: grid_etcd_bench --etcd HOST:PORT[,...] [--batch 100] [--record_bytes 520]
//                        [--seconds 10] [--shard bench-<random>]
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "server/cluster/etcd_client.h"
#include "server/cluster/shard_log.h"

using grid::bench::Flag;
using grid::bench::Percentile;

int main(int argc, char** argv) {
  using grid::server::EtcdClient;
  using grid::server::ShardLog;
  const std::string endpoints = Flag(argc, argv, "etcd", "");
  if (endpoints.empty()) {
    std::cerr
        << "usage: grid_etcd_bench --etcd HOST:PORT[,...] [--batch N] [--record_bytes B] [--seconds S]\n";
    return 2;
  }
  const int batch = std::stoi(Flag(argc, argv, "batch", "100"));
  const size_t record_bytes = std::stoul(Flag(argc, argv, "record_bytes", "520"));
  const double seconds = std::stod(Flag(argc, argv, "seconds", "10"));
  std::random_device rd;
  const std::string shard = Flag(argc, argv, "shard", absl::StrCat("bench-", rd() % 1000000));

  auto etcd = EtcdClient::Create({.endpoints = absl::StrSplit(endpoints, ',')});
  if (!etcd.ok()) {
    std::cerr << etcd.status() << "\n";
    return 1;
  }
  auto log = ShardLog::Open(etcd->get(), shard);
  if (!log.ok()) {
    std::cerr << log.status() << "\n";
    return 1;
  }
  auto at = log->ReadHead();
  if (!at.ok()) {
    std::cerr << at.status() << "\n";
    return 1;
  }
  // Records of noise: EncodeBatch cannot compress them, so etcd carries
  // every byte (gridd's batches of real events reach it compressed).
  std::mt19937_64 noise(42);
  std::vector<std::string> records(static_cast<size_t>(batch));
  for (std::string& r : records) {
    r.resize(record_bytes);
    for (char& c : r) c = static_cast<char>(noise());
  }
  std::vector<double> latency_ms;
  uint64_t commits = 0;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  while (absl::Now() < end) {
    grid::cluster::v1::Batch b;
    b.set_first_position(at->head.position() + 1);
    b.set_batch_id(absl::StrCat("bench/", commits));
    b.set_writer_epoch(1);
    for (const std::string& r : records) b.add_records(r);
    b.set_chain(std::string(32, 'c'));
    ShardLog::HeadAt next;
    const absl::Time t0 = absl::Now();
    auto outcome = log->Commit(*at, b, &next);
    latency_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!outcome.ok() || *outcome != ShardLog::Outcome::kCommitted) {
      std::cerr << "commit failed: " << (outcome.ok() ? "lost its place" : outcome.status().ToString())
                << "\n";
      return 1;
    }
    *at = next;
    ++commits;
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  // Leave etcd as it was: delete the bench shard's keys.
  (void)(*etcd)->DeleteRange(absl::StrCat("gl/", shard, "/"), absl::StrCat("gl/", shard, "0"));
  std::printf(
      "{\"workload\":\"etcd_commit\",\"batch\":%d,\"record_bytes\":%zu,\"commits\":%llu,\"seconds\":%.2f,"
      "\"commits_per_s\":%.0f,\"records_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
      batch, record_bytes, static_cast<unsigned long long>(commits), elapsed,
      static_cast<double>(commits) / elapsed, static_cast<double>(commits) * batch / elapsed,
      Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.99));
  return 0;
}
