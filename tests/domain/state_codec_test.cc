// The aggregate states' snapshots (domain/state_codec.h): every state a
// simulated county's streams pass through comes back equal from its bytes,
// field by field (AggregateState's == compares every member), and bytes of
// another format or damaged bytes are never taken for a state.
#include "domain/state_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "domain/simulator.h"

namespace grid::domain {
namespace {

TEST(StateCodecTest, EveryStateOfASimulatedCountyComesBackEqual) {
  SimulatorOptions o;
  o.towns = 1;
  o.villages_per_town = 2;
  o.grids_per_village = 3;
  o.households_per_grid = 6;
  // Across a year's end: the cadres' year-end scores and the close.
  o.start = absl::FromCivil(absl::CivilSecond(2025, 12, 12, 8, 0, 0), absl::FixedTimeZone(8 * 3600));
  o.days = 24;
  std::map<std::string, AggregateState> states;
  std::set<size_t> kinds;
  size_t checked = 0;
  bool year_end = false, reversed = false, closed_incident = false, named_units = false;
  Simulate(o, [&](SimBatch&& b) {
    AggregateState& state = states[b.stream];
    for (const auto& e : b.events) Apply(&state, e);
    const std::string bytes = EncodeState(state);
    const std::optional<AggregateState> back = DecodeState(bytes);
    EXPECT_TRUE(back.has_value()) << b.stream;
    EXPECT_TRUE(back.has_value() && *back == state) << b.stream << " after " << state.events << " events";
    EXPECT_EQ(back.has_value() ? EncodeState(*back) : "", bytes) << b.stream;
    kinds.insert(state.agg.index());
    ++checked;
    if (const auto* a = std::get_if<AssessmentState>(&state.agg)) {
      for (const auto& [id, c] : a->cadres) year_end |= c.year_end.has_value();
    }
    if (const auto* l = std::get_if<LedgerState>(&state.agg)) {
      for (const auto& [id, e] : l->entries) reversed |= e.reversed;
    }
    if (const auto* i = std::get_if<IncidentState>(&state.agg))
      closed_incident |= i->closed_at != absl::Time();
    if (const auto* org = std::get_if<OrgState>(&state.agg)) named_units |= !org->units.empty();
    return true;
  });
  EXPECT_GT(checked, 500u);
  // Every kind of aggregate, and the rarer members, came through.
  EXPECT_EQ(kinds.size(), std::variant_size_v<decltype(AggregateState::agg)> - 1);
  EXPECT_TRUE(year_end);
  EXPECT_TRUE(reversed);
  EXPECT_TRUE(closed_incident);
  EXPECT_TRUE(named_units);
}

TEST(StateCodecTest, AnEmptyStateAndTimesAtTheEdgesComeBack) {
  AggregateState empty;
  EXPECT_TRUE(DecodeState(EncodeState(empty)) == empty);
  AggregateState s;
  s.events = 3;
  s.last_occurred_at = absl::FromUnixNanos(-1);  // before 1970, inside a second
  RectificationState r;
  r.ordered = true;
  r.org_path = "350583/101";
  r.deadline = absl::InfiniteFuture();
  s.agg = r;
  EXPECT_TRUE(DecodeState(EncodeState(s)) == s);
  r.deadline = absl::InfinitePast();
  s.agg = r;
  EXPECT_TRUE(DecodeState(EncodeState(s)) == s);
}

TEST(StateCodecTest, AnotherFormatOrDamagedBytesAreNotAState) {
  AggregateState s;
  s.events = 2;
  HouseholdState h;
  h.created = true;
  h.org_path = "350583/101/203/g05";
  h.members["p-1"].relation = grid::v1::HEAD;
  h.event_ids = {"e1", "e2"};
  s.agg = h;
  const std::string bytes = EncodeState(s);
  ASSERT_TRUE(DecodeState(bytes).has_value());
  std::string other = bytes;
  other[0] = static_cast<char>(kStateSnapshotFormat + 1);
  EXPECT_FALSE(DecodeState(other).has_value());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeState(bytes.substr(0, n)).has_value()) << "cut at " << n;
  }
  EXPECT_FALSE(DecodeState(bytes + "x").has_value());
  std::string huge = bytes.substr(0, 3);
  huge.append("\xff\xff\xff\xff\x0f", 5);  // an alternative index far past the last
  EXPECT_FALSE(DecodeState(huge).has_value());
}

}  // namespace
}  // namespace grid::domain
