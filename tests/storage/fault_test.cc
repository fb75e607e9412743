// Power cuts, I/O errors and corruption under the real RocksDB log, with the
// fault-injection Env over an in-memory file system. After every fault the
// log is reopened and checked by an independent checker (log_checker.h):
// every acknowledged event present exactly once at its position, positions
// dense, chain valid, indexes consistent.
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <future>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/log/sequencer.h"
#include "storage/sync.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/log_checker.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

using grid::testing::FaultInjectionEnv;

// At least 200 in CI; GRID_POWER_CUTS=N runs more (make soak) or fewer (TSan).
const int kPowerCuts = grid::testing::IntFromEnv("GRID_POWER_CUTS", 200);

class FaultTest : public ::testing::Test {
 protected:
  FaultTest() : mem_(rocksdb::NewMemEnv(rocksdb::Env::Default())), env_(mem_.get(), 7) {
    options_.env = &env_;
    options_.write_buffer_bytes = 64 << 10;  // frequent flushes: SST + MANIFEST writes
  }

  // Every other open makes a pipelined log (EventLogOptions::pipelined),
  // and the loads on it pipeline their commits, so each suite covers both
  // ways (and a log reopened the other way).
  absl::StatusOr<std::unique_ptr<storage::EventLog>> Open() {
    options_.pipelined = (opens_++ % 2) == 1;
    return storage::EventLog::Open(options_, "/db");
  }

  // Appends from `threads` threads through a Sequencer until an append fails
  // or each thread has made `max_appends`. Records what was acknowledged.
  // Returns how many appends failed. Pipelined as the last Open().
  int Load(storage::EventLog* log, int threads, int max_appends, const std::string& tag) {
    server::Sequencer::Options options;
    options.pipeline = options_.pipelined;
    server::Sequencer seq(log, nullptr, options);
    seq.Start();
    std::atomic<int> failed{0};
    std::vector<std::thread> ts;
    ts.reserve(threads);
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < max_appends; ++i) {
          const int n = 1 + (i % 3);
          std::vector<grid::v1::Event> events;
          events.reserve(n);
          for (int k = 0; k < n; ++k) {
            events.push_back(grid::testing::GridEvent(absl::StrCat(tag, "-", t, "-", i, "-", k)));
          }
          std::promise<storage::AppendOutcome> p;
          auto f = p.get_future();
          auto batch = grid::testing::Batch(absl::StrCat("s/", t, "-", i % 4), std::move(events));
          std::vector<std::string> ids;
          for (const auto& e : batch.events) ids.push_back(e.event_id());
          seq.Submit(std::move(batch), [&p](storage::AppendOutcome o) { p.set_value(std::move(o)); });
          auto o = f.get();
          if (!o.status.ok()) {
            EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable) << o.status;
            ++failed;
            return;
          }
          grid::MutexLock l(&mu_);
          for (size_t k = 0; k < ids.size(); ++k) acked_[ids[k]] = o.events[k].position;
        }
      });
    }
    for (auto& t : ts) t.join();
    seq.Stop();
    return failed.load();
  }

  std::map<std::string, uint64_t> acked() {
    grid::MutexLock l(&mu_);
    return acked_;
  }

  std::unique_ptr<rocksdb::Env> mem_;
  FaultInjectionEnv env_;
  int opens_ = 0;
  storage::EventLogOptions options_;
  grid::Mutex mu_;
  std::map<std::string, uint64_t> acked_ ABSL_GUARDED_BY(mu_);
};

TEST_F(FaultTest, PowerCutsAtRandomSyncsLoseNoAcknowledgedEvent) {
  std::mt19937 rng(20261128);
  uint64_t checked_to = 0;
  for (int cut = 0; cut < kPowerCuts; ++cut) {
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    env_.CutPowerAfter(FaultInjectionEnv::kSync, 1 + rng() % 30);
    const int failed = Load(log.get(), 3, 100000, absl::StrCat("c", cut));
    ASSERT_GT(failed, 0) << "cut " << cut << " never happened";
    EXPECT_FALSE(log->WriteHealth().ok());
    log.reset();
    ASSERT_OK(env_.DropUnsyncedData().ok() ? absl::OkStatus() : absl::InternalError("drop unsynced data"));
    env_.SetActive(true);
    env_.CutPowerAfter(FaultInjectionEnv::kSync, 0);

    ASSERT_OK_AND_ASSIGN(log, Open());
    auto check = grid::testing::CheckLog(log.get(), acked(), checked_to > 50 ? checked_to - 50 : 1);
    ASSERT_TRUE(check.ok()) << "after cut " << cut << ": " << check.Summary();
    checked_to = log->GetHead().position;
  }
  ASSERT_OK_AND_ASSIGN(auto log, Open());
  auto full = grid::testing::CheckLog(log.get(), acked());
  EXPECT_TRUE(full.ok()) << full.Summary();
  std::cout << "power cuts: " << kPowerCuts << " cuts, " << acked().size()
            << " acknowledged events, all present; log head " << log->GetHead().position << std::endl;
}

// The negative control: without fsync, the same cuts must lose acknowledged
// events, and the checker must say so. Proves the test above can fail.
TEST_F(FaultTest, PowerCutsWithoutSyncAreCaughtLosingEvents) {
  options_.sync = false;
  uint64_t lost = 0;
  for (int cut = 0; cut < 5 && lost == 0; ++cut) {
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    env_.CutPowerAfter(FaultInjectionEnv::kWrite, 200);
    Load(log.get(), 2, 100000, absl::StrCat("nosync", cut));
    log.reset();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetActive(true);
    env_.CutPowerAfter(FaultInjectionEnv::kWrite, 0);
    auto reopened = Open();
    if (!reopened.ok()) {
      // The GRIDHEAD watermark (synced even here) saw the log come back
      // shorter than what was committed: the loss is caught at open.
      EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
      ++lost;
      break;
    }
    lost += grid::testing::CheckLog(reopened->get(), acked()).lost;
  }
  EXPECT_GT(lost, 0u) << "dropping unsynced data lost nothing: the power-cut test cannot fail";
}

struct WritePoint {
  const char* name;
  FaultInjectionEnv::Op op;
  const char* pattern;
  // False for the head-file watermark: losing it must not stop appends.
  bool stops_writes = true;
};

// An I/O error at each write point: the failing append is never
// acknowledged, the log turns read-only, reads go on, and a restart recovers
// every acknowledged event and takes appends again.
TEST_F(FaultTest, IoErrorAtEveryWritePointIsNeverAcknowledged) {
  const WritePoint points[] = {
      {"WAL append", FaultInjectionEnv::kWrite, ".log"},
      {"WAL sync", FaultInjectionEnv::kSync, ".log"},
      {"SST write", FaultInjectionEnv::kWrite, ".sst"},
      {"SST sync", FaultInjectionEnv::kSync, ".sst"},
      {"MANIFEST write", FaultInjectionEnv::kWrite, "MANIFEST"},
      {"directory sync", FaultInjectionEnv::kDirSync, ""},
      {"file creation", FaultInjectionEnv::kCreate, ".sst"},
      {"CURRENT rename", FaultInjectionEnv::kRename, "CURRENT"},
      {"head file write", FaultInjectionEnv::kSync, "GRIDHEAD", false},
      {"head file rename", FaultInjectionEnv::kRename, "GRIDHEAD", false},
  };
  int round = 0;
  for (const auto& wp : points) {
    SCOPED_TRACE(wp.name);
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    const uint64_t head_before = log->GetHead().position;
    const uint64_t injected_before = env_.injected_failures();
    env_.AddRule({.op = wp.op, .pattern = wp.pattern, .nth = 1});
    const int failed = Load(log.get(), 2, 3000, absl::StrCat("io", round++));
    const bool injected = env_.injected_failures() > injected_before;
    env_.ClearRules();
    if (!injected) {
      // This point was never reached in this round (e.g. no rename without a
      // new MANIFEST); nothing to check beyond a clean log.
      std::cout << wp.name << ": not reached" << std::endl;
    } else if (!wp.stops_writes) {
      EXPECT_EQ(failed, 0) << wp.name << " failure stopped appends";
      EXPECT_OK(log->WriteHealth());
    } else {
      EXPECT_GT(failed, 0) << "an injected " << wp.name << " failure went unnoticed";
      EXPECT_FALSE(log->WriteHealth().ok());
      // Reads keep serving what was committed.
      auto read = log->ReadAll(1, storage::Direction::kForwards, 10, SIZE_MAX);
      EXPECT_OK(read);
      EXPECT_GE(log->GetHead().position, head_before);
    }
    log.reset();
    ASSERT_OK_AND_ASSIGN(log, Open());  // restart recovers
    EXPECT_OK(log->WriteHealth());
    auto check = grid::testing::CheckLog(log.get(), acked());
    ASSERT_TRUE(check.ok()) << check.Summary();
    EXPECT_EQ(Load(log.get(), 1, 5, absl::StrCat("after", round)), 0);
  }
}

// Opening writes a new MANIFEST and renames CURRENT; a failure there fails
// the open cleanly, and the next open succeeds with everything in place.
TEST_F(FaultTest, IoErrorWhileOpeningFailsTheOpenCleanly) {
  {
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    EXPECT_EQ(Load(log.get(), 1, 20, "open"), 0);
  }
  for (auto wp : {WritePoint{"CURRENT rename", FaultInjectionEnv::kRename, "CURRENT"},
                  WritePoint{"MANIFEST write", FaultInjectionEnv::kWrite, "MANIFEST"},
                  WritePoint{"directory sync", FaultInjectionEnv::kDirSync, ""}}) {
    SCOPED_TRACE(wp.name);
    env_.AddRule({.op = wp.op, .pattern = wp.pattern, .every = 1});
    auto failed = Open();
    env_.ClearRules();
    EXPECT_FALSE(failed.ok());
    failed = absl::UnknownError("closed");
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    auto check = grid::testing::CheckLog(log.get(), acked());
    ASSERT_TRUE(check.ok()) << check.Summary();
  }
}

// Faults at random rates on every kind of write: whatever fails, nothing
// acknowledged is lost and a restart recovers.
TEST_F(FaultTest, RandomIoErrorsNeverLoseAcknowledgedEvents) {
  for (int round = 0; round < 20; ++round) {
    ASSERT_OK_AND_ASSIGN(auto log, Open());
    for (auto op : {FaultInjectionEnv::kWrite, FaultInjectionEnv::kSync, FaultInjectionEnv::kCreate,
                    FaultInjectionEnv::kDirSync}) {
      env_.AddRule({.op = op, .pattern = "", .nth = 0, .every = 0, .probability = 0.002});
    }
    Load(log.get(), 3, 2000, absl::StrCat("rnd", round));
    env_.ClearRules();
    log.reset();
    ASSERT_OK_AND_ASSIGN(log, Open());
    auto check = grid::testing::CheckLog(log.get(), acked());
    ASSERT_TRUE(check.ok()) << "round " << round << ": " << check.Summary();
  }
  EXPECT_GT(env_.injected_failures(), 0u);
}

// Bit flips and truncations in every kind of file are detected at open or on
// read (DATA_LOSS), never served as good data.
TEST(CorruptionTest, DamagedFilesAreDetectedNeverServed) {
  struct Tally {
    int at_open = 0, on_read = 0, harmless = 0, tail_lost = 0, served_bad = 0;
  };
  std::map<std::string, Tally> tallies;
  std::map<std::string, int> open_codes;
  std::mt19937 rng(5);
  for (const char* kind : {".log", ".sst", "MANIFEST", "GRIDHEAD"}) {
    for (const bool truncate : {false, true}) {
      for (int trial = 0; trial < 12; ++trial) {
        std::unique_ptr<rocksdb::Env> mem(rocksdb::NewMemEnv(rocksdb::Env::Default()));
        storage::EventLogOptions o;
        o.env = mem.get();
        o.write_buffer_bytes = 64 << 10;
        std::map<uint64_t, std::string> original;
        {
          auto log = storage::EventLog::Open(o, "/db");
          ASSERT_OK(log);
          for (int i = 0; i < 2000; ++i) {  // several memtables: SSTs exist
            auto b = grid::testing::Batch(absl::StrCat("s/", i % 9),
                                          {grid::testing::GridEvent(absl::StrCat("e", i))});
            storage::AppendBatch* p = &b;
            ASSERT_OK((*log)->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status);
          }
          auto all = (*log)->ReadAll(1, storage::Direction::kForwards, 10000, SIZE_MAX);
          ASSERT_OK(all);
          for (const auto& r : *all) original[r->position] = r->wire;
        }
        std::vector<std::string> children, files;
        ASSERT_TRUE(mem->GetChildren("/db", &children).ok());
        for (const auto& c : children) {
          if (c.find(kind) != std::string::npos) files.push_back("/db/" + c);
        }
        ASSERT_FALSE(files.empty()) << "no " << kind << " file";
        const std::string victim = files[rng() % files.size()];
        std::string data;
        ASSERT_TRUE(rocksdb::ReadFileToString(mem.get(), victim, &data).ok());
        if (data.empty()) continue;
        if (truncate) {
          data.resize(rng() % data.size());
        } else {
          data[rng() % data.size()] ^= static_cast<char>(1 << (rng() % 8));
        }
        ASSERT_TRUE(rocksdb::WriteStringToFile(mem.get(), data, victim, true).ok());

        Tally& t = tallies[absl::StrCat(kind, truncate ? " truncated" : " bit flip")];
        auto log = storage::EventLog::Open(o, "/db");
        if (!log.ok()) {
          ++t.at_open;
          open_codes[absl::StatusCodeToString(log.status().code())]++;
          continue;
        }
        auto all = (*log)->ReadAll(1, storage::Direction::kForwards, 10000, SIZE_MAX);
        if (!all.ok()) {
          EXPECT_EQ(all.status().code(), absl::StatusCode::kDataLoss) << all.status();
          EXPECT_NE(all.status().message().find("position"), std::string::npos) << all.status();
          ++t.on_read;
          continue;
        }
        bool bad = false;
        for (const auto& r : *all) bad |= original[r->position] != r->wire;
        auto check = grid::testing::CheckLog(log->get(), {});
        // Index reads that fail DATA_LOSS are detection, not bad data.
        bad |= check.problems.size() > check.errors;
        if (!bad && check.errors > 0) {
          ++t.on_read;
          continue;
        }
        if (bad) {
          ++t.served_bad;
          std::cout << "served bad after damaging " << victim << ": " << check.Summary() << std::endl;
        } else if (all->size() < original.size()) {
          ++t.tail_lost;
        } else {
          ++t.harmless;
        }
      }
    }
  }
  for (const auto& [what, t] : tallies) {
    std::cout << what << ": detected at open " << t.at_open << ", on read " << t.on_read << ", harmless "
              << t.harmless << ", tail lost " << t.tail_lost << ", served bad " << t.served_bad << std::endl;
    EXPECT_EQ(t.served_bad, 0) << what;
    EXPECT_EQ(t.tail_lost, 0) << what;
  }
  for (const auto& [code, n] : open_codes) {
    EXPECT_EQ(code, "DATA_LOSS") << n << " opens failed with another code";
  }
}

}  // namespace
}  // namespace grid
