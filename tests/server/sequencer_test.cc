// The sequencer over the real RocksDB log (in-memory Env): group commit,
// and many threads appending to many streams with no gap, no duplicate and
// per-stream order kept.
#include "server/log/sequencer.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <future>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_events.h"

namespace grid::server {
namespace {

using grid::testing::Batch;
using grid::testing::GridEvent;

// Every case without the pipeline (the default) and with it.
class SequencerTest : public ::testing::TestWithParam<bool> {
 protected:
  static Sequencer::Options Opts() {
    Sequencer::Options o;
    o.pipeline = GetParam();
    return o;
  }
  SequencerTest() : env_(rocksdb::NewMemEnv(rocksdb::Env::Default())) {
    storage::EventLogOptions o;
    o.env = env_.get();
    auto log = storage::EventLog::Open(o, "/db");
    EXPECT_OK(log);
    log_ = *std::move(log);
  }
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<storage::EventLog> log_;
};

TEST_P(SequencerTest, QueuedAppendsCommitAsOneGroup) {
  std::vector<storage::Position> published;
  Sequencer seq(
      log_.get(),
      [&](const std::vector<storage::RecordPtr>& recs) {
        for (const auto& r : recs) published.push_back(r->position);
      },
      Opts());
  constexpr int kN = 50;
  std::vector<std::future<storage::AppendOutcome>> outcomes;
  for (int i = 0; i < kN; ++i) {
    auto p = std::make_shared<std::promise<storage::AppendOutcome>>();
    outcomes.push_back(p->get_future());
    seq.Submit(Batch("s/" + std::to_string(i % 5), {GridEvent("e" + std::to_string(i))}),
               [p](storage::AppendOutcome o) { p->set_value(std::move(o)); });
  }
  seq.Start();  // everything above is waiting: one group, one fsync
  for (int i = 0; i < kN; ++i) {
    auto o = outcomes[i].get();
    ASSERT_OK(o.status);
    EXPECT_EQ(o.events[0].position, static_cast<uint64_t>(i + 1));
  }
  seq.Stop();
  EXPECT_EQ(seq.GetStats().groups, 1u);
  EXPECT_EQ(seq.GetStats().batches, static_cast<uint64_t>(kN));
  ASSERT_EQ(published.size(), static_cast<size_t>(kN));
  EXPECT_EQ(published.back(), static_cast<uint64_t>(kN));
}

TEST_P(SequencerTest, ManyThreadsManyStreamsNoGapNoDuplicateOrderKept) {
  Sequencer seq(log_.get(), nullptr, Opts());
  seq.Start();
  constexpr int kThreads = 8, kPerThread = 300, kStreams = 16;
  // Per thread: the positions it was acknowledged, in its own submit order.
  std::vector<std::vector<storage::AppendedEvent>> acked(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<storage::AppendOutcome> p;
        auto f = p.get_future();
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        seq.Submit(Batch("s/" + std::to_string((t * 7 + i) % kStreams), {GridEvent(id)}),
                   [&p](storage::AppendOutcome o) { p.set_value(std::move(o)); });
        auto o = f.get();
        ASSERT_OK(o.status);
        acked[t].push_back(o.events[0]);
      }
    });
  }
  for (auto& th : threads) th.join();
  seq.Stop();

  const uint64_t total = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(log_->GetHead().position, total);
  auto all = log_->ReadAll(1, storage::Direction::kForwards, total + 10, SIZE_MAX);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), total);
  std::set<std::string> ids;
  std::map<std::string, uint64_t> next_version;
  for (size_t i = 0; i < all->size(); ++i) {
    const auto& r = *(*all)[i];
    EXPECT_EQ(r.position, i + 1);  // dense
    grid::v1::Event e;
    ASSERT_TRUE(e.ParseFromString(r.wire));
    EXPECT_TRUE(ids.insert(e.event_id()).second) << "duplicate " << e.event_id();
    EXPECT_EQ(r.stream_version, next_version[r.stream]++) << r.stream;  // per-stream order
  }
  // Each thread's sequential appends got increasing positions.
  for (const auto& a : acked) {
    for (size_t i = 1; i < a.size(); ++i) EXPECT_LT(a[i - 1].position, a[i].position);
  }
}

// Cluster mode's replicas: another node's groups, applied on the
// sequencer thread before later appends, published like commits; the
// admission hears which streams changed.
class CountingAdmission : public storage::BatchAdmission {
 public:
  void BeginGroup() override {}
  absl::Status Authorize(const storage::AppendBatch&) override { return absl::OkStatus(); }
  absl::Status Admit(const storage::AppendBatch&) override { return absl::OkStatus(); }
  void EndGroup(bool) override {}
  void Applied(absl::Span<const storage::RecordPtr> records) override {
    for (const auto& r : records) applied.push_back(r->stream);
  }
  std::vector<std::string> applied;  // sequencer thread, read after Stop()
};

TEST_P(SequencerTest, AppliedGroupsComeBeforeLaterAppendsAndArePublished) {
  // The groups, as another node's log made them.
  std::vector<std::vector<std::string>> groups;
  {
    auto env = std::unique_ptr<rocksdb::Env>(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    storage::EventLogOptions o;
    o.env = env.get();
    auto other = storage::EventLog::Open(o, "/other");
    ASSERT_OK(other);
    for (int g = 0; g < 3; ++g) {
      storage::AppendBatch b =
          Batch("s/1", {GridEvent(absl::StrCat("a", g)), GridEvent(absl::StrCat("b", g))});
      storage::AppendBatch* p = &b;
      ASSERT_OK((*other)->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status);
      auto recs = (*other)->ReadAll(g * 2 + 1, storage::Direction::kForwards, 2, SIZE_MAX);
      ASSERT_OK(recs);
      groups.push_back({(*recs)[0]->wire, (*recs)[1]->wire});
    }
  }
  std::vector<storage::Position> published;
  CountingAdmission admission;
  Sequencer::Options so = Opts();
  so.admission = &admission;
  Sequencer seq(
      log_.get(),
      [&](const std::vector<storage::RecordPtr>& recs) {
        for (const auto& r : recs) published.push_back(r->position);
      },
      so);
  std::vector<std::future<absl::Status>> applied;
  for (int g = 0; g < 3; ++g) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    applied.push_back(p->get_future());
    seq.SubmitApply(g * 2 + 1, groups[g], [p](absl::Status s) { p->set_value(std::move(s)); });
  }
  auto appended = std::make_shared<std::promise<storage::AppendOutcome>>();
  auto outcome = appended->get_future();
  seq.Submit(Batch("s/1", {GridEvent("after")}, storage::Expected{storage::Expected::kExact, 5}),
             [appended](storage::AppendOutcome o) { appended->set_value(std::move(o)); });
  seq.Start();
  for (auto& a : applied) EXPECT_OK(a.get());
  storage::AppendOutcome o = outcome.get();
  ASSERT_OK(o.status);  // checked against the applied stream: version 5 was there
  EXPECT_EQ(o.events[0].position, 7u);
  // A group that does not continue the log is refused, and stops it.
  auto bad = std::make_shared<std::promise<absl::Status>>();
  auto refused = bad->get_future();
  seq.SubmitApply(9, groups[0], [bad](absl::Status s) { bad->set_value(std::move(s)); });
  EXPECT_EQ(refused.get().code(), absl::StatusCode::kDataLoss);
  seq.Stop();
  EXPECT_EQ(published, (std::vector<storage::Position>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(admission.applied.size(), 6u);
  // After Stop(): refused at once.
  absl::Status after_stop;
  seq.SubmitApply(8, groups[0], [&](absl::Status s) { after_stop = std::move(s); });
  EXPECT_EQ(after_stop.code(), absl::StatusCode::kUnavailable);
}

TEST_P(SequencerTest, SubmitAfterStopFailsUnavailable) {
  Sequencer seq(log_.get(), nullptr, Opts());
  seq.Start();
  seq.Stop();
  absl::Status got;
  seq.Submit(Batch("s/1", {GridEvent("a")}), [&](const storage::AppendOutcome& o) { got = o.status; });
  EXPECT_EQ(got.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log_->GetHead().position, 0u);
}

INSTANTIATE_TEST_SUITE_P(PipelineOnAndOff, SequencerTest, ::testing::Bool());

// The pipeline, over the fault-injecting Env: the WAL's fsyncs can be held
// and failed.
class PipelineTest : public ::testing::Test {
 protected:
  using Env = grid::testing::FaultInjectionEnv;
  PipelineTest() : mem_(rocksdb::NewMemEnv(rocksdb::Env::Default())), env_(mem_.get()) { Open(); }
  void Open() {
    log_.reset();
    storage::EventLogOptions o;
    o.env = &env_;
    o.pipelined = true;
    auto log = storage::EventLog::Open(o, "/db");
    ASSERT_OK(log);
    log_ = *std::move(log);
  }
  // The power goes (no flush on close), unsynced data is lost, the log opens again.
  void PowerCutAndReopen() {
    env_.SetActive(false);
    log_.reset();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetActive(true);
    Open();
  }
  std::future<storage::AppendOutcome> Submit(Sequencer& seq, storage::AppendBatch b) {
    auto p = std::make_shared<std::promise<storage::AppendOutcome>>();
    auto f = p->get_future();
    seq.Submit(std::move(b), [p](storage::AppendOutcome o) { p->set_value(std::move(o)); });
    return f;
  }
  static Sequencer::Options Pipelined() {
    Sequencer::Options o;
    o.pipeline = true;
    return o;
  }
  static bool Reported(const std::future<storage::AppendOutcome>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  static constexpr absl::Duration kWait = absl::Seconds(60);
  std::unique_ptr<rocksdb::Env> mem_;
  Env env_;
  std::unique_ptr<storage::EventLog> log_;
  grid::Mutex mu_;
  std::vector<storage::Position> published_ ABSL_GUARDED_BY(mu_);
  Sequencer::OnCommit Publish() {
    return [this](const std::vector<storage::RecordPtr>& recs) {
      grid::MutexLock l(&mu_);
      for (const auto& r : recs) published_.push_back(r->position);
    };
  }
  std::vector<storage::Position> Published() {
    grid::MutexLock l(&mu_);
    return published_;
  }
};

TEST_F(PipelineTest, TheNextGroupIsCheckedAndWrittenWhileOneSyncs) {
  Sequencer seq(log_.get(), Publish(), Pipelined());
  seq.Start();
  env_.Hold(Env::kSync, ".log");
  auto a = Submit(seq, Batch("s/1", {GridEvent("a")}));
  ASSERT_TRUE(env_.AwaitHeld(1, kWait));  // a's group is written; its fsync waits
  const uint64_t wal_writes = env_.ops(Env::kWrite, ".log");
  // Checked against a, which is not durable yet: b continues its version.
  auto b = Submit(seq, Batch("s/1", {GridEvent("b")}, storage::Expected{storage::Expected::kExact, 0}));
  ASSERT_TRUE(env_.AwaitOps(Env::kWrite, ".log", wal_writes + 1, kWait));  // b's group is written

  // Neither is reported, published or readable before its fsync.
  EXPECT_FALSE(Reported(a));
  EXPECT_FALSE(Reported(b));
  EXPECT_TRUE(Published().empty());
  EXPECT_EQ(log_->GetHead().position, 0u);
  auto stream_head = log_->StreamHead("s/1");
  ASSERT_OK(stream_head);
  EXPECT_EQ(*stream_head, std::nullopt);
  auto read = log_->ReadAll(1, storage::Direction::kForwards, 10, SIZE_MAX);
  ASSERT_OK(read);
  EXPECT_TRUE(read->empty());

  env_.Release();
  auto got_a = a.get();
  auto got_b = b.get();
  ASSERT_OK(got_a.status);
  ASSERT_OK(got_b.status);
  EXPECT_EQ(got_a.events[0].position, 1u);
  EXPECT_EQ(got_b.events[0].position, 2u);
  EXPECT_EQ(got_b.stream_version, 1u);
  seq.Stop();
  EXPECT_EQ(Published(), (std::vector<storage::Position>{1, 2}));
  EXPECT_EQ(log_->GetHead().position, 2u);
  // The fsyncs the groups waited for made them durable: a power cut now
  // (no flush on close) keeps both.
  PowerCutAndReopen();
  EXPECT_EQ(log_->GetHead().position, 2u);
}

TEST_F(PipelineTest, AFailedFsyncFailsEveryGroupWaitingForItAndStopsTheLog) {
  Sequencer seq(log_.get(), Publish(), Pipelined());
  seq.Start();
  env_.Hold(Env::kSync, ".log");
  auto a = Submit(seq, Batch("s/1", {GridEvent("a")}));
  ASSERT_TRUE(env_.AwaitHeld(1, kWait));
  // A retry of a, answered from a's unsynced entry in a group that writes
  // nothing: it may not be told once a's fsync fails.
  auto retry = Submit(seq, Batch("s/1", {GridEvent("a")}));
  const absl::Time deadline = absl::Now() + kWait;
  while (seq.GetStats().unsynced < 2 && absl::Now() < deadline) std::this_thread::yield();
  ASSERT_EQ(seq.GetStats().unsynced, 2u);  // a's group, syncing; the retry's, answered and waiting
  EXPECT_FALSE(Reported(retry));
  // Taken after a's fsync failed: refused as the log stopped.
  auto b = Submit(seq, Batch("s/2", {GridEvent("b")}));
  env_.AddRule({.op = Env::kSync, .pattern = ".log", .nth = 1});  // the held fsync fails
  env_.Release();
  for (auto* f : {&a, &retry, &b}) {
    const storage::AppendOutcome o = f->get();
    EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable) << o.status;
    EXPECT_TRUE(o.events.empty());
  }
  EXPECT_EQ(log_->WriteHealth().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Submit(seq, Batch("s/3", {GridEvent("d")})).get().status.code(), absl::StatusCode::kUnavailable);
  seq.Stop();
  EXPECT_TRUE(Published().empty());
  EXPECT_EQ(log_->GetHead().position, 0u);
  PowerCutAndReopen();
  EXPECT_EQ(log_->GetHead().position, 0u);
}

}  // namespace
}  // namespace grid::server
