// The aggregate states' snapshots (domain/state_codec.h): every state a
// simulated county's streams pass through comes back equal from its bytes,
// field by field (AggregateState's == compares every member), and bytes of
// another format or damaged bytes are never taken for a state.
#include "domain/state_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
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
      for (const auto& [id, e] : l->entries.known()) reversed |= e.reversed;
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

// One state of each kind with every member set to something other than its
// default: a member the codec leaves out comes back as its default and
// breaks the equality, whatever the simulator happens to set.
std::vector<AggregateState> EveryMemberSet() {
  const absl::Time t = absl::FromUnixSeconds(1790000000) + absl::Nanoseconds(123);
  std::vector<AggregateState> out;
  auto add = [&](auto agg) {
    AggregateState s;
    s.events = 7;
    s.last_occurred_at = t;
    s.agg = std::move(agg);
    out.push_back(std::move(s));
  };
  OrgState org;
  org.grids["350583/101/203/g01"] = {true, {"w-1", "w-2"}};
  org.active = {"350583/101/203/g02"};
  org.assignments["w-1"] = {"350583/101/203/g02"};
  org.units["350583/101"] = {"350583/102"};
  add(org);
  add(SanitationState{{"f-1", "f-2"}});
  add(RectificationState{true, true, "350583/101/203/g01", t});
  HouseholdState h;
  h.created = true;
  h.dissolved = true;
  h.org_path = "350583/101/203/g01";
  h.head = "pt-1";
  h.members["pt-1"] = {grid::v1::HEAD, true};
  h.event_ids = {"e-1"};
  add(h);
  ProjectState p;
  p.status = ProjectState::Status::kReturned;
  p.revision = 3;
  p.org_path = "350583/101/203";
  p.pending = {{grid::v1::STAGE_UNSPECIFIED, "fgw"}, {static_cast<grid::v1::Stage>(2), "zrzy"}};
  p.returned_by = {static_cast<grid::v1::Stage>(1), "fgw"};
  p.started = t;
  add(p);
  FormTaskState f;
  f.issued = true;
  f.fields["households.count"] = grid::v1::C2_PERSONAL;
  f.target_org_prefix = "350583/101";
  f.due = t;
  f.submissions["sub-1"] = "350583/101/203";
  add(f);
  CatalogState c;
  c.version = 2;
  c.tiers = {"village", "town"};
  c.categories["road"] = {"village", true};
  c.reopen_window_hours = 72;
  c.calendar_years = {2026, 2027};
  add(c);
  IncidentState i;
  i.status = IncidentState::Status::kSuspended;
  i.before_suspension = IncidentState::Status::kDispatched;
  i.org_path = "350583/101/203/g01";
  i.handling_org = "350583/101/203";
  i.handler_org = "350583/101";
  i.department = "zrzy";
  i.source = static_cast<grid::v1::IncidentSource>(2);
  i.self_resolved = true;
  i.extension_pending = true;
  i.extension_asked = 2;
  i.outcome = static_cast<grid::v1::IncidentOutcome>(1);
  i.closed_at = t;
  i.rated = true;
  add(i);
  LedgerState l;
  l.entries["le-1"] = {static_cast<grid::v1::LedgerCategory>(1), -4500, true, true, 2026, 11};
  add(l);
  AssessmentState a;
  a.opened = true;
  a.closed = true;
  a.unit = "350583";
  a.starts_on = absl::CivilDay(2026, 1, 1);
  a.ends_on = absl::CivilDay(2026, 12, 31);
  a.top_permille = 200;
  a.daily_weight_permille = 700;
  a.year_end_weight_permille = 300;
  a.cadres["c-1"] = {"350583/101/203", {{absl::CivilDay(2026, 3, 2), 95}}, 88};
  add(a);
  return out;
}

TEST(StateCodecTest, EveryMemberOfEveryKindComesBack) {
  const std::vector<AggregateState> states = EveryMemberSet();
  ASSERT_EQ(states.size(), std::variant_size_v<decltype(AggregateState::agg)> - 1);
  for (const AggregateState& s : states) {
    const std::optional<AggregateState> back = DecodeState(EncodeState(s));
    ASSERT_TRUE(back.has_value()) << s.agg.index();
    EXPECT_TRUE(*back == s) << "kind " << s.agg.index();
  }
}

// The bytes of the states above are fixed. A change to a state's members or
// to the codec changes them: then kStateSnapshotFormat must be bumped too
// (snapshots of the old format would otherwise be read as the new one), and
// this digest updated. (FNV-1a over the encodings, in order.)
TEST(StateCodecTest, TheEncodingIsTheFormatsEncoding) {
  uint64_t h = 1469598103934665603ull;
  for (const AggregateState& s : EveryMemberSet()) {
    for (unsigned char c : EncodeState(s)) h = (h ^ c) * 1099511628211ull;
  }
  EXPECT_EQ(kStateSnapshotFormat, 3u);
  EXPECT_EQ(h, 2925342263253192600ull)
      << "the states' encoding changed: bump kStateSnapshotFormat and set this digest";
}

// The members of the growing sets and maps (domain/keyed.h) once a store is
// attached: a snapshot holds none of them and decodes as "in the store";
// the dirty ones come out as (key, bytes) a store gives back; a lookup of a
// member memory lacks reads the store, a changed member is dirty again;
// bytes that do not decode are reported, never taken for a member.
class MapStore : public MemberStore {
 public:
  std::optional<std::string> Read(absl::string_view key) const override {
    ++reads;
    auto it = kv.find(std::string(key));
    if (it == kv.end()) return std::nullopt;
    return it->second;
  }
  void Corrupt(absl::string_view key) const override { corrupt.emplace_back(key); }
  std::map<std::string, std::string> kv;
  mutable int reads = 0;
  mutable std::vector<std::string> corrupt;
};

TEST(StateCodecTest, MembersInAStoreAreNotInTheSnapshot) {
  AggregateState s;
  s.events = 2;
  LedgerState l;
  l.entries["e-1"] = {static_cast<grid::v1::LedgerCategory>(1), 4500, false, false, 2026, 11};
  l.entries["e-2"] = {static_cast<grid::v1::LedgerCategory>(2), 100, false, false, 2026, 11};
  s.agg = l;
  auto store = std::make_shared<MapStore>();
  AttachMemberStore(&s, [&] { return store; });
  std::vector<std::pair<std::string, std::string>> dirty;
  DirtyMembers(s, &dirty);
  ASSERT_EQ(dirty.size(), 2u);
  const std::string prefix{static_cast<char>(kStateSnapshotFormat), 'l'};
  EXPECT_EQ(dirty[0].first, prefix + "e-1");
  EXPECT_EQ(dirty[1].first, prefix + "e-2");
  for (auto& [k, v] : dirty) store->kv[k] = v;
  MembersPersisted(&s);

  // The snapshot: no members, and it says they are in the store.
  std::optional<AggregateState> back = DecodeState(EncodeState(s));
  ASSERT_TRUE(back.has_value());
  const auto& entries = std::get<LedgerState>(back->agg).entries;
  EXPECT_TRUE(entries.external());
  EXPECT_TRUE(entries.known().empty());
  EXPECT_LT(EncodeState(s).size(), 16u);

  // Loaded again: a member memory lacks is read from the store.
  AttachMemberStore(&*back, [&] { return store; });
  auto& loaded = std::get<LedgerState>(back->agg).entries;
  auto it = loaded.find("e-2");
  ASSERT_NE(it, loaded.end());
  EXPECT_EQ(it->second.amount_fen, 100);
  EXPECT_FALSE(loaded.contains("e-3"));
  EXPECT_EQ(store->reads, 2);
  loaded["e-1"].reversed = true;  // read, then changed: dirty
  dirty.clear();
  DirtyMembers(*back, &dirty);
  ASSERT_EQ(dirty.size(), 1u);
  store->kv[dirty[0].first] = dirty[0].second;
  MembersPersisted(&*back);
  EXPECT_TRUE(loaded.contains("e-1"));
  EXPECT_TRUE(loaded.find("e-1")->second.reversed);

  store->kv[prefix + "e-9"] = "\xff";  // not an entry's bytes
  EXPECT_FALSE(loaded.contains("e-9"));
  EXPECT_EQ(store->corrupt, std::vector<std::string>{prefix + "e-9"});
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

// A stored snapshot is the last event's id, then the state; the layout is
// what snapshots already on disk have, so it may not change without a
// format bump.
TEST(StateCodecTest, ASnapshotIsTheLastEventsIdThenTheState) {
  AggregateState s;
  s.events = 3;
  s.agg = SanitationState{{"f-1", "f-2"}};
  const std::string id = "report-000003";
  const std::string bytes = EncodeSnapshot(id, s);
  EXPECT_EQ(bytes, std::string(1, static_cast<char>(id.size())) + id + EncodeState(s));
  const std::optional<Snapshot> back = DecodeSnapshot(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->last_event_id, id);
  EXPECT_TRUE(back->state == s);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeSnapshot(bytes.substr(0, n)).has_value()) << "cut at " << n;
  }
  const std::string long_id(300, 'x');  // a two-byte length
  EXPECT_EQ(EncodeSnapshot(long_id, s), std::string("\xac\x02", 2) + long_id + EncodeState(s));
  const std::optional<Snapshot> long_back = DecodeSnapshot(EncodeSnapshot(long_id, s));
  ASSERT_TRUE(long_back.has_value());
  EXPECT_EQ(long_back->last_event_id, long_id);
}

}  // namespace
}  // namespace grid::domain
