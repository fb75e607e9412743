// SharedViews: every subscriber is served exactly what ViewEvent serves it,
// and the subscribers of one view redact each event once between them.
#include "server/access/shared_views.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "domain/simulator.h"
#include "tests/testing/status_matchers.h"

namespace grid::server {
namespace {

// A week of a small county, every event type the simulator makes, as
// records at positions 1, 2, ...
std::vector<storage::LogRecord> County() {
  std::vector<storage::LogRecord> out;
  domain::SimulatorOptions o;
  o.towns = 2;
  o.villages_per_town = 2;
  o.households_per_grid = 3;
  o.days = 4;
  domain::Simulate(o, [&](domain::SimBatch&& b) {
    for (const grid::v1::Event& e : b.events) {
      storage::LogRecord r;
      r.position = out.size() + 1;
      r.stream = b.stream;
      r.type = e.type();
      r.org_path = e.org_path();
      r.wire = e.SerializeAsString();
      out.push_back(std::move(r));
    }
    return true;
  });
  return out;
}

grid::v1::PrincipalPolicy Who(const std::string& name, grid::v1::Role role, const std::string& jurisdiction,
                              grid::v1::DataClass clearance) {
  grid::v1::PrincipalPolicy q;
  q.set_principal(name);
  q.set_role(role);
  q.add_jurisdiction(jurisdiction);
  q.set_clearance(clearance);
  return q;
}

// What ViewEvent serves `p` of `r`: nullopt when hidden.
std::optional<std::string> Served(const Principal& p, const storage::LogRecord& r) {
  std::string redacted;
  auto view = ViewEvent(Reader(p), r, 0, &redacted);
  EXPECT_OK(view);
  if (!view.ok() || *view == EventView::kHidden) return std::nullopt;
  return *view == EventView::kRedacted ? redacted : r.wire;
}

std::optional<std::string> Shared(SharedViews* views, const Principal& p, const storage::LogRecord& r,
                                  bool keep = true) {
  std::shared_ptr<const std::string> redacted;
  auto view = views->View(Reader(p), r, 0, keep, &redacted);
  EXPECT_OK(view);
  if (!view.ok() || *view == EventView::kHidden) return std::nullopt;
  if (*view == EventView::kAsStored) return r.wire;
  EXPECT_NE(redacted, nullptr);
  return redacted == nullptr ? std::string() : *redacted;
}

TEST(SharedViewsTest, EverySubscriberIsServedWhatViewEventServesIt) {
  const std::vector<storage::LogRecord> log = County();
  ASSERT_GT(log.size(), 500u);
  // Views that differ in clearance, in audiences (a dispatcher, an
  // assessor), and principals of one view in different jurisdictions.
  grid::v1::PrincipalPolicy dispatcher =
      Who("dispatch", grid::v1::DEPARTMENT, "350583", grid::v1::C2_PERSONAL);
  dispatcher.add_append_types("IncidentDispatched");
  grid::v1::PrincipalPolicy assessor = Who("org", grid::v1::DEPARTMENT, "350583", grid::v1::C1_INTERNAL);
  assessor.add_append_types("AssessmentPeriodClosed");
  std::vector<std::unique_ptr<Principal>> who;
  for (const grid::v1::PrincipalPolicy& q :
       {Who("leader", grid::v1::LEADER, "350583", grid::v1::C0_AGGREGATE),
        Who("dept", grid::v1::DEPARTMENT, "350583", grid::v1::C1_INTERNAL),
        Who("town-dept", grid::v1::DEPARTMENT, "350583/101", grid::v1::C1_INTERNAL),
        Who("cadre", grid::v1::VILLAGE_CADRE, "350583/101/201", grid::v1::C2_PERSONAL),
        Who("police", grid::v1::DEPARTMENT, "350583", grid::v1::C3_SENSITIVE),
        Who("auditor", grid::v1::AUDITOR, "", grid::v1::C2_PERSONAL),
        Who("admin", grid::v1::ADMIN, "", grid::v1::C4_RESTRICTED), dispatcher, assessor}) {
    who.push_back(std::make_unique<Principal>(q));
  }
  SharedViews views;
  uint64_t needs_parse = 0;  // (event, principal) pairs ViewEvent parses
  for (int round = 0; round < 2; ++round) {
    for (const storage::LogRecord& r : log) {
      for (const auto& p : who) {
        SCOPED_TRACE(::testing::Message()
                     << p->name() << " at position " << r.position << " (" << r.type << ")");
        EXPECT_EQ(Shared(&views, *p, r), Served(*p, r));
        if (round == 0 && Reader(*p).Sees(r.org_path) && !ServedAsStored(*p, r, 0)) ++needs_parse;
      }
    }
    if (round == 0) {
      // "dept" and "town-dept" are one view: the second parses nothing the
      // first has parsed; everyone else's view is its own.
      const SharedViews::Stats s = views.GetStats();
      EXPECT_GT(s.shared, 0u);
      EXPECT_EQ(s.redacted + s.shared, needs_parse);
    }
  }
  // The second time round every view of every event is in the cache.
  const SharedViews::Stats s = views.GetStats();
  EXPECT_EQ(s.redacted + s.shared, 2 * needs_parse);
  EXPECT_LT(s.redacted, needs_parse);
}

TEST(SharedViewsTest, AnEventThatLeftTheCacheIsRedactedAgain) {
  const std::vector<storage::LogRecord> log = County();
  const Principal dept(Who("dept", grid::v1::DEPARTMENT, "350583", grid::v1::C0_AGGREGATE));
  // Count-only: every event with a body is redacted.
  SharedViews views(SharedViews::Options{.max_entries = 64, .max_bytes = 1 << 20});
  for (const storage::LogRecord& r : log) EXPECT_EQ(Shared(&views, dept, r), Served(dept, r));
  const SharedViews::Stats first = views.GetStats();
  EXPECT_EQ(first.shared, 0u);
  // The first event is long gone: redacted again, still right.
  EXPECT_EQ(Shared(&views, dept, log.front()), Served(dept, log.front()));
  EXPECT_EQ(views.GetStats().redacted, first.redacted + 1);
  // The last one is still there.
  EXPECT_EQ(Shared(&views, dept, log.back()), Served(dept, log.back()));
  EXPECT_EQ(views.GetStats().shared, 1u);

  // By bytes: a cache too small for any event keeps none, and serves every
  // event right.
  SharedViews tiny(SharedViews::Options{.max_entries = 1 << 16, .max_bytes = 16});
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Shared(&tiny, dept, log.back()), Served(dept, log.back()));
  EXPECT_EQ(tiny.GetStats().shared, 0u);
  EXPECT_EQ(tiny.GetStats().redacted, 2u);
}

TEST(SharedViewsTest, ACatchUpKeepsNothingButIsServedWhatIsKept) {
  const std::vector<storage::LogRecord> log = County();
  const Principal dept(Who("dept", grid::v1::DEPARTMENT, "350583", grid::v1::C0_AGGREGATE));
  const storage::LogRecord& r = log.back();
  SharedViews views;
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Shared(&views, dept, r, /*keep=*/false), Served(dept, r));
  EXPECT_EQ(views.GetStats().redacted, 2u);
  EXPECT_EQ(views.GetStats().shared, 0u);
  EXPECT_EQ(Shared(&views, dept, r, /*keep=*/true), Served(dept, r));  // a live subscriber
  EXPECT_EQ(Shared(&views, dept, r, /*keep=*/false), Served(dept, r));
  EXPECT_EQ(views.GetStats().redacted, 3u);
  EXPECT_EQ(views.GetStats().shared, 1u);
}

// Defence in depth: one log never has two records at a position, but an
// entry is served only for the record it was made from.
TEST(SharedViewsTest, AnotherRecordAtThePositionIsNeverServedTheKeptView) {
  const std::vector<storage::LogRecord> log = County();
  const Principal dept(Who("dept", grid::v1::DEPARTMENT, "350583", grid::v1::C0_AGGREGATE));
  // Two records the view serves differently, both parsed for it.
  const auto parsed = [&](const storage::LogRecord& r) { return !ServedAsStored(dept, r, 0); };
  auto ia = std::find_if(log.rbegin(), log.rend(), parsed);
  ASSERT_NE(ia, log.rend());
  auto ib = std::find_if(std::next(ia), log.rend(), [&](const storage::LogRecord& r) {
    return parsed(r) && Served(dept, r) != Served(dept, *ia);
  });
  ASSERT_NE(ib, log.rend());
  storage::LogRecord a = *ia;
  storage::LogRecord b = *ib;
  b.position = a.position;
  SharedViews views;
  EXPECT_EQ(Shared(&views, dept, a), Served(dept, a));
  EXPECT_EQ(Shared(&views, dept, b), Served(dept, b));
  EXPECT_EQ(Shared(&views, dept, b), Served(dept, b));  // b's replaced a's
  EXPECT_EQ(views.GetStats().redacted, 2u);
  EXPECT_EQ(views.GetStats().shared, 1u);
  // Same size, another end: still a miss.
  storage::LogRecord c = a;
  c.wire.back() = static_cast<char>(c.wire.back() ^ 1);
  std::shared_ptr<const std::string> redacted;
  (void)views.View(Reader(dept), c, 0, /*keep=*/true, &redacted);  // parsed, or DATA_LOSS: not a hit
  EXPECT_EQ(views.GetStats().shared, 1u);
}

// Subscribers of several views on several threads, in a cache small enough
// that entries come and go while they read: each is served what ViewEvent
// serves it (the TSan build runs this too).
TEST(SharedViewsTest, ConcurrentSubscribersAreEachServedTheirOwnView) {
  const std::vector<storage::LogRecord> log = County();
  std::vector<std::unique_ptr<Principal>> who;
  for (grid::v1::DataClass c : {grid::v1::C0_AGGREGATE, grid::v1::C1_INTERNAL, grid::v1::C2_PERSONAL}) {
    who.push_back(std::make_unique<Principal>(Who("dept", grid::v1::DEPARTMENT, "350583", c)));
  }
  std::vector<std::vector<std::optional<std::string>>> want(who.size());
  for (size_t p = 0; p < who.size(); ++p) {
    for (const auto& r : log) want[p].push_back(Served(*who[p], r));
  }
  SharedViews views(SharedViews::Options{.max_entries = 256, .max_bytes = 1 << 20});
  std::atomic<int> wrong{0};
  std::atomic<bool> go{false};  // all threads start together
  std::vector<std::thread> threads;
  threads.reserve(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      const size_t p = static_cast<size_t>(t) % who.size();
      for (size_t i = 0; i < log.size(); ++i) {
        std::shared_ptr<const std::string> redacted;
        auto view = views.View(Reader(*who[p]), log[i], 0, /*keep=*/true, &redacted);
        std::optional<std::string> got;
        if (view.ok() && *view == EventView::kAsStored) got = log[i].wire;
        if (view.ok() && *view == EventView::kRedacted && redacted != nullptr) got = *redacted;
        if (!view.ok() || got != want[p][i]) wrong.fetch_add(1);
      }
    });
  }
  go.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SharedViewsTest, ARecordThatDoesNotParseIsDataLossForEveryoneOfItsView) {
  storage::LogRecord r;
  r.position = 7;
  r.type = "HouseholdCreated";
  r.org_path = "350583/101/201/g01";
  r.wire = std::string("\x0a\xff\xff\xff", 4);
  const Principal dept(Who("dept", grid::v1::DEPARTMENT, "350583", grid::v1::C1_INTERNAL));
  SharedViews views;
  std::shared_ptr<const std::string> redacted;
  for (int i = 0; i < 2; ++i) {
    auto view = views.View(Reader(dept), r, 0, /*keep=*/true, &redacted);
    EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(view.status().message().find("position 7"), std::string::npos) << view.status();
  }
  EXPECT_EQ(views.GetStats().shared, 0u);
}

}  // namespace
}  // namespace grid::server
