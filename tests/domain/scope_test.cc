// Writes inside the appender's jurisdiction on every org path they touch
// (domain::CheckScope), generated over the whole catalog: every org-path
// field carries an (org) role; for every event type, moving any touched field
// to another town is refused; an aggregate living in another town answers
// exactly as one that does not exist; a grid worker writes only in its grids.
//
// Regression: a town-A grid worker could move a town-B household into its own
// grid (only the AddressChanged's new address was checked) and merge another
// town's household into one of its own.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "domain/events.h"
#include "domain/rules.h"
#include "grid/v1/options.pb.h"

namespace grid::domain {
namespace {

namespace ev = events;
namespace pb = google::protobuf;
using grid::v1::Event;

const absl::Time T0 = absl::FromCivil(absl::CivilDay(2026, 3, 2), absl::UTCTimeZone());
absl::Time Day(double d) { return T0 + absl::Hours(24 * d); }

constexpr char kTownA[] = "350583/101";
constexpr char kVillageA[] = "350583/101/201";
constexpr char kA1[] = "350583/101/201/g01";  // w-1's grid
constexpr char kA2[] = "350583/101/201/g02";
constexpr char kVillageB[] = "350583/102/301";
constexpr char kB1[] = "350583/102/301/g01";

class World : public StateLookup {
 public:
  absl::StatusOr<const AggregateState*> Get(const std::string& stream) override { return &states_[stream]; }
  void Fold(const Event& e) {
    ASSERT_TRUE(CheckShape(e.stream(), e).ok()) << e.type() << ": " << CheckShape(e.stream(), e);
    absl::Status s = Check(states_[e.stream()], e, *this);
    ASSERT_TRUE(s.ok()) << e.type() << ": " << s;
    Apply(&states_[e.stream()], e);
  }
  // The commit-time answer for `e` appended by `scope`: the scope first, then
  // the rules, as server::DomainAdmission asks them.
  absl::Status Admit(const storage::AppendScope& scope, const Event& e) {
    const AggregateState& own = states_[e.stream()];
    if (absl::Status s = CheckScope(scope, own, e, *this); !s.ok()) return s;
    return Check(own, e, *this);
  }

 private:
  std::map<std::string, AggregateState> states_;
};

// Town A: grids a1 and a2, worker w-1 on a1, households h-a (head p-1, child
// p-2) and h-a2 in a1, a finding and a project of village A, a form task for
// the town. Town B: the same kinds of aggregate (h-b, f-b, pr-b) in b1.
void Seed(World* w) {
  for (const Event& e : std::vector<Event>{
           ev::GridDefined("o1", kA1, Day(0)),
           ev::GridDefined("o2", kA2, Day(0)),
           ev::GridDefined("o3", kB1, Day(0)),
           ev::WorkerAssigned("o4", "w-1", kA1, Day(0)),
           ev::HouseholdCreated("h1", "h-a", kA1, "p-1", "张三", Day(1)),
           ev::MemberAdded("h2", "h-a", kA1, "p-2", "张小", grid::v1::MemberAdded::BIRTH, Day(1)),
           ev::HouseholdCreated("h3", "h-a2", kA1, "p-5", "王五", Day(1)),
           ev::HouseholdCreated("h4", "h-b", kB1, "p-9", "李四", Day(1)),
           ev::HouseholdCreated("h5", "h-a5", kA2, "p-7", "赵六", Day(1)),
           ev::WorkerAssigned("o5", "w-9", kB1, Day(0)),
           ev::SanitationReport("s1", kA1, "w-1", grid::v1::PATROL, 700, {"f-a", "f-a9"}, Day(1)),
           ev::SanitationReport("s2", kB1, "w-9", grid::v1::PATROL, 700, {"f-b"}, Day(1)),
           ev::RectificationOrdered("r1", "f-a", kA1, Day(5), Day(1)),
           ev::RectificationOrdered("r2", "f-b", kB1, Day(5), Day(1)),
           ev::ProjectDeclared("p1", "pr-a", kVillageA, 1, 100000, Day(1)),
           ev::ProjectDeclared("p2", "pr-b", kVillageB, 1, 100000, Day(1)),
           ev::FormTaskIssued("t1", "t-a", "county/agri", kTownA, 3, Day(9), Day(1)),
           ev::FormTaskIssued("t2", "t-b", "county/agri", "350583/102", 3, Day(9), Day(1)),
           ev::IncidentCatalog("c1", ev::StandardIncidentCatalog("350583", 1), Day(0)),
           ev::IncidentReported("i1", "i-a", kA1, "ROAD.DAMAGE", grid::v1::CITIZEN, Day(1)),
           ev::IncidentReported("i2", "i-b", kB1, "ROAD.DAMAGE", grid::v1::CITIZEN, Day(1)),
       }) {
    w->Fold(e);
  }
}

// One event of every catalog type, inside town A (grid a1 where it has one).
std::vector<Event> Samples() {
  using grid::v1::MemberRemoved;
  return {
      ev::GridDefined("x1", "350583/101/201/g03", Day(2)),
      ev::GridRetired("x2", kA2, Day(2)),
      ev::WorkerAssigned("x3", "w-2", kA2, Day(2)),
      ev::WorkerUnassigned("x4", "w-1", kA1, Day(2)),
      ev::SanitationReport("x5", kA1, "w-1", grid::v1::PATROL, 900, {}, Day(2)),
      ev::RectificationOrdered("x6", "f-a9", kA1, Day(6), Day(2)),
      ev::RectificationProgress("x7", "f-a", kA1, Day(2)),
      ev::RectificationReinspected("x8", "f-a", kA1, false, Day(7), Day(2)),
      ev::RectificationExtended("x9", "f-a", kA1, Day(8), Day(2)),
      ev::RectificationEscalated("x10", "f-a", kA1, kTownA, Day(2)),
      ev::HouseholdCreated("x11", "h-a9", kA1, "p-3", "孙七", Day(2)),
      ev::MemberAdded("x12", "h-a", kA1, "p-4", "张二", grid::v1::MemberAdded::BIRTH, Day(2)),
      ev::MemberRemoved("x13", "h-a", kA1, "p-2", MemberRemoved::MOVE_OUT, Day(2)),
      ev::HeadChanged("x14", "h-a", kA1, "p-1", "p-2", Day(2)),
      ev::AddressChanged("x15", "h-a", kA1, kA2, Day(2)),
      ev::HouseholdSplit("x16", "h-a", kA1, "h-a8", {"p-2"}, Day(2)),
      ev::HouseholdMerged("x17", "h-a", kA1, {"h-a2"}, Day(2)),
      ev::HouseholdDissolved("x18", "h-a2", kA1, Day(2)),
      ev::HouseholdDataCorrected("x19", "h-a", kA1, "h2", "p-2", "张晓", Day(2)),
      ev::ProjectDeclared("x20", "pr-a9", kVillageA, 1, 200000, Day(2)),
      ev::StageDecided("x21", "pr-a", kVillageA, 1, grid::v1::TOWN_PRELIMINARY, kTownA, grid::v1::APPROVED,
                       Day(2)),
      ev::ProjectStarted("x22", "pr-a", kVillageA, Day(2)),
      ev::ProjectCompleted("x23", "pr-a", kVillageA, 100000, Day(2)),
      ev::FormTaskIssued("x24", "t-a9", "county/agri", kTownA, 3, Day(9), Day(2)),
      ev::FormSubmitted("x25", "t-a", kVillageA, "s-1", Day(2)),
      ev::IncidentReported("x26", "i-a9", kA1, "ROAD.DAMAGE", grid::v1::GRID_PATROL, Day(2)),
      ev::IncidentAccepted("x27", "i-a", kA1, kVillageA, Day(2)),
      ev::IncidentRejected("x28", "i-a", kA1, kVillageA, grid::v1::IncidentRejected::INVALID, Day(2)),
      ev::IncidentMarkedDuplicate("x29", "i-a", kA1, kVillageA, "i-a0", Day(2)),
      ev::IncidentSelfResolved("x30", "i-a", kA1, Day(2)),
      ev::IncidentDispatched("x31", "i-a", kA1, kVillageA, kTownA, "town-roads", Day(2)),
      ev::IncidentAcknowledged("x32", "i-a", kA1, kTownA, "town-roads", Day(2)),
      ev::IncidentReturned("x33", "i-a", kA1, kTownA, "town-roads", grid::v1::IncidentReturned::OUT_OF_SCOPE,
                           Day(2)),
      ev::IncidentExtensionRequested("x34", "i-a", kA1, kTownA, "town-roads", 60, Day(2)),
      ev::IncidentExtensionDecided("x35", "i-a", kA1, kVillageA, true, 0, Day(2)),
      ev::IncidentSuspended("x36", "i-a", kA1, kVillageA, Day(2)),
      ev::IncidentResumed("x37", "i-a", kA1, kVillageA, Day(2)),
      ev::IncidentEscalated("x38", "i-a", kA1, kVillageA, kTownA, Day(2)),
      ev::IncidentUrged("x39", "i-a", kA1, kTownA, Day(2)),
      ev::IncidentResolutionSubmitted("x40", "i-a", kA1, kTownA, "town-roads", Day(2)),
      ev::IncidentVerified("x41", "i-a", kA1, kA1, true, Day(2)),
      ev::IncidentClosed("x42", "i-a", kA1, kVillageA, grid::v1::RESOLVED, Day(2)),
      ev::IncidentRated("x43", "i-a", kA1, kVillageA, 5, Day(2)),
      ev::IncidentReopened("x44", "i-a", kA1, kVillageA, Day(2)),
      ev::OrgUnitNamed("x45", kVillageA, "溪西村", grid::v1::VILLAGE, Day(2)),
      ev::OrgUnitRecoded("x46", kVillageA, "350583/101/209", Day(2)),
      ev::LedgerEntry("x47", kVillageA, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 100000, Day(2)),
      ev::AssessmentOpened("x48", "p-a", kTownA, "2026-01-01", "2026-12-31", Day(2)),
      ev::CadreScore("x49", "p-a", "c-1", kVillageA, "2026-03-02",
                     {ev::ScoreItem("FORM.ON_TIME", 40, "form_completion", "t-a#350583/101/201", 3)}, Day(2)),
      [] {
        grid::v1::AssessmentPeriodClosed c;
        auto* r = c.add_ranks();
        r->set_cadre_id("c-1");
        r->set_org_path(kVillageA);
        return ev::AssessmentClosed("x50", "p-a", kTownA, c, Day(2));
      }(),
  };
}

// The catalog types whose place is a whole county (the incident catalogue
// and the work calendar): only a county-wide appender writes them.
std::vector<Event> CountySamples() {
  return {
      ev::IncidentCatalog("y1", ev::StandardIncidentCatalog("350583", 2), Day(2)),
      ev::WorkCalendar("y2", "350583", 2026, {"2026-10-01"}, {}, Day(2)),
      ev::WeakVillageThreshold("y3", "350583", 2026, 10000000, Day(2)),
  };
}

storage::AppendScope TownA(std::string worker = "") {
  storage::AppendScope s;
  s.jurisdiction = {kTownA};
  s.worker = std::move(worker);
  return s;
}

// Calls `visit` with a mutable pointer to every string field marked
// (org) = ORG_TOUCHED that is set in `m`, and its dotted name.
void ForEachTouched(
    pb::Message* m, const std::string& path,
    const std::function<void(pb::Message*, const pb::FieldDescriptor*, const std::string&)>& visit) {
  const pb::Reflection* r = m->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const auto* f : fields) {
    const std::string name = path.empty() ? f->name() : path + "." + f->name();
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      ForEachTouched(r->MutableMessage(m, f), name, visit);
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        ForEachTouched(r->MutableRepeatedMessage(m, f, i), name, visit);
      }
    } else if (f->options().GetExtension(grid::v1::org) == grid::v1::ORG_TOUCHED && !f->is_repeated()) {
      visit(m, f, name);
    }
  }
}

TEST(ScopeTest, EveryOrgPathFieldOfTheCatalogHasARole) {
  // A field that holds an org path and says nothing about its role would be
  // left out of the jurisdiction check: every one must carry (org).
  std::set<const pb::Descriptor*> seen;
  std::vector<std::string> missing;
  int marked = 0;
  std::function<void(const pb::Descriptor*)> walk = [&](const pb::Descriptor* d) {
    if (!seen.insert(d).second) return;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      if (f->message_type() != nullptr) {
        // The actor is the server's record of the appender, not a place.
        if (f->message_type()->file()->package() == "grid.v1" && f->name() != "actor") {
          walk(f->message_type());
        }
        continue;
      }
      const bool named_org = absl::StrContains(f->name(), "org");
      const bool has_role = f->options().GetExtension(grid::v1::org) != grid::v1::ORG_ROLE_UNSPECIFIED;
      if (has_role) ++marked;
      if (named_org && !has_role) missing.push_back(f->full_name());
      if (has_role) {
        EXPECT_EQ(f->cpp_type(), pb::FieldDescriptor::CPPTYPE_STRING) << f->full_name();
      }
    }
  };
  walk(Event::descriptor());
  EXPECT_TRUE(missing.empty()) << "org fields without (grid.v1.org): " << missing[0];
  EXPECT_GE(marked, 14);
}

// By value, not only by name: a field of a sample (one event of every type)
// that holds an org path of the county must carry (org) too, whatever it is
// called (a review found the name test would miss, e.g., a `grid` field).
TEST(ScopeTest, EveryFieldHoldingAnOrgPathHasARole) {
  // ProjectStageDecided.department is a department code, or the town's org
  // path for its preliminary review: the project rules require it to be the
  // stage's pending ask, and the policy the departments a principal decides
  // for.
  const std::set<std::string> kChecked = {"grid.v1.ProjectStageDecided.department"};
  std::vector<std::string> missing;
  std::function<void(const pb::Message&)> walk = [&](const pb::Message& m) {
    const pb::Reflection* r = m.GetReflection();
    std::vector<const pb::FieldDescriptor*> set;
    r->ListFields(m, &set);
    for (const pb::FieldDescriptor* f : set) {
      if (f->name() == "actor" || f->name() == "stream") continue;
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
        for (int i = 0; i < n; ++i)
          walk(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
        continue;
      }
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) continue;
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int i = 0; i < n; ++i) {
        const std::string v = f->is_repeated() ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
        if (v.rfind("350583", 0) == 0 &&
            f->options().GetExtension(grid::v1::org) == grid::v1::ORG_ROLE_UNSPECIFIED &&
            !kChecked.contains(f->full_name())) {
          missing.push_back(f->full_name());
        }
      }
    }
  };
  for (const Event& e : Samples()) walk(e);
  EXPECT_TRUE(missing.empty()) << "holds an org path without (grid.v1.org): " << absl::StrJoin(missing, ", ");
}

TEST(ScopeTest, TheSamplesCoverTheCatalogAndAreAllowedInTheirTown) {
  std::set<std::string> types;
  for (const Event& e : Samples()) {
    types.insert(e.type());
    World w;
    Seed(&w);
    EXPECT_TRUE(CheckShape(e.stream(), e).ok()) << e.type() << ": " << CheckShape(e.stream(), e);
    const absl::Status s = CheckScope(TownA(), AggregateState{}, e, w);
    EXPECT_TRUE(s.ok()) << e.type() << ": " << s;
  }
  storage::AppendScope county;
  county.jurisdiction = {"350583"};
  for (const Event& e : CountySamples()) {
    types.insert(e.type());
    World w;
    Seed(&w);
    EXPECT_TRUE(CheckShape(e.stream(), e).ok()) << e.type() << ": " << CheckShape(e.stream(), e);
    EXPECT_TRUE(CheckScope(county, AggregateState{}, e, w).ok()) << e.type();
    const absl::Status town = CheckScope(TownA(), AggregateState{}, e, w);
    EXPECT_EQ(town.code(), absl::StatusCode::kPermissionDenied) << e.type() << ": " << town;
  }
  const auto* oneof = Event::descriptor()->FindOneofByName("body");
  EXPECT_EQ(types.size(), static_cast<size_t>(oneof->field_count()));
}

TEST(ScopeTest, EveryTouchedOrgPathOutsideTheJurisdictionIsRefused) {
  int refused = 0;
  for (const Event& sample : Samples()) {
    Event probe = sample;
    std::vector<std::string> names;
    ForEachTouched(&probe, "", [&](pb::Message*, const pb::FieldDescriptor*, const std::string& n) {
      names.push_back(n);
    });
    ASSERT_FALSE(names.empty()) << sample.type() << " touches no org";
    for (size_t k = 0; k < names.size(); ++k) {
      Event e = sample;
      size_t at = 0;
      ForEachTouched(&e, "", [&](pb::Message* m, const pb::FieldDescriptor* f, const std::string&) {
        if (at++ == k) m->GetReflection()->SetString(m, f, kB1);
      });
      World w;
      Seed(&w);
      const absl::Status s = w.Admit(TownA(), e);
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << e.type() << " " << names[k] << ": " << s;
      EXPECT_TRUE(absl::StrContains(s.message(), kB1)) << s;
      ++refused;
    }
  }
  EXPECT_GE(refused, 30);
}

TEST(ScopeTest, AnAggregateInAnotherTownAnswersAsOneThatDoesNotExist) {
  // Every sample that acts on an existing household, finding or project,
  // pointed at town B's instead (the org paths the caller sends stay in town
  // A): the answer equals the one for an id nobody ever used.
  const std::map<std::string, std::pair<std::string, std::string>> kOther = {
      {"h-a", {"h-b", "h-none"}},    {"h-a2", {"h-b", "h-none"}}, {"f-a", {"f-b", "f-none"}},
      {"pr-a", {"pr-b", "pr-none"}}, {"t-a", {"t-b", "t-none"}},  {"i-a", {"i-b", "i-none"}}};
  int checked = 0;
  for (const Event& sample : Samples()) {
    auto it = kOther.end();
    for (auto i = kOther.begin(); i != kOther.end(); ++i) {
      if (sample.stream().ends_with("/" + i->first)) it = i;
    }
    if (it == kOther.end()) continue;
    const auto retarget = [&](const std::string& to) {
      Event e = sample;
      const std::string from = it->first;
      // The aggregate id sits in the stream and in the body's id field.
      e.set_stream(absl::StrReplaceAll(e.stream(), {{"/" + from, "/" + to}}));
      const pb::Reflection* r = e.GetReflection();
      const auto* body_field = r->GetOneofFieldDescriptor(e, Event::descriptor()->FindOneofByName("body"));
      pb::Message* body = r->MutableMessage(&e, body_field);
      for (const char* id : {"household_id", "finding_id", "project_id", "task_id", "incident_id"}) {
        if (const auto* f = body->GetDescriptor()->FindFieldByName(id);
            f != nullptr && body->GetReflection()->GetString(*body, f) == from) {
          body->GetReflection()->SetString(body, f, to);
        }
      }
      return e;
    };
    World w;
    Seed(&w);
    const absl::Status other = w.Admit(TownA(), retarget(it->second.first));
    const absl::Status none = w.Admit(TownA(), retarget(it->second.second));
    EXPECT_FALSE(other.ok()) << sample.type();
    EXPECT_EQ(other.code(), none.code()) << sample.type() << ": " << other << " / " << none;
    EXPECT_EQ(std::string(other.message()),
              absl::StrReplaceAll(none.message(), {{it->second.second, it->second.first}}))
        << sample.type();
    EXPECT_FALSE(absl::StrContains(other.message(), "350583/102")) << other;
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

TEST(ScopeTest, AHouseholdOfAnotherTownCannotBeMovedOrMergedIn) {
  World w;
  Seed(&w);
  // The attack as found from outside: h-b lives in town B.
  const Event pull = ev::AddressChanged("y1", "h-b", kB1, kA1, Day(2));
  const absl::Status named = w.Admit(TownA(), pull);
  EXPECT_EQ(named.code(), absl::StatusCode::kFailedPrecondition) << named;
  EXPECT_EQ(named.message(), "household h-b does not exist");
  // A first attempt with a guessed old address learns nothing of the real one.
  const absl::Status guessed = w.Admit(TownA(), ev::AddressChanged("y2", "h-b", kA2, kA1, Day(2)));
  EXPECT_EQ(guessed.code(), absl::StatusCode::kFailedPrecondition) << guessed;
  EXPECT_EQ(guessed.message(), "household h-b does not exist");
  // A merge of town B's household into town A's.
  const absl::Status merged = w.Admit(TownA(), ev::HouseholdMerged("y3", "h-a", kA1, {"h-b"}, Day(2)));
  EXPECT_EQ(merged.code(), absl::StatusCode::kFailedPrecondition) << merged;
  EXPECT_EQ(merged.message(), "household h-b does not exist");
  // The county may do all three.
  storage::AppendScope county;
  county.jurisdiction = {"350583"};
  EXPECT_TRUE(w.Admit(county, pull).ok());
  EXPECT_TRUE(w.Admit(county, ev::HouseholdMerged("y3", "h-a", kA1, {"h-b"}, Day(2))).ok());
}

TEST(ScopeTest, AGridWorkerWritesOnlyInItsAssignedGrids) {
  World w;
  Seed(&w);
  const storage::AppendScope worker = TownA("w-1");
  // In its grid: allowed.
  EXPECT_TRUE(
      w.Admit(worker, ev::MemberAdded("z1", "h-a", kA1, "p-4", "张二", grid::v1::MemberAdded::BIRTH, Day(2)))
          .ok());
  // A move out of its grid names a grid it is not assigned to.
  const absl::Status away = w.Admit(worker, ev::AddressChanged("z2", "h-a", kA1, kA2, Day(2)));
  EXPECT_EQ(away.code(), absl::StatusCode::kPermissionDenied) << away;
  EXPECT_TRUE(absl::StrContains(away.message(), "not assigned to grid '350583/101/201/g02'")) << away;
  // A household in another grid of its town answers as absent, moved in or merged.
  const absl::Status in = w.Admit(worker, ev::AddressChanged("z3", "h-a5", kA1, kA1, Day(2)));
  EXPECT_EQ(in.message(), "household h-a5 does not exist") << in;
  const absl::Status merge = w.Admit(worker, ev::HouseholdMerged("z4", "h-a", kA1, {"h-a5"}, Day(2)));
  EXPECT_EQ(merge.message(), "household h-a5 does not exist") << merge;
  // After the worker is unassigned from a1, nothing there is its any more.
  w.Fold(ev::WorkerUnassigned("z5", "w-1", kA1, Day(2)));
  const absl::Status gone =
      w.Admit(worker, ev::SanitationReport("z6", kA1, "w-1", grid::v1::PATROL, 900, {}, Day(3)));
  EXPECT_EQ(gone.code(), absl::StatusCode::kPermissionDenied) << gone;
}

}  // namespace
}  // namespace grid::domain
