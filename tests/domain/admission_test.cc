// The domain rules inside the log's commit, on the real RocksDB (in-memory
// Env): a batch sees the batches admitted before it in the same group, never
// one that was refused, and state survives a reopen (it is folded from the
// log, not kept beside it).
#include "server/log/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include "domain/events.h"
#include "domain/state_codec.h"
#include "tests/testing/forwarding_log.h"
#include "tests/testing/status_matchers.h"

namespace grid::domain {
namespace {

namespace ev = events;
using storage::AppendBatch;
using storage::Expected;

const absl::Time T0 = absl::FromCivil(absl::CivilDay(2026, 3, 2), absl::UTCTimeZone());

AppendBatch B(std::vector<grid::v1::Event> events, Expected expected = {}) {
  AppendBatch b;
  b.stream = events.front().stream();
  b.expected = expected;
  b.events = std::move(events);
  return b;
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : env_(rocksdb::NewMemEnv(rocksdb::Env::Default())) { Open(); }

  void Open() {
    admission_.reset();
    log_.reset();
    storage::EventLogOptions o;
    o.env = env_.get();
    auto log = storage::EventLog::Open(o, "/db");
    ASSERT_OK(log);
    log_ = *std::move(log);
    admission_ = std::make_unique<server::DomainAdmission>(log_.get(), /*max_cached_streams=*/2);
  }

  std::vector<absl::Status> Group(std::vector<AppendBatch> batches) {
    std::vector<AppendBatch*> ptrs;
    ptrs.reserve(batches.size());
    for (auto& b : batches) ptrs.push_back(&b);
    auto r = log_->Commit(absl::MakeSpan(ptrs), absl::Now(), admission_.get());
    std::vector<absl::Status> out;
    for (auto& o : r.outcomes) out.push_back(o.status);
    return out;
  }

  // Grid `g` defined, worker w-4 on it, and `n` sanitation reports s<j>,
  // one per group, each with finding f<j>.
  void GridWithReports(const std::string& g, int n) {
    ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0), ev::WorkerAssigned("w1", "w-4", g, T0)})})[0]);
    for (int j = 0; j < n; ++j) {
      ASSERT_OK(Group({B({ev::SanitationReport("s" + std::to_string(j), g, "w-4", grid::v1::PATROL, 900,
                                               {"f" + std::to_string(j)}, T0 + absl::Minutes(j))})})[0]);
    }
  }

  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<storage::EventLog> log_;
  std::unique_ptr<server::DomainAdmission> admission_;
};

TEST_F(AdmissionTest, LaterBatchesInAGroupSeeEarlierAdmittedOnes) {
  const std::string g = "350583/101/203/g05";
  auto s = Group({B({ev::GridDefined("g1", g, T0), ev::WorkerAssigned("w1", "w-4", g, T0)}),
                  B({ev::HouseholdCreated("h1", "h-3", g, "p-1", "张三", T0)}),
                  B({ev::SanitationReport("s1", g, "w-4", grid::v1::PATROL, 900, {}, T0)})});
  EXPECT_OK(s[0]);
  EXPECT_OK(s[1]);
  EXPECT_OK(s[2]);
  EXPECT_EQ(log_->GetHead().position, 4u);
}

TEST_F(AdmissionTest, ABatchRefusedByTheLogIsNotSeenByLaterOnes) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g0", "350583/101/203/g01", T0)})})[0]);
  // The grid definition fails its expected version, so the household that
  // needs the grid must be refused too, and nothing is written.
  auto s = Group({B({ev::GridDefined("g1", g, T0)}, {Expected::kNoStream}),
                  B({ev::HouseholdCreated("h1", "h-3", g, "p-1", "张三", T0)})});
  EXPECT_EQ(s[0].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("wrong expected version"));
  EXPECT_EQ(s[1].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s[1].message()),
              ::testing::HasSubstr("events[0] (HouseholdCreated): grid 350583/101/203/g05 is not defined"));
  EXPECT_EQ(log_->GetHead().position, 1u);
}

TEST_F(AdmissionTest, ARefusedEventRefusesItsWholeBatch) {
  const std::string g = "350583/101/203/g05";
  auto s = Group({B({ev::GridDefined("g1", g, T0), ev::GridDefined("g2", g, T0)})});
  EXPECT_EQ(s[0].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("events[1] (GridDefined): grid"));
  EXPECT_EQ(log_->GetHead().position, 0u);
}

// States are updated in place (no copy per batch): a batch refused part way
// must leave nothing of its earlier events behind, in this group or later.
TEST_F(AdmissionTest, ABatchRefusedPartWayLeavesTheStateAsItWas) {
  const std::string g1 = "350583/101/203/g01", g2 = "350583/101/203/g02";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g1, T0), ev::WorkerAssigned("w1", "w-1", g1, T0)})})[0]);
  auto s = Group({B({ev::GridDefined("g2", g2, T0), ev::WorkerAssigned("w2", "w-2", g1, T0),
                     ev::WorkerUnassigned("u1", "w-1", g1, T0), ev::GridDefined("g2b", g2, T0)}),
                  B({ev::WorkerAssigned("w3", "w-3", g2, T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("events[3] (GridDefined): grid"));
  EXPECT_THAT(std::string(s[1].message()), ::testing::HasSubstr("grid 350583/101/203/g02 is not defined"));
  // w-1 is still assigned (its unassignment was taken back), w-2 never was.
  s = Group({B({ev::GridRetired("r1", g1, T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("still has worker w-1 assigned"));
  s = Group({B({ev::WorkerUnassigned("u2", "w-2", g1, T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("worker w-2 is not assigned"));
  EXPECT_OK(Group({B({ev::GridDefined("g2c", g2, T0)})})[0]);
  EXPECT_EQ(log_->GetHead().position, 3u);
}

// The same for the org data's named and recoded units: a recode taken back
// with its batch leaves both codes as they were.
TEST_F(AdmissionTest, ARecodeRefusedWithItsBatchIsTakenBack) {
  const std::string village = "350583/101/203", g1 = village + "/g01";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g1, T0)})})[0]);
  auto s =
      Group({B({ev::OrgUnitRecoded("r1", village, "350583/101/210", T0), ev::GridDefined("g1b", g1, T0)})});
  EXPECT_THAT(std::string(s[0].message()),
              ::testing::HasSubstr("events[1] (GridDefined): org unit 350583/101/203"));
  // Not recoded: grids may still be defined under the old code, and the new
  // code is still free.
  EXPECT_OK(Group({B({ev::GridDefined("g2", village + "/g02", T0)})})[0]);
  EXPECT_OK(Group({B({ev::OrgUnitRecoded("r2", village, "350583/101/210", T0)})})[0]);
  s = Group({B({ev::GridDefined("g3", village + "/g03", T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("was recoded to 350583/101/210"));
}

// The overlap and "still assigned" checks use the org state's indexes; they
// must answer as a scan of every grid would.
TEST_F(AdmissionTest, GridOverlapAndRetirementAnswerAsAScanWould) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0), ev::GridDefined("g2", "350583/101/203/g050", T0)})})[0]);
  auto s = Group({B({ev::GridDefined("a", "350583/101/203", T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("would overlap grid 350583/101/203/g05"));
  s = Group({B({ev::GridDefined("b", g + "/x", T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("would overlap grid " + g + ";"));
  EXPECT_OK(Group({B({ev::GridDefined("c", "350583/101/203/g0", T0)})})[0]);  // a sibling, not a parent
  ASSERT_OK(Group({B({ev::WorkerAssigned("w1", "w-7", g, T0), ev::WorkerAssigned("w2", "w-3", g, T0)})})[0]);
  s = Group({B({ev::GridRetired("r1", g, T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("still has worker w-3 assigned"));
  ASSERT_OK(Group({B({ev::WorkerUnassigned("u1", "w-3", g, T0), ev::WorkerUnassigned("u2", "w-7", g, T0),
                      ev::GridRetired("r2", g, T0)})})[0]);
  // A retired grid overlaps nothing any more (its code is still not reused).
  EXPECT_OK(Group({B({ev::GridDefined("d", g + "/x", T0)})})[0]);
  s = Group({B({ev::GridDefined("e", g, T0)})});
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("was retired; grid codes are not reused"));
}

TEST_F(AdmissionTest, StateIsFoldedFromTheLogAfterReopenAndEviction) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  ASSERT_OK(Group({B({ev::HouseholdCreated("h1", "h-3", g, "p-1", "张三", T0)})})[0]);
  // Touch more streams than the cache holds (2), so h-3 is evicted.
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(Group({B({ev::HouseholdCreated("hx" + std::to_string(i), "h-x" + std::to_string(i), g, "p-9",
                                             "李四", T0)})})[0]);
  }
  EXPECT_LE(admission_->cached_streams(), 2u);
  auto again = Group({B({ev::HouseholdCreated("h2", "h-3", g, "p-1", "张三", T0)})});
  EXPECT_THAT(std::string(again[0].message()), ::testing::HasSubstr("household h-3 already exists"));
  Open();
  again = Group({B({ev::MemberAdded("m1", "h-3", g, "p-1", "张三", grid::v1::MemberAdded::RETURN, T0)})});
  EXPECT_THAT(std::string(again[0].message()), ::testing::HasSubstr("person p-1 is already a member"));
  EXPECT_OK(
      Group({B({ev::MemberAdded("m2", "h-3", g, "p-2", "张小", grid::v1::MemberAdded::BIRTH, T0)})})[0]);
}

// A grid's sanitation stream after years of reports: a cold cache loads its
// state from the snapshot stored with a recent commit and folds only the
// reports after it, never the stream's whole history; and the rules decide
// on that state exactly as on the folded one, for a finding the snapshot
// holds and for one only the reports after it hold.
TEST_F(AdmissionTest, AStateLoadsFromItsSnapshotNotFromTheWholeHistory) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0), ev::WorkerAssigned("w1", "w-4", g, T0)})})[0]);
  for (int i = 0; i < 2000; i += 10) {
    std::vector<grid::v1::Event> events;
    for (int j = i; j < i + 10; ++j) {
      events.push_back(ev::SanitationReport("s" + std::to_string(j), g, "w-4", grid::v1::PATROL, 900,
                                            {"f" + std::to_string(j)}, T0 + absl::Minutes(j)));
    }
    ASSERT_OK(Group({B(std::move(events))})[0]);
  }
  EXPECT_GE(admission_->GetStats().stored_snapshots, 1u);
  Open();  // a restart: every state is cold

  // Snapshots come every 64+ events, so the last one holds f1959 and not
  // f1999; f-none was never reported.
  auto s = Group(
      {B({ev::RectificationOrdered("r1", "f0", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
       B({ev::RectificationOrdered("r2", "f1999", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
       B({ev::RectificationOrdered("r3", "f-none", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
       B({ev::SanitationReport("s-next", g, "w-4", grid::v1::PATROL, 1000, {}, T0 + absl::Hours(41))})});
  EXPECT_OK(s[0]);
  EXPECT_OK(s[1]);
  EXPECT_EQ(s[2].code(), absl::StatusCode::kFailedPrecondition) << s[2];
  EXPECT_OK(s[3]);
  const auto read = admission_->GetStats();
  EXPECT_EQ(read.loaded_snapshots, 1u);
  // The org stream (2 events), the new rectification streams (none) and
  // the sanitation stream's tail after its last snapshot.
  EXPECT_GE(read.folded_events, 2u + 1);
  EXPECT_LE(read.folded_events, 2 + server::DomainAdmission::kSnapshotEveryEvents + 10);
}

// A snapshot that disagrees with the log is never used, however it came
// about: one of another format (the rules changed), one holding more events
// than the stream, one whose last event is not the stream's event at that
// version (another history). Each is injected under a real log.
class InjectedSnapshot : public testing::ForwardingLog {
 public:
  using ForwardingLog::ForwardingLog;
  absl::StatusOr<std::optional<std::string>> ReadState(const std::string& key) const override {
    // The snapshot's key is the stream's name; its members' keys follow it
    // after a NUL.
    if (key.rfind("sanitation/", 0) != 0 || key.find('\0') != std::string::npos) {
      return ForwardingLog::ReadState(key);
    }
    return value;
  }
  std::string value;
};

// A stored snapshot (domain::EncodeSnapshot's layout, built by hand: the
// last event's id, then the state) of a sanitation state holding only
// `finding`.
std::string FakeSnapshot(const std::string& finding, uint64_t events, const std::string& last_event_id,
                         int format_delta = 0) {
  AggregateState state;
  state.events = events;
  state.agg = SanitationState{{finding}};
  std::string bytes = EncodeState(state);
  bytes[0] = static_cast<char>(bytes[0] + format_delta);
  return std::string(1, static_cast<char>(last_event_id.size())) + last_event_id + bytes;
}

TEST_F(AdmissionTest, ASnapshotThatDisagreesWithTheLogIsNotUsed) {
  const std::string g = "350583/101/203/g05";
  GridWithReports(g, 30);
  InjectedSnapshot injected(log_.get());
  // Each claims its own finding, never reported: an order for it passes
  // only if the snapshot is used.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"the right one (the control)", FakeSnapshot("f-fake0", 30, "s29")},
      {"another format", FakeSnapshot("f-fake1", 30, "s29", 1)},
      {"more events than the stream", FakeSnapshot("f-fake2", 31, "s29")},
      {"another last event", FakeSnapshot("f-fake3", 30, "s28")},
  };
  int order = 0;
  for (const auto& [what, value] : cases) {
    injected.value = value;
    server::DomainAdmission cold(&injected);
    const bool control = order == 0;
    const std::string finding = "f-fake" + std::to_string(order);
    std::vector<AppendBatch> batches;
    batches.push_back(B({ev::RectificationOrdered("r" + std::to_string(order++), finding, g,
                                                  T0 + absl::Hours(72), T0 + absl::Hours(40))}));
    AppendBatch* p = &batches[0];
    auto r = injected.Commit(absl::MakeSpan(&p, 1), absl::Now(), &cold).outcomes[0].status;
    // The control proves the injection reaches the rules: its snapshot,
    // used, admits the order for f-fake.
    if (control) {
      EXPECT_OK(r) << what;
      EXPECT_EQ(cold.GetStats().loaded_snapshots, 1u) << what;
    } else {
      EXPECT_EQ(r.code(), absl::StatusCode::kFailedPrecondition) << what << ": " << r;
      // The grid's 30 reports folded from the log; the org stream's state
      // comes from the snapshot the control case's miss stored.
      EXPECT_EQ(cold.GetStats().folded_events, 30u) << what;
      EXPECT_EQ(cold.GetStats().loaded_snapshots, 1u) << what;
    }
  }
}

// A group that is not written stores no snapshot, and the next one that is
// stores it: the snapshot is written with its events or not at all.
class FailingReplicator : public storage::GroupReplicator {
 public:
  absl::Status Replicate(const storage::Head&, const storage::Head&,
                         absl::Span<const storage::RecordPtr>) override {
    return absl::UnavailableError("etcd unreachable");
  }
};

TEST_F(AdmissionTest, AGroupNotWrittenStoresNoSnapshot) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0), ev::WorkerAssigned("w1", "w-4", g, T0)})})[0]);
  const std::string stream = StreamFor("sanitation", g);
  auto batch = [&](int first) {
    std::vector<grid::v1::Event> events;
    for (int j = first; j < first + 10; ++j) {
      events.push_back(ev::SanitationReport("s" + std::to_string(j), g, "w-4", grid::v1::PATROL, 900,
                                            {"f" + std::to_string(j)}, T0 + absl::Minutes(j)));
    }
    return B(std::move(events));
  };
  for (int i = 0; i < 60; i += 10) ASSERT_OK(Group({batch(i)})[0]);
  ASSERT_OK_AND_ASSIGN(auto none, log_->ReadState(stream));
  EXPECT_FALSE(none.has_value());
  // The 64th event is in this group: due, but the group fails.
  FailingReplicator fails;
  AppendBatch b = batch(60);
  AppendBatch* p = &b;
  EXPECT_EQ(
      log_->Commit(absl::MakeSpan(&p, 1), absl::Now(), admission_.get(), &fails).outcomes[0].status.code(),
      absl::StatusCode::kUnavailable);
  ASSERT_OK_AND_ASSIGN(none, log_->ReadState(stream));
  EXPECT_FALSE(none.has_value());
  EXPECT_EQ(admission_->GetStats().stored_snapshots, 0u);
  // Written now: stored with it.
  ASSERT_OK(Group({batch(60)})[0]);
  ASSERT_OK_AND_ASSIGN(auto stored, log_->ReadState(stream));
  EXPECT_TRUE(stored.has_value());
  EXPECT_EQ(admission_->GetStats().stored_snapshots, 1u);
}

// A grid's findings grow with its history; the snapshot holds none of them
// (each is stored under its own key) and a cold order for any of them,
// the oldest or the newest, reads that one key.
TEST_F(AdmissionTest, AColdMissReadsTheMembersItAsksForNotTheHistory) {
  const std::string g = "350583/101/203/g05";
  const std::string stream = StreamFor("sanitation", g);
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0), ev::WorkerAssigned("w1", "w-4", g, T0)})})[0]);
  auto reports = [&](int from, int to) {
    for (int i = from; i < to; i += 10) {
      std::vector<grid::v1::Event> events;
      for (int j = i; j < i + 10; ++j) {
        events.push_back(ev::SanitationReport("s" + std::to_string(j), g, "w-4", grid::v1::PATROL, 900,
                                              {"f" + std::to_string(j)}, T0 + absl::Minutes(j)));
      }
      ASSERT_OK(Group({B(std::move(events))})[0]);
    }
  };
  reports(0, 200);
  ASSERT_OK_AND_ASSIGN(auto small, log_->ReadState(stream));
  ASSERT_TRUE(small.has_value());
  reports(200, 2000);
  ASSERT_OK_AND_ASSIGN(auto later, log_->ReadState(stream));
  ASSERT_TRUE(later.has_value());
  // 1,800 findings later the snapshot is as large (its event count and
  // last event id grew by a digit each at most).
  EXPECT_LE(later->size(), small->size() + 4);
  EXPECT_GE(admission_->GetStats().stored_members, 2000u);

  Open();  // every state cold
  auto s =
      Group({B({ev::RectificationOrdered("r1", "f0", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
             B({ev::RectificationOrdered("r2", "f1999", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
             B({ev::RectificationOrdered("r3", "f-none", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}),
             B({ev::SanitationReport("s-next", g, "w-4", grid::v1::PATROL, 900, {"f-next"},
                                     T0 + absl::Hours(41))})});
  EXPECT_OK(s[0]);
  EXPECT_OK(s[1]);
  EXPECT_EQ(s[2].code(), absl::StatusCode::kFailedPrecondition) << s[2];
  EXPECT_THAT(std::string(s[2].message()), ::testing::HasSubstr("finding f-none was not reported"));
  EXPECT_OK(s[3]);
  const auto st = admission_->GetStats();
  EXPECT_EQ(st.loaded_snapshots, 1u);
  EXPECT_LE(st.folded_events, 2 + server::DomainAdmission::kSnapshotEveryEvents + 10);
  // f0 and f-none at least (f1999 may be among the events after the
  // snapshot, folded into memory).
  EXPECT_GE(st.member_reads, 2u);
  // The new finding was stored with its report: after another restart an
  // order for it passes.
  Open();
  EXPECT_OK(Group(
      {B({ev::RectificationOrdered("r4", "f-next", g, T0 + absl::Hours(72), T0 + absl::Hours(42))})})[0]);
}

// A household's few events never reach kSnapshotEveryEvents: the first miss
// folds them from the log and stores what it built with its write, so the
// next miss reads that snapshot and folds nothing (it folded them all again
// at every miss, each event a point read of the log).
TEST_F(AdmissionTest, AMissFoldsAShortStreamOnceThenReadsItsSnapshot) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  ASSERT_OK(Group({B({ev::HouseholdCreated("h0", "h-1", g, "p-0", "张三", T0)})})[0]);
  for (int i = 1; i <= 4; ++i) {
    ASSERT_OK(Group({B({ev::MemberAdded("m" + std::to_string(i), "h-1", g, "p-" + std::to_string(i), "张小",
                                        grid::v1::MemberAdded::BIRTH, T0 + absl::Minutes(i))})})[0]);
  }
  EXPECT_EQ(admission_->GetStats().stored_snapshots, 0u);  // no miss yet: nothing folded
  Open();
  ASSERT_OK(Group({B({ev::MemberAdded("m5", "h-1", g, "p-5", "张小", grid::v1::MemberAdded::BIRTH,
                                      T0 + absl::Minutes(5))})})[0]);
  const auto first = admission_->GetStats();
  EXPECT_EQ(first.loaded_snapshots, 0u);
  EXPECT_EQ(first.folded_events, 5u);
  EXPECT_EQ(first.stored_snapshots, 1u);
  Open();
  // The snapshot holds the member the last append added and the others.
  auto s = Group({B({ev::MemberRemoved("r1", "h-1", g, "p-5", grid::v1::MemberRemoved::MOVE_OUT,
                                       T0 + absl::Minutes(6))}),
                  B({ev::MemberAdded("m6", "h-1", g, "p-2", "张小", grid::v1::MemberAdded::BIRTH,
                                     T0 + absl::Minutes(6))})});
  EXPECT_OK(s[0]);
  EXPECT_EQ(s[1].code(), absl::StatusCode::kFailedPrecondition) << s[1];
  EXPECT_THAT(std::string(s[1].message()), ::testing::HasSubstr("already a member"));
  const auto second = admission_->GetStats();
  EXPECT_EQ(second.loaded_snapshots, 1u);
  EXPECT_EQ(second.folded_events, 0u);
}

// What a cached state holds is kept when it goes: at a clean shutdown
// (TakeCached, stored with PutStates) and when a group's end evicts it, so
// the first miss after a restart or an eviction folds nothing.
TEST_F(AdmissionTest, CachedStatesAreKeptAtShutdownAndEviction) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  auto household = [&](const std::string& h, int members) {
    ASSERT_OK(Group({B({ev::HouseholdCreated(h + "-c", h, g, h + "-p0", "张三", T0)})})[0]);
    for (int i = 1; i <= members; ++i) {
      ASSERT_OK(Group({B({ev::MemberAdded(absl::StrCat(h, "-m", i), h, g, absl::StrCat(h, "-p", i), "张小",
                                          grid::v1::MemberAdded::BIRTH, T0 + absl::Minutes(i))})})[0]);
    }
  };
  // The cache holds two streams: h-1 is evicted by h-2 and h-3 (and the
  // grid's org stream), h-3 stays cached.
  household("h-1", 4);
  household("h-2", 4);
  household("h-3", 4);
  std::vector<std::pair<std::string, std::string>> states;
  EXPECT_EQ(admission_->TakeCached(&states), 2u);  // h-2 and h-3, cached and never stored
  ASSERT_OK(log_->PutStates(states));
  Open();
  auto s = Group({B({ev::MemberAdded("x1", "h-1", g, "h-1-p1", "张小", grid::v1::MemberAdded::BIRTH,
                                     T0 + absl::Hours(1))}),
                  B({ev::MemberRemoved("x3", "h-3", g, "h-3-p4", grid::v1::MemberRemoved::MOVE_OUT,
                                       T0 + absl::Hours(1))})});
  EXPECT_EQ(s[0].code(), absl::StatusCode::kFailedPrecondition) << s[0];  // p1 is a member already
  EXPECT_OK(s[1]);
  const auto st = admission_->GetStats();
  EXPECT_EQ(st.loaded_snapshots, 2u);
  EXPECT_EQ(st.folded_events, 0u);
}

// A ledger's entries (for duplicates and reversals) come back from their
// member keys after a restart, a changed entry (reversed) as it was
// changed; a household's event ids (for corrections, kept in its snapshot)
// from the snapshot and the fold after it.
TEST_F(AdmissionTest, HouseholdEventIdsAndLedgerEntriesSurviveARestart) {
  const std::string g = "350583/101/203/g05", village = "350583/101/203";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  ASSERT_OK(Group({B({ev::HouseholdCreated("h0", "h-1", g, "p-0", "张三", T0)})})[0]);
  for (int i = 1; i <= 80; ++i) {
    ASSERT_OK(Group({B({ev::MemberAdded("m" + std::to_string(i), "h-1", g, "p-" + std::to_string(i), "张小",
                                        grid::v1::MemberAdded::BIRTH, T0 + absl::Minutes(i))})})[0]);
  }
  for (int i = 0; i < 80; ++i) {
    ASSERT_OK(Group({B({ev::LedgerEntry("l" + std::to_string(i), village, "e-" + std::to_string(i), 2026, 2,
                                        grid::v1::OPERATING_INCOME, 100 + i, T0 + absl::Minutes(i))})})[0]);
  }
  Open();
  const absl::Time t = T0 + absl::Hours(3);
  auto s = Group({
      B({ev::HouseholdDataCorrected("c1", "h-1", g, "m1", "p-1", "张晓", t)}),
      B({ev::HouseholdDataCorrected("c2", "h-1", g, "g1", "p-1", "张晓", t)}),
      B({ev::LedgerEntry("x1", village, "e-3", 2026, 3, grid::v1::OPERATING_INCOME, 5, t)}),
      B({ev::LedgerEntry("x2", village, "r-0", 2026, 3, grid::v1::OPERATING_INCOME, 100, t, "e-0")}),
  });
  EXPECT_OK(s[0]);
  EXPECT_EQ(s[1].code(), absl::StatusCode::kFailedPrecondition) << s[1];  // not this household's
  EXPECT_EQ(s[2].code(), absl::StatusCode::kFailedPrecondition) << s[2];  // e-3 is there
  EXPECT_THAT(std::string(s[2].message()), ::testing::HasSubstr("already in the ledger"));
  EXPECT_OK(s[3]);
  // 70 more events on each: their snapshots now lie past the reversal and
  // the correction, so what follows reads the reversal from the member
  // stored with it, not from a fold of the events after the snapshot.
  for (int i = 0; i < 70; ++i) {
    const absl::Time at = t + absl::Minutes(i + 1);
    auto more = Group({B({ev::LedgerEntry("y" + std::to_string(i), village, "f-" + std::to_string(i), 2026, 3,
                                          grid::v1::OPERATING_INCOME, 7, at)}),
                       B({ev::MemberAdded("n" + std::to_string(i), "h-1", g, "q-" + std::to_string(i), "张小",
                                          grid::v1::MemberAdded::BIRTH, at)})});
    ASSERT_OK(more[0]);
    ASSERT_OK(more[1]);
  }
  Open();
  auto again = Group({
      B({ev::LedgerEntry("x3", village, "r-0b", 2026, 3, grid::v1::OPERATING_INCOME, 100, t + absl::Hours(3),
                         "e-0")}),
      B({ev::HouseholdDataCorrected("c3", "h-1", g, "c1", "p-1", "张晓晓", t + absl::Hours(3))}),
  });
  EXPECT_LE(admission_->GetStats().folded_events, 2 * server::DomainAdmission::kSnapshotEveryEvents + 4);
  EXPECT_EQ(again[0].code(), absl::StatusCode::kFailedPrecondition) << again[0];
  EXPECT_THAT(std::string(again[0].message()), ::testing::HasSubstr("already reversed"));
  EXPECT_OK(again[1]);  // the correction's own id is in the household's snapshot
}

// Members go with the write of the batch that made them or not at all: a
// batch refused part way, beside an admitted one on the same (stored,
// cached) ledger, and a group that is not written leave none, and the next
// write of that ledger does not carry them either.
TEST_F(AdmissionTest, MembersOfABatchNotWrittenAreNotStored) {
  const std::string g = "350583/101/203/g05", village = "350583/101/203";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  auto entry = [&](const std::string& id, const std::string& e) {
    return ev::LedgerEntry(id, village, e, 2026, 2, grid::v1::OPERATING_INCOME, 100, T0);
  };
  // "<stream>\0", the format, 'l' (a ledger's entries), the entry id.
  auto stored = [&](const std::string& e) {
    const std::string key =
        StreamFor("ledger", village) + std::string{'\0', static_cast<char>(kStateSnapshotFormat), 'l'} + e;
    auto v = log_->ReadState(key);
    EXPECT_OK(v);
    return v.ok() && v->has_value();
  };
  ASSERT_OK(Group({B({entry("a0", "e-0")})})[0]);
  ASSERT_TRUE(stored("e-0"));  // the control: members are where this test looks
  // The second batch's second event repeats its first's entry: that batch
  // is refused, the first is written.
  auto s = Group({B({entry("a1", "e-1")}), B({entry("a2", "e-a"), entry("a3", "e-a")})});
  EXPECT_OK(s[0]);
  EXPECT_EQ(s[1].code(), absl::StatusCode::kFailedPrecondition) << s[1];
  EXPECT_TRUE(stored("e-1"));
  EXPECT_FALSE(stored("e-a"));
  FailingReplicator fails;
  AppendBatch b = B({entry("b1", "e-b")});
  AppendBatch* p = &b;
  EXPECT_EQ(
      log_->Commit(absl::MakeSpan(&p, 1), absl::Now(), admission_.get(), &fails).outcomes[0].status.code(),
      absl::StatusCode::kUnavailable);
  EXPECT_FALSE(stored("e-b"));
  ASSERT_OK(Group({B({entry("c1", "e-2")})})[0]);  // the next write of the ledger
  EXPECT_TRUE(stored("e-2"));
  EXPECT_FALSE(stored("e-a"));
  EXPECT_FALSE(stored("e-b"));
  Open();
  auto again = Group({B({entry("a4", "e-a")}), B({entry("b2", "e-b")}), B({entry("x", "e-1")})});
  EXPECT_OK(again[0]);
  EXPECT_OK(again[1]);
  EXPECT_EQ(again[2].code(), absl::StatusCode::kFailedPrecondition) << again[2];
}

// A member the rules ask for that cannot be read refuses the batch with the
// read's error, writes nothing, and the same batch passes once reads work.
class FailingMemberReads : public testing::ForwardingLog {
 public:
  using ForwardingLog::ForwardingLog;
  absl::StatusOr<std::optional<std::string>> ReadState(const std::string& key) const override {
    if (fail && key.find('\0') != std::string::npos)
      return absl::UnavailableError("injected: member read failed");
    return ForwardingLog::ReadState(key);
  }
  bool fail = true;
};

TEST_F(AdmissionTest, AMemberThatCannotBeReadRefusesTheBatchAndWritesNothing) {
  const std::string g = "350583/101/203/g05";
  GridWithReports(g, 100);
  FailingMemberReads failing(log_.get());
  server::DomainAdmission cold(&failing);
  const uint64_t head = log_->GetHead().position;
  auto order = [&] {
    AppendBatch b = B({ev::RectificationOrdered("r1", "f3", g, T0 + absl::Hours(72), T0 + absl::Hours(40))});
    AppendBatch* p = &b;
    return failing.Commit(absl::MakeSpan(&p, 1), absl::Now(), &cold).outcomes[0].status;
  };
  absl::Status refused = order();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("member read failed"));
  EXPECT_EQ(log_->GetHead().position, head);
  failing.fail = false;
  EXPECT_OK(order());
  EXPECT_EQ(log_->GetHead().position, head + 1);
}

// Stored member bytes that do not decode refuse the batch that asked with
// DATA_LOSS, naming no stream (the one asked about may not be the
// caller's), write nothing, and leave the next group's batches alone.
class CorruptMemberReads : public testing::ForwardingLog {
 public:
  using ForwardingLog::ForwardingLog;
  absl::StatusOr<std::optional<std::string>> ReadState(const std::string& key) const override {
    auto v = ForwardingLog::ReadState(key);
    if (v.ok() && v->has_value() && key.find('\0') != std::string::npos) **v += "\x7f trailing";
    return v;
  }
};

TEST_F(AdmissionTest, AMemberThatDoesNotDecodeIsDataLossNamingNoStream) {
  const std::string g = "350583/101/203/g05";
  GridWithReports(g, 100);
  CorruptMemberReads corrupt(log_.get());
  server::DomainAdmission cold(&corrupt);
  const uint64_t head = log_->GetHead().position;
  std::vector<AppendBatch> first;
  first.push_back(B({ev::RectificationOrdered("r1", "f3", g, T0 + absl::Hours(72), T0 + absl::Hours(40))}));
  std::vector<AppendBatch*> ptrs = {&first[0]};
  const absl::Status refused = corrupt.Commit(absl::MakeSpan(ptrs), absl::Now(), &cold).outcomes[0].status;
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("does not decode"));
  EXPECT_THAT(std::string(refused.message()), ::testing::Not(::testing::HasSubstr(g)));
  EXPECT_EQ(log_->GetHead().position, head);
  EXPECT_GE(cold.GetStats().member_reads, 1u);
  std::vector<AppendBatch> next;
  next.push_back(B({ev::GridDefined("g2", "350583/101/203/g06", T0)}));
  ptrs = {&next[0]};
  EXPECT_OK(corrupt.Commit(absl::MakeSpan(ptrs), absl::Now(), &cold).outcomes[0].status);
  EXPECT_EQ(log_->GetHead().position, head + 1);
}

// A member read that fails while a state loads (the fold after the
// snapshot reverses an entry older than it) refuses that batch only: the
// next batch of the same group, on another stream, is admitted.
TEST_F(AdmissionTest, AFailedReadWhileLoadingRefusesThatBatchOnly) {
  const std::string g = "350583/101/203/g05", village = "350583/101/203";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  for (int i = 0; i < 70; ++i) {
    ASSERT_OK(Group({B({ev::LedgerEntry("l" + std::to_string(i), village, "e-" + std::to_string(i), 2026, 2,
                                        grid::v1::OPERATING_INCOME, 100, T0)})})[0]);
  }
  // After the snapshot (at 64 events): a reversal of e-0, stored before it.
  ASSERT_OK(Group(
      {B({ev::LedgerEntry("r", village, "r-0", 2026, 2, grid::v1::OPERATING_INCOME, 100, T0, "e-0")})})[0]);
  FailingMemberReads failing(log_.get());
  server::DomainAdmission cold(&failing);
  std::vector<AppendBatch> batches;
  batches.push_back(B({ev::LedgerEntry("n", village, "e-new", 2026, 2, grid::v1::OPERATING_INCOME, 1, T0)}));
  batches.push_back(B({ev::GridDefined("g2", "350583/101/203/g06", T0)}));
  std::vector<AppendBatch*> ptrs = {&batches[0], &batches[1]};
  auto r = failing.Commit(absl::MakeSpan(ptrs), absl::Now(), &cold);
  EXPECT_EQ(r.outcomes[0].status.code(), absl::StatusCode::kUnavailable) << r.outcomes[0].status;
  EXPECT_OK(r.outcomes[1].status);
  EXPECT_GE(cold.GetStats().member_reads, 1u);
}

TEST_F(AdmissionTest, RetriesAreDuplicatesNotRuleViolations) {
  const std::string g = "350583/101/203/g05";
  ASSERT_OK(Group({B({ev::GridDefined("g1", g, T0)})})[0]);
  // The same event again would break "already defined", but it is the same
  // event_id and content: a retry, answered with the original position.
  auto r = Group({B({ev::GridDefined("g1", g, T0)})});
  EXPECT_OK(r[0]);
  EXPECT_EQ(log_->GetHead().position, 1u);
}

}  // namespace
}  // namespace grid::domain
