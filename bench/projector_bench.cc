// What folding one event into the projections costs: a simulated county
// (the whole mix of domain/simulator.h: reports with two photo references,
// incidents, households, ledgers, forms, assessments) is committed to a
// real RocksDB event log, then a Projector folds it from position 1 into a
// fresh ProjectionStore (with a block cache of its own, not gridd's shared
// budget), as a new server or a rebuild does, with runs of --batch_events
// events (1,000 is gridd's catch-up run; a live projector's runs are what
// one commit group adds, tens of events). One JSON object per run size:
// wall time and the process's CPU time (the projector thread and RocksDB's
// flushes and compactions) per event, for every projection together (a
// profile says which fold costs what: the store's write is one for all of
// them); then, per projection, the row versions it wrote per event.
//
// The log and the store are in a temporary directory under $TMPDIR (the
// same kind of disk as gridd's data in bench/compare.sh), deleted at the end.
//
// usage: grid_projector_bench [--days 60] [--towns 4] [--batch_events 1000,64]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "domain/projections.h"
#include "domain/simulator.h"
#include "server/projections/projector.h"
#include "storage/event_log.h"
#include "storage/projection_store.h"

namespace {

using grid::bench::Flag;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Commits the simulated county to `log`, 64 batches per group; the events
// committed.
uint64_t Fill(grid::storage::EventLog* log, int days, int towns) {
  grid::domain::SimulatorOptions o;
  o.days = days;
  o.towns = towns;
  o.photos_per_report = 2;
  std::vector<grid::storage::AppendBatch> group;
  uint64_t events = 0;
  bool ok = true;
  auto commit = [&] {
    std::vector<grid::storage::AppendBatch*> ptrs;
    ptrs.reserve(group.size());
    for (auto& b : group) ptrs.push_back(&b);
    const auto result = log->Commit(absl::MakeSpan(ptrs), absl::Now(), nullptr);
    for (const auto& out : result.outcomes) {
      if (!out.status.ok()) {
        std::cerr << "grid_projector_bench: " << out.status << "\n";
        ok = false;
      }
      events += out.events.size();
    }
    group.clear();
  };
  grid::domain::Simulate(o, [&](grid::domain::SimBatch&& b) {
    grid::storage::AppendBatch batch;
    batch.stream = std::move(b.stream);
    batch.events = std::move(b.events);
    group.push_back(std::move(batch));
    if (group.size() == 64) commit();
    return ok;
  });
  if (!group.empty() && ok) commit();
  return ok ? events : 0;
}

// Waits until every one of `names` has folded `head`; false, saying why,
// once one has failed or after 10 minutes.
bool AwaitAll(grid::server::Projector* p, const std::vector<std::string>& names, uint64_t head) {
  const absl::Time deadline = absl::Now() + absl::Minutes(10);
  for (const auto& n : names) {
    while (!p->AwaitPosition(n, head, std::min(deadline, absl::Now() + absl::Seconds(1)))) {
      for (const auto& info : p->List()) {
        if (info.state.starts_with("failed")) {
          std::cerr << "grid_projector_bench: " << info.name << " " << info.state << "\n";
          return false;
        }
      }
      if (absl::Now() >= deadline) {
        std::cerr << "grid_projector_bench: " << n << " did not reach the head in 10 minutes\n";
        return false;
      }
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int days = 0, towns = 0;
  std::vector<size_t> runs;
  for (absl::string_view s : absl::StrSplit(Flag(argc, argv, "batch_events", "1000,64"), ',')) {
    size_t n = 0;
    if (!absl::SimpleAtoi(s, &n) || n == 0) {
      std::cerr << "grid_projector_bench: --batch_events is a list of positive numbers\n";
      return 2;
    }
    runs.push_back(n);
  }
  if (!absl::SimpleAtoi(Flag(argc, argv, "days", "60"), &days) || days < 1 ||
      !absl::SimpleAtoi(Flag(argc, argv, "towns", "4"), &towns) || towns < 1) {
    std::cerr << "usage: grid_projector_bench [--days N] [--towns N] [--batch_events N,...]\n";
    return 2;
  }
  const std::string dir = grid::bench::MakeTempDir("grid_projector_bench");
  if (dir.empty()) return 1;
  int rc = 1;
  if (auto opened = grid::storage::EventLog::Open(grid::storage::EventLogOptions(), dir + "/log");
      !opened.ok()) {
    std::cerr << "grid_projector_bench: " << opened.status() << "\n";
  } else {
    std::unique_ptr<grid::storage::EventLog> log = *std::move(opened);
    const uint64_t events = Fill(log.get(), days, towns);
    const uint64_t head = log->GetHead().position;
    std::vector<std::string> names;
    for (const auto& def : grid::domain::AllProjections()) names.push_back(def.name);
    rc = events > 0 ? 0 : 1;
    for (size_t ri = 0; ri < runs.size() && rc == 0; ++ri) {
      rc = 1;  // until this run size is reported whole
      auto store = grid::storage::ProjectionStore::Open(absl::StrCat(dir, "/projections-", ri));
      if (!store.ok()) {
        std::cerr << "grid_projector_bench: " << store.status() << "\n";
        break;
      }
      grid::server::Projector::Options o;
      o.batch_events = runs[ri];
      grid::server::Projector projector(log.get(), store->get(), o);
      const double cpu0 = CpuSeconds();
      const absl::Time t0 = absl::Now();
      if (absl::Status started = projector.Start(); !started.ok()) {
        std::cerr << "grid_projector_bench: " << started << "\n";
        break;
      }
      if (!AwaitAll(&projector, names, head)) break;
      const absl::Duration wall = absl::Now() - t0;
      const double cpu = CpuSeconds() - cpu0;
      std::printf(
          "{\"workload\":\"projector\",\"projections\":%zu,\"batch_events\":%zu,\"events\":%llu,"
          "\"wall_us_per_event\":%.2f,\"cpu_us_per_event\":%.2f}\n",
          names.size(), runs[ri], static_cast<unsigned long long>(events),
          absl::ToDoubleMicroseconds(wall) / static_cast<double>(events),
          cpu * 1e6 / static_cast<double>(events));
      std::fflush(stdout);
      projector.Stop();
      // What each projection wrote, once (the same at every run size): its
      // row versions per event (each one a version of a row, a change
      // entry and their memtable inserts), and the share of them that are
      // the fold's own bookkeeping rows ("~" keys, never served).
      bool counted = true;
      for (size_t ni = 0; ni < names.size() && ri == 0; ++ni) {
        const std::string& n = names[ni];
        uint64_t versions = 0, internal = 0;
        const absl::Status s =
            (*store)->Changes(n, 0, head, [&](const grid::storage::ProjectionStore::RowVersion& r) {
              ++versions;
              if (r.key.starts_with('~')) ++internal;
              return true;
            });
        if (!s.ok()) {
          std::cerr << "grid_projector_bench: " << s << "\n";
          counted = false;
          break;
        }
        std::printf(
            "{\"workload\":\"projection_versions\",\"projection\":\"%s\",\"versions_per_event\":%.3f,"
            "\"bookkeeping_share\":%.3f}\n",
            n.c_str(), static_cast<double>(versions) / static_cast<double>(events),
            versions == 0 ? 0.0 : static_cast<double>(internal) / static_cast<double>(versions));
      }
      if (counted) rc = 0;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return rc;
}
