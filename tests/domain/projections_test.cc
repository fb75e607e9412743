// Every projection fold, table-driven: a history of events folded in memory,
// then what a department would check in the rows (optionally derived as of a
// moment: overdue, missing, working days).
#include "domain/projections.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "domain/events.h"
#include "domain/rules.h"
#include "tests/testing/memory_rows.h"

namespace grid::domain {
namespace {

namespace ev = events;
using grid::v1::Event;

const absl::TimeZone kChina = absl::FixedTimeZone(8 * 3600);
// Monday 2026-03-02, 09:00 China time.
const absl::Time T0 = absl::FromCivil(absl::CivilSecond(2026, 3, 2, 9, 0, 0), kChina);
absl::Time Day(double d) { return T0 + absl::Hours(24 * d); }

constexpr char kG5[] = "350583/101/203/g05";
constexpr char kG6[] = "350583/101/203/g06";
constexpr char kG1[] = "350583/101/204/g01";  // another village of the same town
constexpr char kVillage[] = "350583/101/203";
constexpr char kTown[] = "350583/101";

Event WithDevice(Event e, const std::string& device, uint64_t seq, const std::string& org = "") {
  e.set_device_id(device);
  e.set_device_seq(seq);
  if (!org.empty()) e.set_org_path(org);
  return e;
}

Event By(Event e, const std::string& principal) {
  e.mutable_actor()->set_principal(principal);
  return e;
}

struct Expect {
  std::string key;
  // Substrings of the row's text ("!x" = x is not in it: a zero field);
  // empty = the row is absent.
  std::vector<std::string> has;
};

struct Case {
  std::string name;
  std::string projection;
  std::vector<Event> events;
  std::vector<Expect> expect;
  std::optional<absl::Time> derive_at = std::nullopt;  // derive every row as of this moment
};

std::vector<Case> Cases() {
  using grid::v1::MemberRemoved;
  const auto household = std::vector<Event>{
      ev::HouseholdCreated("h1", "h-3", kG5, "p-1", "张三", Day(0)),
      ev::MemberAdded("h2", "h-3", kG5, "p-2", "张小", grid::v1::MemberAdded::BIRTH, Day(0)),
  };
  auto plus = [](std::vector<Event> a, std::vector<Event> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const auto report =
      ev::SanitationReport("s1", kG5, "w-4", grid::v1::PATROL, 880, {"f-1", "f-2"}, Day(0), absl::Hours(48));
  const auto order = ev::RectificationOrdered("r1", "f-1", kG5, Day(2), Day(0));
  const auto declared = ev::ProjectDeclared("p1", "pr-9", kVillage, 1, 100, Day(0));
  const auto returned = ev::StageDecided("d1", "pr-9", kVillage, 1, grid::v1::TOWN_PRELIMINARY, kTown,
                                         grid::v1::RETURNED_FOR_SUPPLEMENT, Day(3), {}, {"site plan"});
  const auto town_ok =
      ev::StageDecided("d1", "pr-9", kVillage, 1, grid::v1::TOWN_PRELIMINARY, kTown, grid::v1::APPROVED,
                       Day(1), {{grid::v1::ESTABLISHMENT, "drc"}, {grid::v1::LAND_PLANNING, "nrb"}});
  const auto grids =
      std::vector<Event>{ev::GridDefined("g1", kG5, Day(0)), ev::GridDefined("g2", kG6, Day(0)),
                         ev::GridDefined("g3", kG1, Day(0))};
  const auto task = ev::FormTaskIssued("t1", "t-7", "health", kVillage, 4, Day(1), Day(0));
  return {
      // grid_sanitation
      {"report opens its findings",
       "grid_sanitation",
       {report},
       {{kG5, {"last_score_x10: 880", "reports: 1", "open_finding_count: 2", "last_kind: PATROL"}}}},
      {"a passed re-inspection closes a finding",
       "grid_sanitation",
       {report, ev::RectificationReinspected("r2", "f-1", kG5, true, Day(0), Day(1))},
       {{kG5, {"open_finding_count: 1", "key: \"f-2\""}}}},
      {"overdue findings are derived at read time",
       "grid_sanitation",
       {report, ev::RectificationExtended("r2", "f-1", kG5, Day(9), Day(1))},
       {{kG5, {"open_finding_count: 2", "overdue_finding_count: 1"}}},
       Day(3)},
      // rectification_queue
      {"an order queues the finding",
       "rectification_queue",
       {order},
       {{"350583/101/203/g05#f-1", {"finding_id: \"f-1\"", "org_path: \"350583/101/203/g05\""}}}},
      {"a failed re-inspection re-orders",
       "rectification_queue",
       {order, ev::RectificationReinspected("r2", "f-1", kG5, false, Day(6), Day(3))},
       {{"350583/101/203/g05#f-1", {"failed_reinspections: 1", "!days_overdue:"}}},
       Day(4)},
      {"a passed re-inspection leaves the queue",
       "rectification_queue",
       {order, ev::RectificationReinspected("r2", "f-1", kG5, true, Day(0), Day(1))},
       {{"350583/101/203/g05#f-1", {}}}},
      {"days overdue are derived at read time",
       "rectification_queue",
       {order, ev::RectificationEscalated("r2", "f-1", kG5, kTown, Day(3))},
       {{"350583/101/203/g05#f-1", {"days_overdue: 3", "escalated_to: \"350583/101\""}}},
       Day(4.5)},
      // population
      {"a household counts at every level",
       "population",
       household,
       {{"350583", {"households: 1", "residents: 2", "family_households: 1"}},
        {kTown, {"residents: 2"}},
        {kVillage, {"residents: 2"}},
        {kG5, {"residents: 2"}}}},
      {"a move between villages moves the counts",
       "population",
       plus(household, {ev::AddressChanged("a1", "h-3", kG5, kG1, Day(1))}),
       {{kTown, {"households: 1", "residents: 2"}},
        {kVillage, {"!households:", "!residents:"}},
        {"350583/101/204", {"households: 1", "residents: 2"}}}},
      {"residents by residence type",
       "population",
       plus(household, {ev::MemberAdded("h3", "h-3", kG5, "p-3", "张工", grid::v1::MemberAdded::RETURN,
                                        Day(1), grid::v1::CHILD, grid::v1::REGISTERED_AWAY),
                        ev::MemberAdded("h4", "h-3", kG5, "p-4", "李租", grid::v1::MemberAdded::MOVE_IN,
                                        Day(1), grid::v1::NON_RELATIVE, grid::v1::NON_REGISTERED_RESIDENT)}),
       {{kTown,
         {"residents: 4", "registered_residents: 2", "registered_away: 1", "non_registered_residents: 1"}}}},
      {"a corrected residence type moves the count",
       "population",
       plus(household, {[] {
              auto e = ev::HouseholdDataCorrected("c1", "h-3", kG5, "h2", "p-2", "张小", Day(1));
              e.mutable_household_data_corrected()->set_residence(grid::v1::REGISTERED_AWAY);
              return e;
            }()}),
       {{kTown, {"residents: 2", "registered_residents: 1", "registered_away: 1"}}}},
      {"a reported death awaits confirmation",
       "population",
       plus(household, {ev::MemberRemoved("x", "h-3", kG5, "p-2", MemberRemoved::DEATH_REPORTED, Day(1))}),
       {{"350583", {"residents: 2", "deaths_awaiting_confirmation: 1"}}}},
      {"a confirmed death is counted out",
       "population",
       plus(household, {ev::MemberRemoved("x", "h-3", kG5, "p-2", MemberRemoved::DEATH_REPORTED, Day(1)),
                        ev::MemberRemoved("y", "h-3", kG5, "p-2", MemberRemoved::DEATH_CONFIRMED, Day(2),
                                          grid::v1::POLICE_SYNC)}),
       {{"350583", {"residents: 1", "!deaths_awaiting_confirmation:"}}}},
      // household_roster
      {"the roster lists members with names",
       "household_roster",
       household,
       {{"350583/101/203/g05#h-3",
         {"name: \"张三\"", "relation_to_head: HEAD", "name: \"张小\"", "head_token: \"p-1\""}}}},
      {"an address change moves the roster row",
       "household_roster",
       plus(household, {ev::AddressChanged("a1", "h-3", kG5, kG6, Day(1))}),
       {{"350583/101/203/g05#h-3", {}}, {"350583/101/203/g06#h-3", {"name: \"张小\""}}}},
      {"a correction supersedes a name",
       "household_roster",
       plus(household, {ev::HouseholdDataCorrected("c1", "h-3", kG5, "h2", "p-2", "张晓", Day(1))}),
       {{"350583/101/203/g05#h-3", {"name: \"张晓\"", "last_event_id: \"c1\""}}}},
      {"a dissolved household leaves the roster",
       "household_roster",
       plus(household, {ev::MemberRemoved("x", "h-3", kG5, "p-2", MemberRemoved::MOVE_OUT, Day(1)),
                        ev::MemberRemoved("y", "h-3", kG5, "p-1", MemberRemoved::MOVE_OUT, Day(1)),
                        ev::HouseholdDissolved("z", "h-3", kG5, Day(1))}),
       {{"350583/101/203/g05#h-3", {}}}},
      // project_pipeline
      {"a declared project waits on its town",
       "project_pipeline",
       {declared},
       {{"350583/101/203#pr-9",
         {"status: \"IN_REVIEW\"", "stage: TOWN_PRELIMINARY", "department: \"350583/101\"",
          "working_days_used: 4"}}},
       Day(4)},
      {"the clock pauses while returned",
       "project_pipeline",
       {declared, returned},
       {{"350583/101/203#pr-9",
         {"status: \"RETURNED\"", "missing_items: \"site plan\"", "working_days_banked: 3",
          "working_days_used: 3"}}},
       Day(10)},
      {"a resubmission goes back to who returned it",
       "project_pipeline",
       {declared, returned, ev::ProjectDeclared("p2", "pr-9", kVillage, 2, 100, Day(7))},
       // Returned Thursday (day 3), resubmitted the next Monday (day 7): three
       // days banked, then Tuesday and Wednesday.
       {{"350583/101/203#pr-9",
         {"revision: 2", "status: \"IN_REVIEW\"", "department: \"350583/101\"", "working_days_used: 5"}}},
       Day(9)},
      {"parallel departments after the town",
       "project_pipeline",
       {declared, town_ok},
       {{"350583/101/203#pr-9", {"department: \"drc\"", "department: \"nrb\""}}}},
      // pending_approvals
      {"what waits on the town",
       "pending_approvals",
       {declared},
       {{"350583/101#pr-9", {"stage: TOWN_PRELIMINARY", "revision: 1"}}}},
      {"a decision moves the wait to the next departments",
       "pending_approvals",
       {declared, town_ok},
       {{"350583/101#pr-9", {}},
        {"drc#pr-9", {"stage: ESTABLISHMENT"}},
        {"nrb#pr-9", {"stage: LAND_PLANNING"}}}},
      {"nothing waits on anyone while returned",
       "pending_approvals",
       {declared, returned},
       {{"350583/101#pr-9", {}}}},
      // form_completion
      {"a task expects every target grid",
       "form_completion",
       plus(grids, {task}),
       {{"t-7#350583/101/203/g05", {"status: \"PENDING\""}},
        {"t-7#350583/101/203/g06", {"status: \"PENDING\""}},
        {"t-7#350583/101/204/g01", {}}}},
      {"on time, late and missing",
       "form_completion",
       plus(grids, {task, ev::FormSubmitted("f1", "t-7", kG5, "sub-1", Day(0.5))}),
       {{"t-7#350583/101/203/g05", {"status: \"SUBMITTED\"", "submissions: 1"}},
        {"t-7#350583/101/203/g06", {"status: \"MISSING\""}}},
       Day(2)},
      {"a late submission is late",
       "form_completion",
       plus(grids, {task, ev::FormSubmitted("f1", "t-7", kG6, "sub-1", Day(1.5))}),
       {{"t-7#350583/101/203/g06", {"status: \"LATE\""}}}},
      // device_gaps
      {"sequences that never arrived",
       "device_gaps",
       {WithDevice(report, "dev-1", 1),
        WithDevice(ev::SanitationReport("s2", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(1)), "dev-1", 2),
        WithDevice(ev::SanitationReport("s3", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(2)), "dev-1", 5)},
       {{"350583/101/203/g05#dev-1",
         {"highest_seq: 5", "received: 3", "missing: 3", "missing: 4", "missing_count: 2"}}}},
      {"a late report fills its gap",
       "device_gaps",
       {WithDevice(report, "dev-1", 1),
        WithDevice(ev::SanitationReport("s2", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(1)), "dev-1", 4),
        WithDevice(ev::SanitationReport("s3", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(0.5)), "dev-1", 2)},
       {{"350583/101/203/g05#dev-1", {"highest_seq: 4", "missing: 3", "missing_count: 1"}}}},
      // Regression: another town's worker appended with this device id and a
      // huge sequence, and the row moved under its grid.
      {"another appender's events naming the device are counted, not folded in",
       "device_gaps",
       {WithDevice(report, "dev-1", 1),
        WithDevice(By(ev::SanitationReport("s2", kG1, "w-9", grid::v1::PATROL, 900, {}, Day(1)), "other"),
                   "dev-1", 900000)},
       {{"350583/101/203/g05#dev-1", {"highest_seq: 1", "received: 1", "rejected: 1", "!missing"}},
        {"350583/101/204/g01#dev-1", {}}}},
      {"a sequence jump of more than 10,000 is counted, not a gap",
       "device_gaps",
       {WithDevice(report, "dev-1", 1),
        WithDevice(ev::SanitationReport("s2", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(1)), "dev-1", 10003),
        WithDevice(ev::SanitationReport("s3", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(2)), "dev-1", 3)},
       {{"350583/101/203/g05#dev-1",
         {"highest_seq: 3", "received: 2", "rejected: 1", "missing: 2", "missing_count: 1"}}}},
      {"a first seq past the jump limit starts the count there",
       "device_gaps",
       {WithDevice(report, "dev-1", 20000),
        WithDevice(ev::SanitationReport("s2", kG5, "w-4", grid::v1::PATROL, 900, {}, Day(1)), "dev-1",
                   20002)},
       {{"350583/101/203/g05#dev-1",
         {"highest_seq: 20002", "received: 2", "missing: 20001", "missing_count: 1"}}}},
      {"a device that changes grids is listed where it reports now",
       "device_gaps",
       {WithDevice(report, "dev-1", 1),
        WithDevice(ev::SanitationReport("s2", kG6, "w-4", grid::v1::PATROL, 900, {}, Day(1)), "dev-1", 3)},
       {{"350583/101/203/g05#dev-1", {}}, {"350583/101/203/g06#dev-1", {"highest_seq: 3", "missing: 2"}}}},
  };
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ProjectionFoldTest : public ::testing::TestWithParam<Case> {};

TEST_P(ProjectionFoldTest, Folds) {
  const Case& c = GetParam();
  const ProjectionDef* def = FindProjection(c.projection);
  ASSERT_NE(def, nullptr);
  grid::testing::MemoryRows rows;
  for (const auto& e : c.events) ASSERT_TRUE(def->fold(e, rows).ok()) << e.event_id();
  for (const auto& x : c.expect) {
    auto it = rows.rows().find(x.key);
    if (x.has.empty()) {
      EXPECT_EQ(it, rows.rows().end()) << x.key << " should be absent";
      continue;
    }
    ASSERT_NE(it, rows.rows().end()) << x.key
                                     << " is missing; rows: " << ::testing::PrintToString(rows.Text());
    grid::v1::RowValue v = it->second;
    if (c.derive_at && def->derive) def->derive(*c.derive_at, &v);
    std::string text;
    google::protobuf::TextFormat::Printer printer;
    printer.SetUseUtf8StringEscaping(true);
    printer.PrintToString(v, &text);
    for (const auto& s : x.has) {
      if (s.starts_with("!")) {
        EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr(s.substr(1)))) << x.key;
      } else {
        EXPECT_THAT(text, ::testing::HasSubstr(s)) << x.key;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ProjectionFoldTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           std::string n;
                           for (char ch : param.param.name)
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(ProjectionsTest, KeysMatchAtOrgPathBoundaries) {
  EXPECT_TRUE(KeyMatches("350583/101", "350583/101"));
  EXPECT_TRUE(KeyMatches("350583/101/203", "350583/101"));
  EXPECT_TRUE(KeyMatches("350583/101#pr-9", "350583/101"));
  EXPECT_FALSE(KeyMatches("350583/1012", "350583/101"));
  EXPECT_TRUE(KeyMatches("t-7#x", "t-7#"));
  EXPECT_FALSE(KeyMatches("~hh/household/h-3", ""));
  EXPECT_TRUE(KeyMatches("anything", ""));
}

TEST(ProjectionsTest, WorkingDaysSkipWeekends) {
  EXPECT_EQ(WorkingDaysBetween(Day(0), Day(0.2)), 0u);  // same day
  EXPECT_EQ(WorkingDaysBetween(Day(0), Day(4)), 4u);    // Mon → Fri
  EXPECT_EQ(WorkingDaysBetween(Day(4), Day(7)), 1u);    // Fri → Mon
  EXPECT_EQ(WorkingDaysBetween(Day(0), Day(14)), 10u);  // two weeks
  EXPECT_EQ(WorkingDaysBetween(Day(3), Day(1)), 0u);    // backwards
}

// Every projection's rows can be served: each row type carries a data class
// on every field (the access-control issue redacts by them).
TEST(ProjectionsTest, EveryRowFieldHasADataClass) {
  const auto* row = grid::v1::RowValue::descriptor();
  for (int i = 0; i < row->field_count(); ++i) {
    const auto* type = row->field(i)->message_type();
    for (int j = 0; j < type->field_count(); ++j) {
      EXPECT_TRUE(type->field(j)->options().HasExtension(grid::v1::data_class))
          << type->field(j)->full_name();
    }
  }
}

}  // namespace
}  // namespace grid::domain
