#include "server/log/live_tail.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace grid::server {
namespace {

storage::RecordPtr Rec(storage::Position p, size_t bytes = 10) {
  auto r = std::make_shared<storage::LogRecord>();
  r->position = p;
  r->wire.assign(bytes, 'x');
  return r;
}

struct CountingWaiter : LiveTail::Waiter {
  int woken = 0;
  void Wake() override { ++woken; }
};

TEST(LiveTailTest, ReadsFromCursorAndReportsFallingBehind) {
  LiveTail tail(10, {.max_records = 3, .max_bytes = 1 << 20});
  std::vector<storage::RecordPtr> out;
  EXPECT_EQ(tail.Read(10, 100, 1 << 20, &out), LiveTail::ReadResult::kNothingYet);
  EXPECT_EQ(tail.Read(5, 100, 1 << 20, &out), LiveTail::ReadResult::kFellBehind);
  tail.Publish({Rec(11), Rec(12)});
  ASSERT_EQ(tail.Read(10, 100, 1 << 20, &out), LiveTail::ReadResult::kOk);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->position, 11u);
  tail.Publish({Rec(13), Rec(14), Rec(15)});  // 11 and 12 drop off (max 3)
  out.clear();
  EXPECT_EQ(tail.Read(11, 100, 1 << 20, &out), LiveTail::ReadResult::kFellBehind);
  ASSERT_EQ(tail.Read(12, 2, 1 << 20, &out), LiveTail::ReadResult::kOk);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1]->position, 14u);
  EXPECT_EQ(tail.head(), 15u);
}

TEST(LiveTailTest, BoundedByBytes) {
  LiveTail tail(0, {.max_records = 1000, .max_bytes = 100});
  for (storage::Position p = 1; p <= 20; ++p) tail.Publish({Rec(p, 30)});
  std::vector<storage::RecordPtr> out;
  EXPECT_EQ(tail.Read(16, 100, 1 << 20, &out), LiveTail::ReadResult::kFellBehind);
  out.clear();
  ASSERT_EQ(tail.Read(17, 100, 1 << 20, &out), LiveTail::ReadResult::kOk);
  EXPECT_EQ(out.size(), 3u);
}

TEST(LiveTailTest, WaitersAreWokenOnceOnPublishAndCanCancel) {
  LiveTail tail(0);
  CountingWaiter a, b;
  EXPECT_FALSE(tail.WaitForMore(0, tail.wakes(), &a));
  EXPECT_FALSE(tail.WaitForMore(0, tail.wakes(), &b));
  EXPECT_TRUE(tail.Cancel(&b));
  EXPECT_FALSE(tail.Cancel(&b));
  tail.Publish({Rec(1)});
  tail.Publish({Rec(2)});
  EXPECT_EQ(a.woken, 1);
  EXPECT_EQ(b.woken, 0);
  EXPECT_FALSE(tail.Cancel(&a));                       // already woken
  EXPECT_TRUE(tail.WaitForMore(1, tail.wakes(), &a));  // data is there: not registered
  EXPECT_FALSE(tail.WaitForMore(2, tail.wakes(), &a));
  tail.Close();
  EXPECT_EQ(a.woken, 2);
  EXPECT_TRUE(tail.WaitForMore(2, tail.wakes(), &a));  // closed
}

// A policy reload (WakeAll) that lands after a stream re-checked its rights
// and before it registered once left the stream waiting for the next event.
TEST(LiveTailTest, AWakeAllSinceTheCountReadCountsAsProgress) {
  LiveTail tail(0);
  CountingWaiter a;
  const uint64_t seen = tail.wakes();
  tail.WakeAll();                              // nobody registered yet
  EXPECT_TRUE(tail.WaitForMore(0, seen, &a));  // look again: not registered
  EXPECT_FALSE(tail.Cancel(&a));
  EXPECT_FALSE(tail.WaitForMore(0, tail.wakes(), &a));
  tail.WakeAll();
  EXPECT_EQ(a.woken, 1);
}

}  // namespace
}  // namespace grid::server

namespace grid::server {
namespace {

// Readers follow a tail that one writer publishes to, through falling behind
// and waiting: each reader sees positions in order with nothing repeated,
// and reports the fell-behind it must then repair from the log. Under TSan
// this is the check on the tail's own synchronization.
struct ThreadWaiter : LiveTail::Waiter {
  grid::Mutex mu;
  grid::CondVar cv;
  bool woken ABSL_GUARDED_BY(mu) = false;
  void Wake() override {
    grid::MutexLock l(&mu);
    woken = true;
    cv.SignalAll();
  }
  void WaitWoken() {
    grid::MutexLock l(&mu);
    while (!woken) cv.Wait(&mu);
    woken = false;
  }
};

TEST(LiveTailTest, ConcurrentPublisherAndReaders) {
  constexpr storage::Position kLast = 20000;
  LiveTail tail(0, {.max_records = 256, .max_bytes = 1 << 20});
  std::vector<std::thread> readers;
  std::atomic<int> fell_behind{0};
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      ThreadWaiter w;
      storage::Position cursor = 0;
      while (cursor < kLast) {
        std::vector<storage::RecordPtr> out;
        switch (tail.Read(cursor, 64 + r, 1 << 20, &out)) {
          case LiveTail::ReadResult::kOk:
            for (const auto& rec : out) {
              ASSERT_EQ(rec->position, cursor + 1);
              cursor = rec->position;
            }
            break;
          case LiveTail::ReadResult::kFellBehind:
            ++fell_behind;
            cursor = tail.head();  // a real subscriber reads the gap from the log
            break;
          case LiveTail::ReadResult::kNothingYet:
            if (!tail.WaitForMore(cursor, tail.wakes(), &w)) w.WaitWoken();
            break;
        }
      }
    });
  }
  for (storage::Position p = 1; p <= kLast; p += 10) {
    std::vector<storage::RecordPtr> group;
    for (storage::Position q = p; q < p + 10; ++q) group.push_back(Rec(q));
    tail.Publish(group);
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(tail.head(), kLast);
}

}  // namespace
}  // namespace grid::server
