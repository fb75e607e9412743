// The event log on the real RocksDB (in an in-memory Env): positions,
// versions, expected versions, idempotency, chain, time index, failures.
#include "storage/event_log.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <functional>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "storage/big_endian.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_events.h"

namespace grid::storage {
namespace {

using grid::testing::Batch;
using grid::testing::GridEvent;

class EventLogTest : public ::testing::Test {
 protected:
  EventLogTest() : mem_env_(rocksdb::NewMemEnv(rocksdb::Env::Default())) { options_.env = mem_env_.get(); }

  void Open() {
    log_.reset();
    auto log = EventLog::Open(options_, "/db");
    ASSERT_OK(log);
    log_ = *std::move(log);
  }

  // Commits one batch alone and returns its outcome.
  AppendOutcome Commit(AppendBatch b, absl::Time now = absl::Now()) {
    AppendBatch* p = &b;
    return std::move(log_->Commit(absl::MakeSpan(&p, 1), now).outcomes[0]);
  }

  std::vector<RecordPtr> All() {
    auto r = log_->ReadAll(1, Direction::kForwards, 1 << 20, SIZE_MAX);
    EXPECT_OK(r);
    return r.ok() ? *r : std::vector<RecordPtr>{};
  }

  std::unique_ptr<rocksdb::Env> mem_env_;
  EventLogOptions options_;
  std::unique_ptr<EventLog> log_;
  // Changes the RocksDB under the (closed) log directly, as damage would:
  // `edit` gets the database and its column families by name.
  void Damage(
      const std::function<void(rocksdb::DB*, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& edit) {
    log_.reset();
    rocksdb::Options o;
    o.env = mem_env_.get();
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, "/db", &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.reserve(names.size());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, "/db", cfs, &handles, &db).ok());
    std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
    for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
    edit(db, by_name);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
    Open();
  }
};

TEST_F(EventLogTest, EmptyLogHasGenesisHead) {
  Open();
  Head h = log_->GetHead();
  EXPECT_EQ(h.position, 0u);
  EXPECT_EQ(h.chain, kGenesisChain);
  EXPECT_TRUE(All().empty());
}

TEST_F(EventLogTest, PositionsAndVersionsAreDense) {
  Open();
  auto a = Commit(Batch("household/h-1", {GridEvent("e1"), GridEvent("e2")}));
  auto b = Commit(Batch("household/h-2", {GridEvent("e3")}));
  auto c = Commit(Batch("household/h-1", {GridEvent("e4")}));
  ASSERT_OK(a.status);
  ASSERT_OK(b.status);
  ASSERT_OK(c.status);
  EXPECT_EQ(a.events[0].position, 1u);
  EXPECT_EQ(a.events[1].position, 2u);
  EXPECT_EQ(a.events[1].stream_version, 1u);
  EXPECT_EQ(b.events[0].position, 3u);
  EXPECT_EQ(b.events[0].stream_version, 0u);
  EXPECT_EQ(c.events[0].position, 4u);
  EXPECT_EQ(c.events[0].stream_version, 2u);
  EXPECT_EQ(c.stream_version, 2u);

  auto all = All();
  ASSERT_EQ(all.size(), 4u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]->position, i + 1);

  auto h1 = log_->ReadStream("household/h-1", 0, Direction::kForwards, 100, SIZE_MAX);
  ASSERT_OK(h1);
  ASSERT_EQ(h1->size(), 3u);
  EXPECT_EQ((*h1)[2]->position, 4u);
  EXPECT_EQ((*h1)[2]->stream_version, 2u);
  grid::v1::Event e;
  ASSERT_TRUE(e.ParseFromString((*h1)[2]->wire));
  EXPECT_EQ(e.event_id(), "e4");
  EXPECT_EQ(e.position(), 4u);
  EXPECT_EQ(e.actor().principal(), "test");
  EXPECT_EQ(e.chain().size(), 32u);
}

// HasEventAt answers from two index entries what reading the event would
// (the base class's answer, which reads it), for the stream's own events,
// another stream's, other versions and unknown ids or streams.
TEST_F(EventLogTest, HasEventAtAnswersAsReadingTheEventWould) {
  Open();
  ASSERT_OK(Commit(Batch("household/h-1", {GridEvent("e1"), GridEvent("e2")})).status);
  ASSERT_OK(Commit(Batch("household/h-2", {GridEvent("e3")})).status);
  ASSERT_OK(Commit(Batch("household/h-1", {GridEvent("e4")})).status);
  struct Case {
    std::string stream;
    uint64_t version;
    std::string id;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"household/h-1", 0, "e1", true},   {"household/h-1", 1, "e2", true},
      {"household/h-1", 2, "e4", true},   {"household/h-2", 0, "e3", true},
      {"household/h-1", 1, "e1", false},  {"household/h-2", 0, "e1", false},
      {"household/h-1", 3, "e4", false},  {"household/h-1", 0, "unknown", false},
      {"household/none", 0, "e1", false},
  };
  for (const Case& c : cases) {
    const std::string what = absl::StrCat(c.stream, " v", c.version, " ", c.id);
    auto fast = log_->HasEventAt(c.stream, c.version, c.id);
    ASSERT_OK(fast) << what;
    EXPECT_EQ(*fast, c.expected) << what;
    auto read = log_->EventLog::HasEventAt(c.stream, c.version, c.id);
    ASSERT_OK(read) << what;
    EXPECT_EQ(*read, c.expected) << what;
  }
}

TEST_F(EventLogTest, BackwardsReads) {
  Open();
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(Commit(Batch("s/1", {GridEvent("e" + std::to_string(i))})).status);
  }
  auto r = log_->ReadAll(100, Direction::kBackwards, 3, SIZE_MAX);
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0]->position, 5u);
  EXPECT_EQ((*r)[2]->position, 3u);
  auto s = log_->ReadStream("s/1", 1, Direction::kBackwards, 10, SIZE_MAX);
  ASSERT_OK(s);
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0]->stream_version, 1u);
  EXPECT_EQ((*s)[1]->stream_version, 0u);
}

// Pipelined commits: a group written by CommitUnsynced() is seen by the
// thread that commits (the next group's checks, the admission's reads) and
// by no other until Sync(), also not through a stream's index. Files that
// cannot sync while written (as an in-memory Env's): Sync() is a synced
// empty write, and a power cut after it keeps the group.
TEST_F(EventLogTest, AnUnsyncedGroupIsSeenOnlyByTheCommittingThreadUntilSync) {
  grid::testing::FaultInjectionEnv env(mem_env_.get());
  env.SetSyncThreadSafe(false);
  options_.env = &env;
  options_.pipelined = true;
  Open();
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("e0")})).status);
  AppendBatch b = Batch("s/1", {GridEvent("e1")}, Expected{Expected::kExact, 0});
  AppendBatch* p = &b;
  CommitResult r = log_->CommitUnsynced(absl::MakeSpan(&p, 1), absl::Now(), nullptr, nullptr);
  ASSERT_OK(r.outcomes[0].status);
  EXPECT_EQ(r.outcomes[0].events[0].position, 2u);
  ASSERT_EQ(r.committed.size(), 1u);

  auto own_head = log_->StreamHead("s/1");
  ASSERT_OK(own_head);
  EXPECT_EQ(**own_head, 1u);
  auto own = log_->ReadStream("s/1", 1, Direction::kForwards, 10, SIZE_MAX);
  ASSERT_OK(own);
  EXPECT_EQ(own->size(), 1u);
  EXPECT_TRUE(log_->HasEventAt("s/1", 1, "e1").value_or(false));
  // The next group is checked against it: its event id is taken.
  AppendBatch again = Batch("s/2", {GridEvent("e1")});
  p = &again;
  EXPECT_EQ(
      log_->CommitUnsynced(absl::MakeSpan(&p, 1), absl::Now(), nullptr, nullptr).outcomes[0].status.code(),
      absl::StatusCode::kFailedPrecondition);

  // What another thread sees: the synced head, positions and versions.
  auto seen = [&](Position* head, std::optional<uint64_t>* stream_head, size_t* backwards, size_t* all,
                  bool* has_e1) {
    std::thread([&] {
      *head = log_->GetHead().position;
      auto has = log_->HasEventAt("s/1", 1, "e1");
      ASSERT_OK(has);
      *has_e1 = *has;
      auto h = log_->StreamHead("s/1");
      ASSERT_OK(h);
      *stream_head = *h;
      auto back = log_->ReadStream("s/1", UINT64_MAX, Direction::kBackwards, 10, SIZE_MAX);
      ASSERT_OK(back);
      *backwards = back->size();
      auto fwd = log_->ReadStream("s/1", 1, Direction::kForwards, 10, SIZE_MAX);
      ASSERT_OK(fwd);
      EXPECT_LE(fwd->size(), *backwards);
      auto recs = log_->ReadAll(1, Direction::kForwards, 10, SIZE_MAX);
      ASSERT_OK(recs);
      *all = recs->size();
    }).join();
  };
  Position head = 0;
  std::optional<uint64_t> stream_head;
  size_t backwards = 0, all = 0;
  bool has_e1 = true;
  seen(&head, &stream_head, &backwards, &all, &has_e1);
  EXPECT_EQ(head, 1u);
  EXPECT_EQ(stream_head, 0u);
  EXPECT_EQ(backwards, 1u);  // version 0, not nothing
  EXPECT_EQ(all, 1u);
  EXPECT_FALSE(has_e1);

  ASSERT_OK(log_->Sync());
  seen(&head, &stream_head, &backwards, &all, &has_e1);
  EXPECT_EQ(head, 2u);
  EXPECT_EQ(stream_head, 1u);
  EXPECT_EQ(backwards, 2u);
  EXPECT_EQ(all, 2u);
  EXPECT_TRUE(has_e1);
  // Durable: a power cut now (no flush on close) keeps it.
  env.SetActive(false);
  log_.reset();
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  env.SetActive(true);
  Open();
  EXPECT_EQ(log_->GetHead().position, 2u);
  log_.reset();  // before `env`
}

// A reader goes on with one iterator from call to call (a Read's messages,
// a subscription's catch-up) and reads exactly what ReadAll() would.
TEST_F(EventLogTest, AReaderKeepsItsIteratorAndReadsWhatReadAllDoes) {
  Open();
  for (int i = 0; i < 40; ++i) ASSERT_OK(Commit(Batch("s/1", {GridEvent(absl::StrCat("e", i))})).status);
  auto reader = log_->NewReader(Direction::kForwards);
  std::vector<Position> got;
  for (Position from = 1;;) {
    auto r = reader->Read(from, 7, SIZE_MAX);
    ASSERT_OK(r);
    if (r->empty()) break;
    for (const RecordPtr& rec : *r) got.push_back(rec->position);
    from = r->back()->position + 1;
  }
  ASSERT_EQ(got.size(), 40u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 1);
  EXPECT_EQ(reader->GetStats().iterators, 1u);
  EXPECT_EQ(reader->GetStats().seeks, 1u);

  // Commits after its iterator was made: read on, with a new one.
  for (int i = 40; i < 45; ++i) ASSERT_OK(Commit(Batch("s/1", {GridEvent(absl::StrCat("e", i))})).status);
  auto more = reader->Read(41, 100, SIZE_MAX);
  ASSERT_OK(more);
  ASSERT_EQ(more->size(), 5u);
  EXPECT_EQ(more->front()->position, 41u);
  EXPECT_EQ(more->back()->wire, All().back()->wire);
  EXPECT_EQ(reader->GetStats().iterators, 2u);

  // A start elsewhere (a caller that used only part of what it read) seeks.
  auto again = reader->Read(10, 2, SIZE_MAX);
  ASSERT_OK(again);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0]->position, 10u);
  EXPECT_EQ((*again)[1]->position, 11u);
  EXPECT_EQ(reader->GetStats().seeks, 3u);

  // Backwards, from past the head, as ReadAll().
  auto back = log_->NewReader(Direction::kBackwards);
  auto b1 = back->Read(1000, 3, SIZE_MAX);
  ASSERT_OK(b1);
  ASSERT_EQ(b1->size(), 3u);
  EXPECT_EQ(b1->front()->position, 45u);
  auto b2 = back->Read(b1->back()->position - 1, 100, SIZE_MAX);
  ASSERT_OK(b2);
  ASSERT_EQ(b2->size(), 42u);
  EXPECT_EQ(b2->back()->position, 1u);
  EXPECT_EQ(back->GetStats().seeks, 1u);
  auto none = back->Read(0, 10, SIZE_MAX);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(EventLogTest, AReaderSaysAMissingPositionIsDataLoss) {
  Open();
  for (int i = 0; i < 5; ++i) ASSERT_OK(Commit(Batch("s/1", {GridEvent(absl::StrCat("e", i))})).status);
  Damage([](rocksdb::DB* db, auto& cf) {
    std::string key;
    PutBigEndian64(&key, 3);
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf["events"], key).ok());
  });
  auto reader = log_->NewReader(Direction::kForwards);
  auto r = reader->Read(1, 10, SIZE_MAX);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("position 3 is missing"), std::string::npos) << r.status();
  auto before = reader->Read(1, 2, SIZE_MAX);  // starts over after the error
  ASSERT_OK(before);
  EXPECT_EQ(before->size(), 2u);
  EXPECT_EQ(reader->GetStats().iterators, 2u);
}

TEST_F(EventLogTest, ExpectedVersionConflictsSayTheCurrentVersion) {
  Open();
  ASSERT_OK(Commit(Batch("p/1", {GridEvent("e1")}, {Expected::kNoStream})).status);
  ASSERT_OK(Commit(Batch("p/1", {GridEvent("e2")}, {Expected::kExact, 0})).status);

  auto again = Commit(Batch("p/1", {GridEvent("e3")}, {Expected::kNoStream}));
  EXPECT_EQ(again.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status.message().find("is at version 1"), std::string::npos) << again.status;

  auto stale = Commit(Batch("p/1", {GridEvent("e4")}, {Expected::kExact, 0}));
  EXPECT_EQ(stale.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status.message().find("is at version 1; expected version 0"), std::string::npos)
      << stale.status;

  auto missing = Commit(Batch("p/2", {GridEvent("e5")}, {Expected::kStreamExists}));
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status.message().find("does not exist"), std::string::npos);

  // Refused appends wrote nothing.
  EXPECT_EQ(log_->GetHead().position, 2u);
  EXPECT_OK(Commit(Batch("p/1", {GridEvent("e6")}, {Expected::kStreamExists})).status);
}

TEST_F(EventLogTest, DuplicateEventIdReturnsOriginalPositionsAlsoAfterReopen) {
  Open();
  auto first = Commit(Batch("h/1", {GridEvent("a"), GridEvent("b")}));
  ASSERT_OK(first.status);
  ASSERT_OK(Commit(Batch("h/1", {GridEvent("c")})).status);

  auto dup = Commit(Batch("h/1", {GridEvent("a"), GridEvent("b")}, {Expected::kNoStream}));
  ASSERT_OK(dup.status);  // a retry is not a version conflict
  ASSERT_EQ(dup.events.size(), 2u);
  EXPECT_TRUE(dup.events[0].duplicate);
  EXPECT_EQ(dup.events[0].position, 1u);
  EXPECT_EQ(dup.events[1].position, 2u);
  EXPECT_EQ(log_->GetHead().position, 3u);

  Open();  // reopen: idempotency is permanent
  auto after = Commit(Batch("h/1", {GridEvent("b")}));
  ASSERT_OK(after.status);
  EXPECT_TRUE(after.events[0].duplicate);
  EXPECT_EQ(after.events[0].position, 2u);
  EXPECT_EQ(after.events[0].stream_version, 1u);
  EXPECT_EQ(log_->GetHead().position, 3u);
}

TEST_F(EventLogTest, SameIdWithDifferentContentIsAnError) {
  Open();
  ASSERT_OK(Commit(Batch("h/1", {GridEvent("a", "350583/101")})).status);
  auto other = Commit(Batch("h/1", {GridEvent("a", "350583/102")}));
  EXPECT_EQ(other.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status.message().find("different content"), std::string::npos);
  auto other_stream = Commit(Batch("h/2", {GridEvent("a", "350583/101")}));
  EXPECT_EQ(other_stream.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log_->GetHead().position, 1u);
}

TEST_F(EventLogTest, RequestMixingOldAndNewIdsIsRefused) {
  Open();
  ASSERT_OK(Commit(Batch("h/1", {GridEvent("a")})).status);
  auto mixed = Commit(Batch("h/1", {GridEvent("a"), GridEvent("b")}));
  EXPECT_EQ(mixed.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log_->GetHead().position, 1u);
}

TEST_F(EventLogTest, GroupChecksSeeEarlierBatchesOfTheSameGroup) {
  Open();
  AppendBatch b1 = Batch("h/1", {GridEvent("a")}, {Expected::kNoStream});
  AppendBatch b2 = Batch("h/1", {GridEvent("b")}, {Expected::kExact, 0});
  AppendBatch b3 = Batch("h/1", {GridEvent("a")});  // retry of b1 in the same group
  AppendBatch b4 = Batch("h/1", {GridEvent("c")}, {Expected::kNoStream});
  AppendBatch* group[] = {&b1, &b2, &b3, &b4};
  CommitResult r = log_->Commit(absl::MakeSpan(group), absl::Now());
  ASSERT_OK(r.outcomes[0].status);
  ASSERT_OK(r.outcomes[1].status);
  EXPECT_EQ(r.outcomes[1].events[0].stream_version, 1u);
  ASSERT_OK(r.outcomes[2].status);
  EXPECT_TRUE(r.outcomes[2].events[0].duplicate);
  EXPECT_EQ(r.outcomes[2].events[0].position, 1u);
  EXPECT_EQ(r.outcomes[3].status.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(r.committed.size(), 2u);
  EXPECT_EQ(log_->GetHead().position, 2u);
}

// An empty batch changes nothing, also inside a group that writes its
// stream: the stream's next event is still version 0.
TEST_F(EventLogTest, AnEmptyBatchChangesNothing) {
  Open();
  AppendBatch empty = Batch("h/1", {});
  AppendBatch first = Batch("h/1", {GridEvent("a")}, {Expected::kNoStream});
  AppendBatch* group[] = {&empty, &first};
  CommitResult r = log_->Commit(absl::MakeSpan(group), absl::Now());
  ASSERT_OK(r.outcomes[0].status);
  EXPECT_TRUE(r.outcomes[0].events.empty());
  ASSERT_OK(r.outcomes[1].status);
  ASSERT_EQ(r.outcomes[1].events.size(), 1u);
  EXPECT_EQ(r.outcomes[1].events[0].stream_version, 0u);
  EXPECT_EQ(log_->GetHead().position, 1u);
  auto next = Commit(Batch("h/1", {GridEvent("b")}, {Expected::kExact, 0}));
  ASSERT_OK(next.status);
  EXPECT_EQ(next.events[0].stream_version, 1u);
}

TEST_F(EventLogTest, ChainRecomputesOverStoredBytesAndSurvivesReopen) {
  Open();
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(Commit(Batch("s/" + std::to_string(i % 3), {GridEvent("e" + std::to_string(i))})).status);
  }
  Digest chain = kGenesisChain;
  for (const auto& r : All()) {
    auto parts = SplitWire(r->wire);
    ASSERT_OK(parts);
    chain = ChainLink(chain, r->position, parts->stored);
    EXPECT_EQ(chain, parts->chain) << "position " << r->position;
  }
  EXPECT_EQ(chain, log_->GetHead().chain);
  Open();
  EXPECT_EQ(log_->GetHead().position, 20u);
  EXPECT_EQ(log_->GetHead().chain, chain);
  ASSERT_OK(Commit(Batch("s/x", {GridEvent("after-reopen")})).status);
  auto last = log_->ReadAll(21, Direction::kForwards, 1, SIZE_MAX);
  ASSERT_OK(last);
  auto parts = SplitWire((*last)[0]->wire);
  ASSERT_OK(parts);
  EXPECT_EQ(parts->chain, ChainLink(chain, 21, parts->stored));
}

TEST_F(EventLogTest, TimeIndexFindsPositionsAndRecordedAtNeverDecreases) {
  Open();
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("a"), GridEvent("b")}), t0).status);
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("c")}), t0 + absl::Seconds(10)).status);
  // A clock that steps back does not move recorded_at back.
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("d")}), t0 + absl::Seconds(5)).status);
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("e")}), t0 + absl::Seconds(20)).status);
  auto all = All();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3]->recorded_at, t0 + absl::Seconds(10));

  auto at = [&](absl::Time t, Direction d) {
    auto p = log_->PositionAtTime(t, d);
    EXPECT_OK(p);
    return p.ok() ? *p : 0;
  };
  EXPECT_EQ(at(t0 - absl::Seconds(1), Direction::kForwards), 1u);
  EXPECT_EQ(at(t0, Direction::kForwards), 1u);
  EXPECT_EQ(at(t0 + absl::Seconds(1), Direction::kForwards), 3u);
  EXPECT_EQ(at(t0 + absl::Seconds(15), Direction::kForwards), 5u);
  EXPECT_EQ(at(t0 + absl::Seconds(30), Direction::kForwards), 6u);  // head + 1
  EXPECT_EQ(at(t0 - absl::Seconds(1), Direction::kBackwards), 0u);
  EXPECT_EQ(at(t0 + absl::Seconds(1), Direction::kBackwards), 2u);
  EXPECT_EQ(at(t0 + absl::Seconds(10), Direction::kBackwards), 4u);
  EXPECT_EQ(at(t0 + absl::Seconds(99), Direction::kBackwards), 5u);
}

TEST_F(EventLogTest, FailedWalWriteIsNotAcknowledgedAndLogTurnsReadOnly) {
  grid::testing::FaultInjectionEnv env(mem_env_.get());
  options_.env = &env;
  Open();
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("a")})).status);
  env.AddRule({.op = grid::testing::FaultInjectionEnv::kWrite, .pattern = ".log", .every = 1});
  auto failed = Commit(Batch("s/1", {GridEvent("b")}));
  EXPECT_EQ(failed.status.code(), absl::StatusCode::kUnavailable) << failed.status;
  EXPECT_TRUE(failed.events.empty());
  env.ClearRules();
  // Never retried: later commits fail too, until restart; reads go on.
  auto later = Commit(Batch("s/1", {GridEvent("c")}));
  EXPECT_EQ(later.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(log_->WriteHealth().ok());
  EXPECT_EQ(log_->GetHead().position, 1u);
  EXPECT_EQ(All().size(), 1u);

  Open();  // restart
  EXPECT_OK(log_->WriteHealth());
  EXPECT_EQ(log_->GetHead().position, 1u);
  auto after = Commit(Batch("s/1", {GridEvent("b")}));
  ASSERT_OK(after.status);
  EXPECT_FALSE(after.events[0].duplicate);
  EXPECT_EQ(after.events[0].position, 2u);
  log_.reset();  // before `env`
}

std::string StreamIndexKey(const std::string& stream, uint64_t version) {
  std::string k = stream;
  k.push_back('\0');
  PutBigEndian64(&k, version);
  return k;
}

// Regression: a stream index value was decoded without checking its size
// (an out-of-bounds read on a short value), and a missing entry below the
// stream's head read as the end of the stream.
TEST_F(EventLogTest, DamagedStreamIndexEntriesAreDataLoss) {
  Open();
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("a"), GridEvent("b"), GridEvent("c")})).status);
  Damage([](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["streams"], StreamIndexKey("s/1", 1), "abc").ok());
  });
  auto r = log_->ReadStream("s/1", 0, Direction::kForwards, 10, SIZE_MAX);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("has 3 bytes, not 8"), std::string::npos) << r.status();
  Damage([](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf["streams"], StreamIndexKey("s/1", 1)).ok());
  });
  r = log_->ReadStream("s/1", 0, Direction::kForwards, 10, SIZE_MAX);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("version 1 is missing"), std::string::npos) << r.status();
}

// Regression: a time index key was decoded without checking its size.
TEST_F(EventLogTest, ADamagedTimeIndexKeyIsDataLoss) {
  Open();
  const absl::Time t = absl::FromUnixSeconds(1790000000);
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("a")}), t).status);
  Damage([](rocksdb::DB* db, auto& cf) {
    std::string short_key;
    PutBigEndian64(&short_key, static_cast<uint64_t>(absl::ToUnixMicros(absl::FromUnixSeconds(1790000100))));
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["time_index"], short_key + "xy", "").ok());
  });
  auto p = log_->PositionAtTime(absl::FromUnixSeconds(1790000050), Direction::kForwards);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kDataLoss) << p.status();
}

// A later gridd may add a column family; this one must still open the log
// (a rollback), leaving the family alone. RocksDB refuses to open a database
// without naming every family, so this failed before the log listed them.
TEST_F(EventLogTest, AColumnFamilyOfALaterVersionDoesNotStopTheOpen) {
  Open();
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("a")})).status);
  Damage([](rocksdb::DB* db, auto&) {
    rocksdb::ColumnFamilyHandle* later = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "from_a_later_version", &later).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), later, "k", "v").ok());
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(later).ok());
  });
  ASSERT_NE(log_, nullptr);
  EXPECT_EQ(All().size(), 1u);
  ASSERT_OK(Commit(Batch("s/1", {GridEvent("b")})).status);
  EXPECT_EQ(log_->GetHead().position, 2u);
}

// Cluster mode's two seams: a writer's GroupReplicator sees each placed
// group before it is written, and a replica's Apply() writes those groups
// as they are, into a log that then answers exactly like the writer's.
class RecordingReplicator : public GroupReplicator {
 public:
  absl::Status Replicate(const Head& before, const Head& after,
                         absl::Span<const RecordPtr> records) override {
    if (!refuse.ok()) return refuse;
    EXPECT_EQ(records.front()->position, before.position + 1);
    EXPECT_EQ(records.back()->position, after.position);
    std::vector<std::string> wires;
    for (const RecordPtr& r : records) wires.push_back(r->wire);
    groups.emplace_back(records.front()->position, std::move(wires));
    return absl::OkStatus();
  }
  absl::Status refuse;
  std::vector<std::pair<Position, std::vector<std::string>>> groups;
};

class ApplyTest : public EventLogTest {
 protected:
  void OpenReplica() {
    auto log = EventLog::Open(options_, "/replica");
    ASSERT_OK(log);
    replica_ = *std::move(log);
  }
  // Commits `batches` on the writer as one group through `replicator_`.
  std::vector<AppendOutcome> CommitGroup(std::vector<AppendBatch> batches, absl::Time now = absl::Now()) {
    std::vector<AppendBatch*> ptrs;
    ptrs.reserve(batches.size());
    for (auto& b : batches) ptrs.push_back(&b);
    return log_->Commit(ptrs, now, nullptr, &replicator_).outcomes;
  }
  void ApplyAll() {
    for (auto& [first, wires] : replicator_.groups) ASSERT_OK(replica_->Apply(first, wires));
    replicator_.groups.clear();
  }
  RecordingReplicator replicator_;
  std::unique_ptr<EventLog> replica_;
};

TEST_F(ApplyTest, AnAppliedLogAnswersLikeTheWriters) {
  Open();
  OpenReplica();
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int g = 0; g < 5; ++g) {
    std::vector<AppendBatch> group;
    for (int b = 0; b < 3; ++b) {
      const std::string id = absl::StrCat("e", g, "-", b);
      group.push_back(Batch(absl::StrCat("s/", b), {GridEvent(id + "a"), GridEvent(id + "b")}));
    }
    for (const AppendOutcome& o : CommitGroup(std::move(group), t0 + absl::Seconds(g))) ASSERT_OK(o.status);
  }
  ASSERT_EQ(replicator_.groups.size(), 5u);
  const auto groups = replicator_.groups;
  ApplyAll();
  // Applying is idempotent: a group held already is skipped.
  auto again_applied = replica_->Apply(groups[2].first, groups[2].second);
  ASSERT_OK(again_applied);
  EXPECT_TRUE(again_applied->empty());
  EXPECT_OK(replica_->WriteHealth());

  EXPECT_EQ(replica_->GetHead().position, 30u);
  EXPECT_EQ(replica_->GetHead().chain, log_->GetHead().chain);
  EXPECT_EQ(replica_->GetHead().recorded_at, log_->GetHead().recorded_at);
  auto mine = replica_->ReadAll(1, Direction::kForwards, 100, SIZE_MAX);
  ASSERT_OK(mine);
  const std::vector<RecordPtr> theirs = All();
  ASSERT_EQ(mine->size(), theirs.size());
  for (size_t i = 0; i < theirs.size(); ++i) EXPECT_EQ((*mine)[i]->wire, theirs[i]->wire) << i;
  for (int b = 0; b < 3; ++b) {
    const std::string stream = absl::StrCat("s/", b);
    auto head = replica_->StreamHead(stream);
    ASSERT_OK(head);
    EXPECT_EQ(*head, std::optional<uint64_t>(9));
    auto back = replica_->ReadStream(stream, 9, Direction::kBackwards, 3, SIZE_MAX);
    ASSERT_OK(back);
    ASSERT_EQ(back->size(), 3u);
    EXPECT_EQ((*back)[0]->wire, (*log_->ReadStream(stream, 9, Direction::kBackwards, 1, SIZE_MAX))[0]->wire);
    // The applied indexes name the event at a version as the writer's do.
    const std::string last = absl::StrCat("e4-", b, "b");
    EXPECT_TRUE(replica_->HasEventAt(stream, 9, last).value_or(false)) << stream;
    EXPECT_FALSE(replica_->HasEventAt(stream, 8, last).value_or(true)) << stream;
  }
  for (absl::Duration d : {absl::Seconds(-1), absl::Seconds(2), absl::Milliseconds(3500), absl::Seconds(9)}) {
    for (Direction dir : {Direction::kForwards, Direction::kBackwards}) {
      EXPECT_EQ(*replica_->PositionAtTime(t0 + d, dir), *log_->PositionAtTime(t0 + d, dir)) << d;
    }
  }

  // The replica takes over: a retry of the writer's batch is a duplicate
  // with the original positions, the same id with other content is
  // refused, and new events continue the chain.
  AppendBatch retry = Batch("s/1", {GridEvent("e2-1a"), GridEvent("e2-1b")});
  AppendBatch* p = &retry;
  AppendOutcome again = replica_->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0];
  ASSERT_OK(again.status);
  ASSERT_EQ(again.events.size(), 2u);
  EXPECT_TRUE(again.events[0].duplicate);
  EXPECT_EQ(again.events[0].position, 15u);
  EXPECT_EQ(again.events[1].stream_version, 5u);
  AppendBatch changed = Batch("s/1", {GridEvent("e2-1a", "350583/101/203/g06")});
  p = &changed;
  EXPECT_EQ(replica_->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status.code(),
            absl::StatusCode::kFailedPrecondition);
  AppendBatch next = Batch("s/1", {GridEvent("new")}, Expected{Expected::kExact, 9});
  p = &next;
  AppendOutcome n = replica_->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0];
  ASSERT_OK(n.status);
  EXPECT_EQ(n.events[0].position, 31u);
  EXPECT_EQ(n.events[0].stream_version, 10u);
  auto last = replica_->ReadAll(31, Direction::kForwards, 1, SIZE_MAX);
  ASSERT_OK(last);
  auto parts = SplitWire((*last)[0]->wire);
  ASSERT_OK(parts);
  EXPECT_EQ(parts->chain, ChainLink(log_->GetHead().chain, 31, parts->stored));
}

TEST_F(ApplyTest, AGroupThatDoesNotContinueTheChainStopsTheLog) {
  Open();
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(CommitGroup({Batch("s/1", {GridEvent(absl::StrCat("e", i))})})[0].status);
  }
  // A gap: the group at position 2 arrives first.
  OpenReplica();
  auto gap = replica_->Apply(2, replicator_.groups[1].second);
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kDataLoss) << gap.status();
  EXPECT_EQ(replica_->GetHead().position, 0u);
  EXPECT_EQ(replica_->WriteHealth().code(), absl::StatusCode::kDataLoss);
  AppendBatch b = Batch("s/2", {GridEvent("x")});
  AppendBatch* p = &b;
  EXPECT_EQ(replica_->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status.code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(replica_->Apply(1, replicator_.groups[0].second).status().code(), absl::StatusCode::kDataLoss);

  // A record whose content was changed (its chain field kept): the chain
  // recomputed from its stored bytes differs.
  replica_.reset();
  ASSERT_TRUE(rocksdb::DestroyDB("/replica",
                                 [&] {
                                   rocksdb::Options o;
                                   o.env = mem_env_.get();
                                   return o;
                                 }())
                  .ok());
  OpenReplica();
  ASSERT_OK(replica_->Apply(1, replicator_.groups[0].second));
  std::string forged = replicator_.groups[1].second[0];
  const size_t at = forged.find("g05");
  ASSERT_NE(at, std::string::npos);
  forged[at + 2] = '6';
  auto changed = replica_->Apply(2, {forged});
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kDataLoss) << changed.status();
  EXPECT_NE(changed.status().message().find("chain"), std::string::npos) << changed.status();
  EXPECT_EQ(replica_->GetHead().position, 1u);
  // It stays stopped, also for the true record.
  EXPECT_EQ(replica_->Apply(2, replicator_.groups[1].second).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ApplyTest, AGroupTheReplicatorRefusesIsNotWrittenAndTheLogStaysWritable) {
  Open();
  ASSERT_OK(CommitGroup({Batch("s/1", {GridEvent("a")})})[0].status);
  replicator_.refuse = absl::UnavailableError("lost the writer's place");
  std::vector<AppendOutcome> refused =
      CommitGroup({Batch("s/1", {GridEvent("b")}), Batch("s/1", {GridEvent("a")})});
  EXPECT_EQ(refused[0].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(refused[0].events.empty());
  ASSERT_OK(refused[1].status);  // a duplicate of a committed event needs no write
  EXPECT_TRUE(refused[1].events[0].duplicate);
  EXPECT_EQ(log_->GetHead().position, 1u);
  EXPECT_OK(log_->WriteHealth());
  replicator_.refuse = absl::OkStatus();
  std::vector<AppendOutcome> now = CommitGroup({Batch("s/1", {GridEvent("b")})});
  ASSERT_OK(now[0].status);
  EXPECT_EQ(now[0].events[0].position, 2u);
  EXPECT_EQ(now[0].events[0].stream_version, 1u);
}

}  // namespace
}  // namespace grid::storage
