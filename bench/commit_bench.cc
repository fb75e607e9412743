// What the pipelined writer buys as the disk's fsync gets slower: callers
// append one sanitation report per call through the Sequencer (group
// commit) into a real RocksDB event log under $TMPDIR, with the pipeline
// (group N+1 written while group N's fsync runs) and without it (each
// group written, synced and answered before the next). The WAL's fsyncs
// are made --sync_delay_ms slower by an Env that waits before each one, as
// a disk whose fsync takes that much longer would (this machine's fsync
// takes ~0.1 ms; a SATA SSD without power-loss protection or a network
// volume takes 1-10 ms). Only the writer is measured: no gRPC, no domain
// rules, no projector. One JSON object per delay and mode: appends/s, call
// p50/p99, groups and appends per fsync.
//
// usage: grid_commit_bench [--sync_delay_ms 0,1,4] [--threads 64] [--seconds 5]
#include <rocksdb/env.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "domain/events.h"
#include "server/log/sequencer.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace {

using grid::bench::Flag;
using grid::bench::Percentile;

// A file whose syncs take `delay` longer.
class SlowSyncFile : public rocksdb::WritableFileWrapper {
 public:
  SlowSyncFile(std::unique_ptr<rocksdb::WritableFile> base, absl::Duration delay)
      : rocksdb::WritableFileWrapper(base.get()), base_(std::move(base)), delay_(delay) {}
  rocksdb::Status Sync() override {
    absl::SleepFor(delay_);
    return rocksdb::WritableFileWrapper::Sync();
  }
  rocksdb::Status Fsync() override {
    absl::SleepFor(delay_);
    return rocksdb::WritableFileWrapper::Fsync();
  }

 private:
  std::unique_ptr<rocksdb::WritableFile> base_;
  const absl::Duration delay_;
};

// The real file system, with the WAL's syncs `delay` slower.
class SlowWalEnv : public rocksdb::EnvWrapper {
 public:
  explicit SlowWalEnv(absl::Duration delay) : rocksdb::EnvWrapper(rocksdb::Env::Default()), delay_(delay) {}
  const char* Name() const override { return "GridSlowWalEnv"; }
  rocksdb::Status NewWritableFile(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r,
                                  const rocksdb::EnvOptions& o) override {
    rocksdb::Status s = target()->NewWritableFile(f, r, o);
    if (s.ok() && delay_ > absl::ZeroDuration() && absl::EndsWith(f, ".log")) {
      *r = std::make_unique<SlowSyncFile>(std::move(*r), delay_);
    }
    return s;
  }

 private:
  const absl::Duration delay_;
};

struct Result {
  double appends_per_s = 0, p50_us = 0, p99_us = 0, appends_per_group = 0;
  uint64_t groups = 0;
  bool ok = true;
};

Result Run(const std::string& dir, absl::Duration delay, bool pipeline, int threads, absl::Duration length) {
  Result out;
  SlowWalEnv env(delay);
  grid::storage::EventLogOptions o;
  o.env = &env;
  auto opened = grid::storage::EventLog::Open(o, dir);
  if (!opened.ok()) {
    std::cerr << "grid_commit_bench: " << opened.status() << "\n";
    out.ok = false;
    return out;
  }
  std::unique_ptr<grid::storage::EventLog> log = *std::move(opened);
  grid::server::Sequencer::Options so;
  so.pipeline = pipeline;
  grid::server::Sequencer seq(log.get(), nullptr, so);
  seq.Start();
  const absl::Time start = absl::Now();
  const absl::Time stop = start + length;
  std::vector<std::vector<double>> micros(threads);
  std::atomic<bool> failed{false};
  std::vector<std::thread> callers;
  callers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      const std::string grid = absl::StrCat("bench/", pipeline ? "p" : "s", "/v/g", t);
      grid::Mutex mu;
      grid::CondVar cv;
      for (uint64_t n = 0; absl::Now() < stop && !failed.load(); ++n) {
        grid::storage::AppendBatch b;
        b.events.push_back(grid::domain::events::SanitationReport(absl::StrCat("r-", grid, "-", n), grid,
                                                                  "w-1", grid::v1::PATROL, 900, {}, start));
        b.stream = b.events.back().stream();
        bool done = false;
        const absl::Time t0 = absl::Now();
        seq.Submit(std::move(b), [&](const grid::storage::AppendOutcome& outcome) {
          if (!outcome.status.ok()) failed.store(true);
          grid::MutexLock l(&mu);
          done = true;
          cv.Signal();
        });
        grid::MutexLock l(&mu);
        while (!done) cv.Wait(&mu);
        micros[t].push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
      }
    });
  }
  for (auto& c : callers) c.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  seq.Stop();
  std::vector<double> all;
  for (const auto& m : micros) all.insert(all.end(), m.begin(), m.end());
  const auto stats = seq.GetStats();
  out.ok = !failed.load();
  out.appends_per_s = static_cast<double>(all.size()) / seconds;
  out.p50_us = Percentile(all, 0.5);
  out.p99_us = Percentile(all, 0.99);
  out.groups = stats.groups;
  out.appends_per_group = stats.groups == 0 ? 0 : static_cast<double>(stats.batches) / stats.groups;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> delays;
  for (absl::string_view s : absl::StrSplit(Flag(argc, argv, "sync_delay_ms", "0,1,4"), ',')) {
    int ms = 0;
    if (!absl::SimpleAtoi(s, &ms) || ms < 0) {
      std::cerr << "grid_commit_bench: --sync_delay_ms is a list of numbers\n";
      return 2;
    }
    delays.push_back(ms);
  }
  int threads = 64;
  double seconds = 5;
  if (!absl::SimpleAtoi(Flag(argc, argv, "threads", "64"), &threads) || threads < 1 ||
      !absl::SimpleAtod(Flag(argc, argv, "seconds", "5"), &seconds) || seconds <= 0) {
    std::cerr << "grid_commit_bench: --threads and --seconds are positive numbers\n";
    return 2;
  }
  const std::string dir = grid::bench::MakeTempDir("grid_commit_bench");
  if (dir.empty()) return 1;
  int rc = 0;
  int run = 0;
  for (const int ms : delays) {
    for (const bool pipeline : {false, true}) {
      const Result r = Run(absl::StrCat(dir, "/log", run++), absl::Milliseconds(ms), pipeline, threads,
                           absl::Seconds(seconds));
      if (!r.ok) {
        rc = 1;
        break;
      }
      std::printf(
          "{\"workload\":\"commit\",\"sync_delay_ms\":%d,\"pipeline\":%s,\"threads\":%d,\"appends_per_s\":%."
          "0f,"
          "\"call_p50_us\":%.0f,\"call_p99_us\":%.0f,\"groups\":%llu,\"appends_per_group\":%.1f}\n",
          ms, pipeline ? "true" : "false", threads, r.appends_per_s, r.p50_us, r.p99_us,
          static_cast<unsigned long long>(r.groups), r.appends_per_group);
      std::fflush(stdout);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return rc;
}
