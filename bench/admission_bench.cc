// What an append to a long stream costs when its state is not cached (a
// restart, or a stream the LRU evicted): the domain rules' state is loaded
// (server/log/admission.h) on the writer thread before the append is
// checked. For streams of --lengths sanitation reports of one grid, this
// commits one more report with a cold admission, --repeat times, and prints
// one JSON object per length and mode: the median and p99 of that commit and
// the events folded to load the state; then the median of a warm batch of
// two reports (the state cached: what its undo copies). Mode "snapshots" is
// gridd's (snapshots, and the findings kept as members beside them); mode
// "fold" stores and reads neither, so every miss folds the stream from its
// first event and the state holds every finding in memory (what admission
// did before snapshots).
//
// The log is a real RocksDB event log in a temporary directory under
// $TMPDIR (the same kind of disk as gridd's data in bench/compare.sh),
// synced as gridd's is; it is deleted at the end.
//
// usage: grid_admission_bench [--lengths 0,1000,10000,100000] [--repeat 20]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "domain/events.h"
#include "server/log/admission.h"
#include "storage/event_log.h"

namespace {

namespace ev = grid::domain::events;

using grid::bench::Flag;
using grid::bench::Percentile;

const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2024, 1, 1, 8, 0, 0), absl::UTCTimeZone());

grid::v1::Event Report(const std::string& grid, uint64_t n) {
  // A finding in every report: the grid's state keeps them all, as a grid
  // with years of findings does.
  return ev::SanitationReport(absl::StrCat("r-", grid, "-", n), grid, "w-1", grid::v1::PATROL, 900,
                              {absl::StrCat("f-", grid, "-", n)}, kStart + absl::Minutes(n));
}

bool Commit(grid::storage::EventLog* log, grid::server::DomainAdmission* admission,
            std::vector<grid::v1::Event> events) {
  grid::storage::AppendBatch batch;
  batch.stream = events.front().stream();
  batch.events = std::move(events);
  grid::storage::AppendBatch* p = &batch;
  const auto result = log->Commit(absl::MakeSpan(&p, 1), absl::Now(), admission);
  if (!result.outcomes[0].status.ok()) {
    std::cerr << "grid_admission_bench: " << result.outcomes[0].status << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> lengths;
  for (absl::string_view s : absl::StrSplit(Flag(argc, argv, "lengths", "0,1000,10000,100000"), ',')) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(s, &n)) {
      std::cerr << "grid_admission_bench: --lengths is a list of numbers\n";
      return 2;
    }
    lengths.push_back(n);
  }
  int repeat = 20;
  if (!absl::SimpleAtoi(Flag(argc, argv, "repeat", "20"), &repeat) || repeat < 1) {
    std::cerr << "grid_admission_bench: --repeat is a positive number\n";
    return 2;
  }
  const std::string dir = grid::bench::MakeTempDir("grid_admission_bench");
  if (dir.empty()) return 1;
  int rc = 0;
  {
    grid::storage::EventLogOptions o;
    auto opened = grid::storage::EventLog::Open(o, dir + "/log");
    if (!opened.ok()) {
      std::cerr << "grid_admission_bench: " << opened.status() << "\n";
      return 1;
    }
    std::unique_ptr<grid::storage::EventLog> log = *std::move(opened);
    for (const bool snapshots : {true, false}) {
      for (size_t li = 0; li < lengths.size() && rc == 0; ++li) {
        const uint64_t length = lengths[li];
        // One grid per length and mode, its stream written in calls of 100
        // reports (with the admission of the mode measured, so "snapshots"
        // stores them as gridd does).
        const std::string grid = absl::StrCat("bench/", snapshots ? "s" : "f", "/v/g", li);
        grid::server::DomainAdmission writer(log.get(), 100000, snapshots);
        if (!Commit(log.get(), &writer,
                    {ev::GridDefined(absl::StrCat("g-", grid), grid, kStart),
                     ev::WorkerAssigned(absl::StrCat("w-", grid), "w-1", grid, kStart)})) {
          rc = 1;
          break;
        }
        uint64_t n = 0;
        while (n < length && rc == 0) {
          std::vector<grid::v1::Event> events;
          for (; events.size() < 100 && n < length; ++n) events.push_back(Report(grid, n));
          if (!Commit(log.get(), &writer, std::move(events))) rc = 1;
        }
        std::vector<double> micros;
        uint64_t folded = 0;
        for (int r = 0; r < repeat && rc == 0; ++r) {
          grid::server::DomainAdmission cold(log.get(), 100000, snapshots);
          const absl::Time t0 = absl::Now();
          if (!Commit(log.get(), &cold, {Report(grid, n++)})) rc = 1;
          micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
          folded = cold.GetStats().folded_events;
        }
        // A warm batch of two reports: the state is cached; its undo
        // (domain::ApplyUndo) copies what the state holds in memory.
        // (A new admission: the writer's cache did not see the cold commits.
        // Its first batch loads the state and is not timed.)
        grid::server::DomainAdmission hot(log.get(), 100000, snapshots);
        std::vector<double> warm;
        for (int r = 0; r <= repeat && rc == 0; ++r) {
          const absl::Time t0 = absl::Now();
          std::vector<grid::v1::Event> two;
          two.push_back(Report(grid, n++));
          two.push_back(Report(grid, n++));
          if (!Commit(log.get(), &hot, std::move(two))) rc = 1;
          if (r > 0) warm.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
        }
        if (rc != 0) break;
        std::printf(
            "{\"workload\":\"admission\",\"mode\":\"%s\",\"stream_events\":%llu,\"cold_append_p50_us\":%.0f,"
            "\"cold_append_p99_us\":%.0f,\"folded_events\":%llu,\"warm_batch_p50_us\":%.0f}\n",
            snapshots ? "snapshots" : "fold", static_cast<unsigned long long>(length),
            Percentile(micros, 0.5), Percentile(micros, 0.99), static_cast<unsigned long long>(folded),
            Percentile(warm, 0.5));
        std::fflush(stdout);
      }
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return rc;
}
