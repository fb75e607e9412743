// PumpedWriter, the reactor every server stream is built on, under its
// real concurrency: the application pool and the live tail are the real
// ones; gRPC's part (completing writes, cancelling, calling OnDone once the
// call is finished and no reaction runs) is played by FakeStream on threads
// of its own, so that a TSan build sees every thread (Debian's gRPC is not
// TSan-built). Each test checks what a client would: every message in order,
// one status, the access record written once, and the reactor freed.
#include "server/rpc/pumped_writer.h"

#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/log/live_tail.h"
#include "storage/sync.h"

namespace grid::server {
namespace {

// What the "client" of one call saw, shared by the test and the call.
struct Seen {
  grid::Mutex mu;
  grid::CondVar cv;
  std::vector<uint64_t> messages ABSL_GUARDED_BY(mu);
  std::optional<grpc::StatusCode> status ABSL_GUARDED_BY(mu);
  int finishes ABSL_GUARDED_BY(mu) = 0;
  int access_done ABSL_GUARDED_BY(mu) = 0;  // AccessCall::Done() calls
  bool reactor_deleted ABSL_GUARDED_BY(mu) = false;
  // The gRPC side's state of the call.
  int reactions ABSL_GUARDED_BY(mu) = 0;  // running now
  bool finished ABSL_GUARDED_BY(mu) = false;
  bool done_called ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  bool break_next_write ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> deny{false};  // Recheck() refuses from now on
  // Run once by the Recheck() that passes after `reload_at` messages were
  // written, just after its check: a policy reload landing there.
  std::function<void()> reload;
  size_t reload_at = 0;

  // Waits until the reactor is gone; false after a minute (a hang is the
  // failure, not a timing).
  bool WaitDeleted() {
    grid::MutexLock l(&mu);
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    while (!reactor_deleted) {
      if (!cv.WaitFor(&mu, deadline - absl::Now())) return false;
    }
    return true;
  }
  // Waits until `n` messages were written; false after a minute.
  bool WaitMessages(size_t n) {
    grid::MutexLock l(&mu);
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    while (messages.size() < n) {
      if (!cv.WaitFor(&mu, deadline - absl::Now())) return false;
    }
    return true;
  }
  size_t Count() {
    grid::MutexLock l(&mu);
    return messages.size();
  }
};

// The access grant of the call (the Call of PumpedWriter).
class FakeCall {
 public:
  explicit FakeCall(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  absl::Status Recheck() {
    if (seen_->deny.load()) return absl::PermissionDeniedError("policy changed");
    if (seen_->reload && seen_->Count() == seen_->reload_at) {
      seen_->deny.store(true);
      std::exchange(seen_->reload, nullptr)();
    }
    return absl::OkStatus();
  }
  void Done(const grpc::Status&) {
    grid::MutexLock l(&seen_->mu);
    ++seen_->access_done;
  }

 private:
  std::shared_ptr<Seen> seen_;
};

// gRPC's part of a server stream. Reactions run on `io`, never more than
// gRPC would: OnWriteDone once per StartWrite, OnCancel at most once and
// never after OnDone, OnDone once, after Finish, when no reaction runs.
class FakeStream {
 public:
  virtual ~FakeStream() = default;
  virtual void OnWriteDone(bool ok) = 0;
  virtual void OnCancel() = 0;
  virtual void OnDone() = 0;

  void Bind(boost::asio::thread_pool* io, std::shared_ptr<Seen> seen) {
    io_ = io;
    seen_ = std::move(seen);
  }
  void StartWrite(const uint64_t* m) {
    bool ok = true;
    {
      grid::MutexLock l(&seen_->mu);
      seen_->messages.push_back(*m);
      ok = !seen_->break_next_write;
      ++seen_->reactions;
      seen_->cv.SignalAll();
    }
    boost::asio::post(*io_, [this, ok] {
      auto seen = seen_;
      OnWriteDone(ok);
      Leave(seen.get(), this);
    });
  }
  void Finish(const grpc::Status& s) {
    grid::MutexLock l(&seen_->mu);
    ++seen_->finishes;
    seen_->status = s.error_code();
    seen_->finished = true;
    MaybeDone(seen_.get(), this);
  }
  // The client cancels (the test's thread). As in gRPC, OnCancel may come
  // after Finish (the cancel raced the status), never after OnDone.
  static void Cancel(const std::shared_ptr<Seen>& seen, FakeStream* s, boost::asio::thread_pool* io) {
    {
      grid::MutexLock l(&seen->mu);
      if (seen->done_called || seen->cancelled) return;
      seen->cancelled = true;
      ++seen->reactions;
    }
    boost::asio::post(*io, [seen, s] {
      s->OnCancel();
      Leave(seen.get(), s);
    });
  }

 private:
  static void Leave(Seen* seen, FakeStream* s) {
    grid::MutexLock l(&seen->mu);
    --seen->reactions;
    MaybeDone(seen, s);
  }
  static void MaybeDone(Seen* seen, FakeStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seen->mu) {
    if (!seen->finished || seen->reactions > 0 || seen->done_called) return;
    seen->done_called = true;
    boost::asio::post(*s->io_, [s] { s->OnDone(); });
  }

  boost::asio::thread_pool* io_ = nullptr;
  std::shared_ptr<Seen> seen_;
};

// A subscription-shaped stream: one message per record after `after`, up to
// `want` of them, waiting on the tail when it has read everything. With
// `wake_after`, it also wakes itself that often while waiting.
class TailWriter final : public PumpedWriter<uint64_t, FakeCall, FakeStream> {
 public:
  TailWriter(boost::asio::thread_pool* pool, const std::atomic<bool>* stopping, LiveTail* tail,
             std::shared_ptr<Seen> seen, uint64_t want, absl::Duration wake_after)
      : PumpedWriter(pool, stopping, tail),
        tail_(tail),
        seen_(std::move(seen)),
        want_(want),
        wake_after_(wake_after) {}
  ~TailWriter() override {
    grid::MutexLock l(&seen_->mu);
    seen_->reactor_deleted = true;
    seen_->cv.SignalAll();
  }

 private:
  Step Next() override {
    Step step;
    if (sent_ == want_) {
      step.kind = Step::kFinish;
      step.status = grpc::Status::OK;
      return step;
    }
    std::vector<storage::RecordPtr> records;
    switch (tail_->Read(cursor_, 1, 1 << 20, &records)) {
      case LiveTail::ReadResult::kOk:
        cursor_ = records[0]->position;
        ++sent_;
        step.kind = Step::kWrite;
        step.message = cursor_;
        return step;
      case LiveTail::ReadResult::kNothingYet:
        step.kind = Step::kWait;
        step.wait_after = cursor_;
        step.wake_after = wake_after_;
        return step;
      case LiveTail::ReadResult::kFellBehind:
        break;
    }
    step.kind = Step::kFinish;
    step.status = grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "fell behind");
    return step;
  }

  LiveTail* const tail_;
  std::shared_ptr<Seen> seen_;
  const uint64_t want_;
  const absl::Duration wake_after_;
  storage::Position cursor_ = 0;
  uint64_t sent_ = 0;
};

storage::RecordPtr Rec(storage::Position p) {
  auto r = std::make_shared<storage::LogRecord>();
  r->position = p;
  r->wire = "x";
  return r;
}

class PumpedWriterTest : public ::testing::Test {
 protected:
  ~PumpedWriterTest() override {
    pool_.join();
    io_.join();
  }
  // Starts a call; the reactor deletes itself when it is done.
  std::pair<std::shared_ptr<Seen>, FakeStream*> Start(uint64_t want,
                                                      absl::Duration wake_after = absl::InfiniteDuration(),
                                                      std::shared_ptr<Seen> seen = std::make_shared<Seen>()) {
    auto* w = new TailWriter(&pool_, &stopping_, &tail_, seen, want, wake_after);
    w->Bind(&io_, seen);
    w->Start(std::make_unique<FakeCall>(seen));
    return {seen, w};
  }
  void Publish(storage::Position from, storage::Position to) {
    for (storage::Position p = from; p <= to; ++p) tail_.Publish({Rec(p)});
  }
  static void ExpectEndedOnce(Seen& seen, grpc::StatusCode code) {
    ASSERT_TRUE(seen.WaitDeleted()) << "the reactor was never freed";
    grid::MutexLock l(&seen.mu);
    EXPECT_EQ(seen.finishes, 1);
    EXPECT_EQ(seen.access_done, 1);
    ASSERT_TRUE(seen.status.has_value());
    EXPECT_EQ(*seen.status, code);
    for (size_t i = 0; i < seen.messages.size(); ++i) ASSERT_EQ(seen.messages[i], i + 1) << "at " << i;
  }

  boost::asio::thread_pool pool_{2};  // the application pool
  boost::asio::thread_pool io_{2};    // "gRPC's" threads
  std::atomic<bool> stopping_{false};
  LiveTail tail_{0, {.max_records = 1 << 20, .max_bytes = 1 << 30}};
};

TEST_F(PumpedWriterTest, DeliversEveryRecordInOrderWhilePublishing) {
  constexpr uint64_t kN = 3000;
  auto [a, sa] = Start(kN);
  auto [b, sb] = Start(kN);
  std::thread publisher([this] { Publish(1, kN); });
  publisher.join();
  ExpectEndedOnce(*a, grpc::StatusCode::OK);
  ExpectEndedOnce(*b, grpc::StatusCode::OK);
  EXPECT_EQ(a->Count(), kN);
  EXPECT_EQ(b->Count(), kN);
}

TEST_F(PumpedWriterTest, ACancelAtAnyStepEndsTheCallOnceAndFreesIt) {
  std::mt19937 rng(7);
  storage::Position published = 0;
  for (int round = 0; round < 300; ++round) {
    // Some calls wait on the tail with a wake-up timer armed, so that the
    // cancel also races the timer.
    const absl::Duration wake = round % 2 == 0 ? absl::Milliseconds(1) : absl::InfiniteDuration();
    auto [seen, stream] = Start(UINT64_MAX, wake);
    const storage::Position more = rng() % 4;
    std::thread publisher([this, from = published + 1, to = published + more] { Publish(from, to); });
    // A third of the calls are cancelled at once (before or during their
    // first step); the others once they have written what was published,
    // so while they wait on the tail (with or without the timer) or are
    // about to.
    if (round % 3 != 0) {
      publisher.join();
      ASSERT_TRUE(seen->WaitMessages(published + more));
    }
    FakeStream::Cancel(seen, stream, &io_);
    if (publisher.joinable()) publisher.join();
    published += more;
    ExpectEndedOnce(*seen, grpc::StatusCode::CANCELLED);
  }
}

TEST_F(PumpedWriterTest, ACancelRacingTheEndIsHarmless) {
  Publish(1, 4);
  for (int round = 0; round < 300; ++round) {
    // Calls that end by themselves after 0..4 records, cancelled as they
    // run: the cancel may land before, during or after Finish.
    auto [seen, stream] = Start(round % 5);
    FakeStream::Cancel(seen, stream, &io_);
    ASSERT_TRUE(seen->WaitDeleted()) << "round " << round;
    grid::MutexLock l(&seen->mu);
    EXPECT_EQ(seen->finishes, 1);
    EXPECT_EQ(seen->access_done, 1);
    EXPECT_TRUE(seen->status == grpc::StatusCode::OK || seen->status == grpc::StatusCode::CANCELLED);
  }
}

TEST_F(PumpedWriterTest, ABrokenStreamEndsTheCall) {
  Publish(1, 5);
  auto seen = std::make_shared<Seen>();
  {
    grid::MutexLock l(&seen->mu);
    seen->break_next_write = true;
  }
  auto* w = new TailWriter(&pool_, &stopping_, &tail_, seen, 5, absl::InfiniteDuration());
  w->Bind(&io_, seen);
  w->Start(std::make_unique<FakeCall>(seen));
  ExpectEndedOnce(*seen, grpc::StatusCode::CANCELLED);
  EXPECT_EQ(seen->Count(), 1u);
}

TEST_F(PumpedWriterTest, ShutdownEndsWaitingCallsUnavailable) {
  Publish(1, 3);
  std::vector<std::shared_ptr<Seen>> calls;
  calls.reserve(8);
  for (int i = 0; i < 8; ++i) calls.push_back(Start(UINT64_MAX).first);
  // Each has sent what there is (and waits on the tail, or is about to).
  for (auto& c : calls) ASSERT_TRUE(c->WaitMessages(3));
  stopping_.store(true);
  tail_.Close();
  for (auto& c : calls) ExpectEndedOnce(*c, grpc::StatusCode::UNAVAILABLE);
}

TEST_F(PumpedWriterTest, APolicyChangeEndsWaitingCallsPermissionDenied) {
  Publish(1, 2);
  auto [seen, stream] = Start(UINT64_MAX);
  ASSERT_TRUE(seen->WaitMessages(2));  // it has sent all there is: it waits
  seen->deny.store(true);
  tail_.WakeAll();  // what a policy reload does; nothing is published
  ExpectEndedOnce(*seen, grpc::StatusCode::PERMISSION_DENIED);
}

// A reload between a waiting call's re-check and its registration in the
// tail once went unnoticed: the call slept until the next event (forever on
// a quiet server) instead of ending PERMISSION_DENIED.
TEST_F(PumpedWriterTest, APolicyChangeJustAfterTheRecheckStillEndsTheCall) {
  Publish(1, 2);
  auto seen = std::make_shared<Seen>();
  seen->reload_at = 2;  // it has sent all there is and is about to wait
  seen->reload = [this] { tail_.WakeAll(); };
  Start(UINT64_MAX, absl::InfiniteDuration(), seen);
  ExpectEndedOnce(*seen, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(seen->Count(), 2u);
}

}  // namespace
}  // namespace grid::server
