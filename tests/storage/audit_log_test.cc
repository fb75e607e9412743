#include "storage/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "storage/proto_time.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace grid::storage {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1790000000);

grid::v1::AuditRecord At(absl::Time t) {
  grid::v1::AuditRecord r;
  *r.mutable_time() = ToProtoTime(ToMicros(t));
  r.set_method("/grid.v1.Log/GetStatus");
  r.set_result("OK");
  return r;
}

std::vector<uint64_t> Seqs(const AuditLog& log) {
  std::vector<uint64_t> out;
  EXPECT_OK(log.Scan(0, [&](const grid::v1::AuditRecord& r) {
    out.push_back(r.seq());
    return true;
  }));
  return out;
}

// Waits (bounded) until `done` holds; false if it never did.
bool Eventually(const std::function<bool()>& done) {
  for (const absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return done();
}

// Regression: Post() waited on a condition variable while the queue was
// full, and it is reached from the sequencer thread (an Append's outcome):
// a slow audit disk stalled the single writer. Now nothing waits.
TEST(AuditLogTest, NothingWaitsWhileTheAuditDiskStalls) {
  grid::testing::TempDir dir;
  grid::testing::FaultInjectionEnv env(rocksdb::Env::Default());
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path() + "/audit", &env, 4));
  env.HoldWrites();
  log->Post(At(kT0));  // the writer takes it and blocks on the disk
  ASSERT_TRUE(Eventually([&] { return env.held_writes() > 0; }));
  for (int i = 0; i < 10; ++i) log->Post(At(kT0));  // 4 wait, 6 are dropped
  EXPECT_EQ(log->lost(), 6u);
  absl::Status intent;
  bool called = false;
  log->PostIntent(At(kT0), true, [&](absl::Status s) {
    intent = s;
    called = true;
  });
  ASSERT_TRUE(called);  // at once: the queue is full
  EXPECT_EQ(intent.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(intent.message().find("behind"), std::string::npos) << intent;
  env.Release();
  EXPECT_EQ(Seqs(*log).size(), 5u);  // waits for what was queued
  // An intent that now gets its turn.
  std::atomic<bool> stored{false};
  log->PostIntent(At(kT0), true, [&](absl::Status s) {
    EXPECT_OK(s);
    stored = true;
  });
  ASSERT_TRUE(Eventually([&] { return stored.load(); }));
  EXPECT_EQ(Seqs(*log).size(), 6u);
  EXPECT_EQ(log->lost(), 6u);
}

TEST(AuditLogTest, SeqsAreDenseAndContinueAfterReopen) {
  grid::testing::TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
    EXPECT_EQ(log->last_seq(), 0u);
    for (int i = 0; i < 3; ++i) ASSERT_OK(log->Write(At(kT0), i == 1));
  }
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
  EXPECT_EQ(log->last_seq(), 3u);
  ASSERT_OK(log->Write(At(kT0), false));
  EXPECT_EQ(Seqs(*log), (std::vector<uint64_t>{1, 2, 3, 4}));
}

// Handlers write intents themselves and post outcomes to the writer
// thread at once: every seq is stored exactly once, and a scan sees every
// record posted before it.
TEST(AuditLogTest, ConcurrentWritesAndPostsLeaveNoGap) {
#if defined(__SANITIZE_THREAD__)
  // Concurrent RocksDB writers hand batches to a write-group leader through
  // synchronization TSan cannot see in Debian's uninstrumented librocksdb;
  // the reports are about memory RocksDB frees and our thread reuses.
  GTEST_SKIP() << "concurrent RocksDB writers: false positives under TSan";
#endif
  grid::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
  constexpr int kThreads = 4, kEach = 500;
  // gtest assertions stay on the main thread.
  std::atomic<int> failed_writes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, &failed_writes, t] {
      for (int i = 0; i < kEach; ++i) {
        if ((i + t) % 2 == 0) {
          if (!log->Write(At(kT0), i % 100 == 0).ok()) ++failed_writes;
        } else {
          log->Post(At(kT0));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed_writes.load(), 0);
  std::vector<uint64_t> seqs = Seqs(*log);
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
  EXPECT_EQ(log->last_seq(), static_cast<uint64_t>(kThreads * kEach));
  EXPECT_EQ(log->lost(), 0u);
}

TEST(AuditLogTest, PostedRecordsAreStoredBeforeCloseAndCountedWhenLost) {
  grid::testing::TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
    for (int i = 0; i < 100; ++i) log->Post(At(kT0));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
    EXPECT_EQ(Seqs(*log).size(), 100u);
  }
  grid::testing::FaultInjectionEnv env(rocksdb::Env::Default());
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path(), &env));
  env.AddRule({grid::testing::FaultInjectionEnv::kWrite, "", 0, 1, 0});
  log->Post(At(kT0));
  log->Post(At(kT0));
  EXPECT_EQ(Seqs(*log).size(), 100u);  // waits for the failed batch
  EXPECT_EQ(log->lost(), 2u);
  EXPECT_EQ(log->Write(At(kT0), false).code(), absl::StatusCode::kUnavailable);
  env.ClearRules();
  log.reset();
}

TEST(AuditLogTest, TrimDeletesExactlyTheRecordsBeforeTheCutoff) {
  grid::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
  EXPECT_EQ(*log->Trim(kT0), 0u);  // empty
  // Record i (seq i + 1) stamped i minutes after kT0.
  for (int i = 0; i < 100; ++i) ASSERT_OK(log->Write(At(kT0 + absl::Minutes(i)), false));

  ASSERT_OK_AND_ASSIGN(uint64_t n, log->Trim(kT0 + absl::Minutes(40)));
  EXPECT_EQ(n, 40u);
  std::vector<uint64_t> seqs = Seqs(*log);
  ASSERT_EQ(seqs.size(), 60u);
  EXPECT_EQ(seqs.front(), 41u);
  EXPECT_EQ(seqs.back(), 100u);
  // A record stamped exactly at the cutoff stays; trimming again does nothing.
  EXPECT_EQ(*log->Trim(kT0 + absl::Minutes(40)), 0u);
  EXPECT_EQ(*log->Trim(kT0 + absl::Minutes(40) + absl::Seconds(30)), 1u);
  EXPECT_EQ(Seqs(*log).front(), 42u);

  // Everything is old: all but the newest go, and seqs go on from it after
  // a restart instead of starting over.
  EXPECT_EQ(*log->Trim(kT0 + absl::Hours(24)), 58u);
  EXPECT_EQ(Seqs(*log), std::vector<uint64_t>{100});
  log.reset();
  ASSERT_OK_AND_ASSIGN(log, AuditLog::Open(dir.path()));
  ASSERT_OK(log->Write(At(kT0 + absl::Hours(25)), false));
  EXPECT_EQ(Seqs(*log), (std::vector<uint64_t>{100, 101}));
}

// Many records share a second (a busy server); runs of equal stamps and
// random cutoffs, checked against a plain count.
TEST(AuditLogTest, TrimMatchesALinearScanForRandomStamps) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    grid::testing::TempDir dir;
    ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(dir.path()));
    const int n = 1 + static_cast<int>(rng() % 300);
    std::vector<absl::Time> stamps;
    absl::Time t = kT0;
    for (int i = 0; i < n; ++i) {
      t += absl::Seconds(static_cast<int64_t>(rng() % 3));  // often equal
      stamps.push_back(t);
      ASSERT_OK(log->Write(At(t), false));
    }
    const absl::Time cutoff = kT0 + absl::Seconds(static_cast<int64_t>(rng() % (2 * n + 2)));
    uint64_t older = 0;
    while (older < stamps.size() && stamps[older] < cutoff) ++older;
    older = std::min<uint64_t>(older, static_cast<uint64_t>(n) - 1);  // the newest stays
    ASSERT_OK_AND_ASSIGN(uint64_t trimmed, log->Trim(cutoff));
    EXPECT_EQ(trimmed, older) << "round " << round << " n " << n;
    const std::vector<uint64_t> seqs = Seqs(*log);
    ASSERT_EQ(seqs.size(), static_cast<size_t>(n) - older);
    EXPECT_EQ(seqs.front(), older + 1);
  }
}

}  // namespace
}  // namespace grid::storage
