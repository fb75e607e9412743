// Every projection fold, table-driven: a history of events folded in memory,
// then what a department would check in the rows (optionally derived as of a
// moment: overdue, missing, working days).
#include "domain/projections.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "domain/events.h"
#include "domain/rules.h"
#include "domain/work_calendar.h"
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

// The submission's values confirmed as prefilled at `position`.
Event Confirmed(Event e, uint64_t position) {
  auto* f = e.mutable_form_submitted();
  f->set_prefilled_at(position);
  for (auto& v : *f->mutable_values()) v.set_provenance(grid::v1::FormValue::PREFILL_CONFIRMED);
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
  // Incidents: the standard catalogue (BLUE 72 h of working time for
  // exposed garbage, YELLOW 24 h for sewage, RED 60 min for a fire hazard).
  using grid::v1::IncidentReturned;
  constexpr char kCounty[] = "350583";
  constexpr char kSan[] = "county-sanitation";
  constexpr char kQueue[] = "350583#county-sanitation#i-7";
  constexpr char kVillageQueue[] = "350583/101/203#-#i-7";
  const auto cat = ev::IncidentCatalog("c1", ev::StandardIncidentCatalog(kCounty, 1), Day(-1));
  const auto incident = [&](const std::string& category, double dispatched_on) {
    return std::vector<Event>{
        cat, ev::IncidentReported("i1", "i-7", kG5, category, grid::v1::CITIZEN, Day(dispatched_on)),
        ev::IncidentAccepted("i2", "i-7", kG5, kVillage, Day(dispatched_on)),
        ev::IncidentDispatched("i3", "i-7", kG5, kVillage, kCounty, kSan, Day(dispatched_on))};
  };
  const auto handled = [&](const std::string& id, const std::string& grid, double resolved_on) {
    return std::vector<Event>{
        ev::IncidentAcknowledged(id + "a", id, grid, kCounty, kSan, Day(resolved_on)),
        ev::IncidentResolutionSubmitted(id + "r", id, grid, kCounty, kSan, Day(resolved_on)),
        ev::IncidentVerified(id + "v", id, grid, grid, true, Day(resolved_on)),
        ev::IncidentClosed(id + "c", id, grid, kVillage, grid::v1::RESOLVED, Day(resolved_on))};
  };
  const auto second = std::vector<Event>{
      ev::IncidentReported("j1", "i-8", kG6, "ENV.GARBAGE.EXPOSED", grid::v1::GRID_PATROL, Day(0))};
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
      // ---- incident_board: the clock ----
      {"an incident waits on its village until dispatched",
       "incident_board",
       {cat, ev::IncidentReported("i1", "i-7", kG5, "ROAD.DAMAGE", grid::v1::CITIZEN, Day(0)),
        ev::IncidentAccepted("i2", "i-7", kG5, kVillage, Day(0))},
       {{kVillageQueue,
         {"state: \"ACCEPTED\"", "urgency: \"BLUE\"", "handling_org: \"350583/101/203\"", "!due"}},
        {kQueue, {}}}},
      // Dispatched Friday 09:00 with 72 h of working time: the weekend does
      // not count, so it is due on Wednesday 09:00 (Day 9).
      {"due in working time, over a weekend: not yet overdue",
       "incident_board",
       incident("ENV.GARBAGE.EXPOSED", 4),
       {{kQueue, {"state: \"DISPATCHED\"", "department: \"county-sanitation\"", "!overdue"}},
        {kVillageQueue, {}}},
       Day(9) - absl::Minutes(1)},
      {"due in working time, over a weekend: overdue after",
       "incident_board",
       incident("ENV.GARBAGE.EXPOSED", 4),
       {{kQueue, {"overdue: true", "minutes_overdue: 60"}}},
       Day(9) + absl::Hours(1)},
      {"a holiday on the Monday moves the due time a day",
       "incident_board",
       plus({ev::WorkCalendar("w1", kCounty, 2026, {"2026-03-09"}, {}, Day(-1))},
            incident("ENV.GARBAGE.EXPOSED", 4)),
       {{kQueue, {"!overdue"}}},
       Day(10) - absl::Minutes(1)},
      {"a Saturday worked in place of a holiday counts",
       "incident_board",
       plus({ev::WorkCalendar("w1", kCounty, 2026, {}, {"2026-03-07"}, Day(-1))},
            incident("ENV.GARBAGE.EXPOSED", 4)),
       {{kQueue, {"overdue: true", "minutes_overdue: 60"}}},
       Day(8) + absl::Hours(1)},
      {"a category's own limit on its tier (fire hazard: 60 minutes)",
       "incident_board",
       incident("SAFETY.FIRE.HAZARD", 0),
       {{kQueue, {"urgency: \"RED\"", "overdue: true", "minutes_overdue: 1"}}},
       Day(0) + absl::Minutes(61)},
      {"a suspended incident is never overdue",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0), {ev::IncidentSuspended("s", "i-7", kG5, kVillage, Day(0.5))}),
       {{kQueue, {"state: \"SUSPENDED\"", "suspended: true", "!overdue"}}},
       Day(3)},
      // 24 h of calendar time: half a day ran before the suspension, two
      // days were suspended, so it is due at Day 3.
      {"a suspension moves the due time by the time suspended",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0), {ev::IncidentSuspended("s", "i-7", kG5, kVillage, Day(0.5)),
                                                 ev::IncidentResumed("r", "i-7", kG5, kVillage, Day(2.5))}),
       {{kQueue, {"state: \"DISPATCHED\"", "!suspended", "overdue: true", "minutes_overdue: 60"}}},
       Day(3) + absl::Hours(1)},
      {"a granted extension moves the due time",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentExtensionRequested("e", "i-7", kG5, kCounty, kSan, 120, Day(0.5)),
             ev::IncidentExtensionDecided("d", "i-7", kG5, kVillage, true, 0, Day(0.6))}),
       {{kQueue, {"!overdue", "!extension_pending"}}},
       Day(1) + absl::Hours(1)},
      {"a refused extension does not",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentExtensionRequested("e", "i-7", kG5, kCounty, kSan, 120, Day(0.5)),
             ev::IncidentExtensionDecided("d", "i-7", kG5, kVillage, false, 0, Day(0.6))}),
       {{kQueue, {"overdue: true", "minutes_overdue: 60"}}},
       Day(1) + absl::Hours(1)},
      {"a return sends it back to the village and stops the clock",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentReturned("r", "i-7", kG5, kCounty, kSan, IncidentReturned::WRONG_DEPARTMENT,
                                  Day(0.5))}),
       {{kQueue, {}}, {kVillageQueue, {"state: \"RETURNED\"", "returns: 1", "!overdue", "!due"}}},
       Day(5)},
      {"a re-dispatch after a return is counted and gets a new due time",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentReturned("r", "i-7", kG5, kCounty, kSan, IncidentReturned::WRONG_DEPARTMENT,
                                  Day(0.5)),
             ev::IncidentDispatched("d", "i-7", kG5, kVillage, kCounty, "county-water", Day(2))}),
       {{kVillageQueue, {}}, {"350583#county-water#i-7", {"returns: 1", "redispatches: 1", "!overdue"}}},
       Day(3) - absl::Minutes(1)},
      {"a grid directly under a town is handled by the town",
       "incident_board",
       {cat, ev::IncidentReported("i1", "i-8", "350583/101/g09", "ROAD.DAMAGE", grid::v1::CITIZEN, Day(0))},
       {{"350583/101#-#i-8", {"state: \"REPORTED\"", "handling_org: \"350583/101\""}}}},
      {"a resolution ends a waiting extension request",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentAcknowledged("a", "i-7", kG5, kCounty, kSan, Day(0.2)),
             ev::IncidentExtensionRequested("e", "i-7", kG5, kCounty, kSan, 120, Day(0.5)),
             ev::IncidentResolutionSubmitted("r", "i-7", kG5, kCounty, kSan, Day(0.6))}),
       {{kQueue, {}}, {kVillageQueue, {"state: \"RESOLUTION_SUBMITTED\"", "!extension_pending"}}}},
      {"the handling level recalls a dispatched case and sends it elsewhere",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentDispatched("d", "i-7", kG5, kVillage, kCounty, "county-water", Day(0.5))}),
       {{kQueue, {}}, {"350583#county-water#i-7", {"state: \"DISPATCHED\"", "redispatches: 1"}}}},
      {"urged twice, escalated once",
       "incident_board",
       {cat, ev::IncidentReported("i1", "i-7", kG5, "ROAD.DAMAGE", grid::v1::CITIZEN, Day(0)),
        ev::IncidentUrged("u1", "i-7", kG5, kVillage, Day(0.1)),
        ev::IncidentUrged("u2", "i-7", kG5, kTown, Day(0.2)),
        ev::IncidentEscalated("e", "i-7", kG5, kVillage, kTown, Day(0.3))},
       {{kVillageQueue, {}},
        {"350583/101#-#i-7", {"urged: 2", "escalations: 1", "handling_org: \"350583/101\""}}}},
      {"a closed incident leaves the board",
       "incident_board",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0), handled("i-7", kG5, 0.5)),
       {{kQueue, {}}, {kVillageQueue, {}}}},
      // ---- incident_stats ----
      {"stats per month and category roll up every level",
       "incident_stats",
       plus(plus(incident("ENV.GARBAGE.EXPOSED", 0), handled("i-7", kG5, 1)),
            plus(second, {ev::IncidentRated("rt", "i-7", kG5, kVillage, 4, Day(1.5))})),
       {{"350583/101/203#2026-03",
         {"reported: 2", "closed: 1", "resolved: 1", "resolved_on_time: 1", "handling_minutes: 1440",
          "verifications_passed: 1", "rated: 1", "satisfaction_sum: 4", "on_time_rate: 1",
          "average_handling_hours: 24", "average_satisfaction: 4"}},
        {"350583#2026-03#ENV.GARBAGE.EXPOSED", {"reported: 2", "resolved: 1"}},
        {"350583/101/203/g05#2026-03", {"reported: 1", "closed: 1"}},
        {"350583/101/203/g06#2026-03", {"reported: 1", "!closed"}}},
       Day(2)},
      {"a resolution after its due time is not on time",
       "incident_stats",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0), handled("i-7", kG5, 2)),
       {{"350583#2026-03", {"resolved: 1", "!resolved_on_time", "!on_time_rate"}}},
       Day(3)},
      {"a failed verification counts against the pass rate",
       "incident_stats",
       plus(incident("ENV.SEWAGE.OVERFLOW", 0),
            {ev::IncidentAcknowledged("a", "i-7", kG5, kCounty, kSan, Day(0.2)),
             ev::IncidentResolutionSubmitted("r", "i-7", kG5, kCounty, kSan, Day(0.3)),
             ev::IncidentVerified("v", "i-7", kG5, kG5, false, Day(0.4)),
             ev::IncidentAcknowledged("a2", "i-7", kG5, kCounty, kSan, Day(0.5)),
             ev::IncidentResolutionSubmitted("r2", "i-7", kG5, kCounty, kSan, Day(0.6)),
             ev::IncidentVerified("v2", "i-7", kG5, kG5, true, Day(0.7))}),
       {{"350583#2026-03", {"verifications: 2", "verifications_passed: 1", "verification_pass_rate: 0.5"}}},
       Day(1)},
      {"a reopened incident no longer counts as closed or rated",
       "incident_stats",
       plus(plus(incident("ENV.SEWAGE.OVERFLOW", 0), handled("i-7", kG5, 0.5)),
            {ev::IncidentRated("rt", "i-7", kG5, kVillage, 2, Day(0.6)),
             ev::IncidentReopened("o", "i-7", kG5, kVillage, Day(1))}),
       {{"350583#2026-03",
         {"reported: 1", "!closed", "!resolved", "!rated", "!satisfaction_sum", "!handling_minutes"}}}},
      {"a rejection is closed, not resolved",
       "incident_stats",
       {cat, ev::IncidentReported("i1", "i-7", kG5, "ROAD.DAMAGE", grid::v1::CITIZEN, Day(0)),
        ev::IncidentRejected("r", "i-7", kG5, kVillage, grid::v1::IncidentRejected::INVALID, Day(0.1))},
       {{"350583#2026-03", {"reported: 1", "closed: 1", "!resolved"}}}},
      // ---- org_directory ----
      {"grids and their units, with names and counts",
       "org_directory",
       {ev::GridDefined("g1", kG5, Day(0), "第五网格"), ev::GridDefined("g2", kG6, Day(0)),
        ev::OrgUnitNamed("n1", kVillage, "溪西村", grid::v1::VILLAGE, Day(0)),
        ev::OrgUnitNamed("n2", kTown, "溪美街道", grid::v1::SUBDISTRICT, Day(0))},
       {{kVillage, {"name: \"溪西村\"", "level: 3", "kind: VILLAGE", "grids: 2"}},
        {kTown, {"name: \"溪美街道\"", "level: 2", "kind: SUBDISTRICT", "grids: 2"}},
        {"350583", {"level: 1", "kind: COUNTY", "grids: 2"}},
        {kG5, {"name: \"第五网格\"", "level: 4", "kind: GRID", "grids: 1"}}}},
      {"a retired grid stops counting",
       "org_directory",
       {ev::GridDefined("g1", kG5, Day(0)), ev::GridDefined("g2", kG6, Day(0)),
        ev::GridRetired("r", kG6, Day(1))},
       {{kVillage, {"grids: 1"}}, {kG6, {"retired: true", "!grids"}}}},
      {"a recoded village keeps its old code beside the new",
       "org_directory",
       {ev::GridDefined("g1", kG5, Day(0)),
        ev::OrgUnitNamed("n1", kVillage, "溪西村", grid::v1::VILLAGE, Day(0)),
        ev::OrgUnitRecoded("r", kVillage, "350583/101/210", Day(1))},
       {{kVillage, {"recoded_to: \"350583/101/210\"", "name: \"溪西村\""}},
        {"350583/101/210", {"name: \"溪西村\"", "former_codes: \"350583/101/203\"", "level: 3"}}}},
      // ---- village_income ----
      {"a village's month and year, operating income without subsidies",
       "village_income",
       {ev::LedgerEntry("l1", kVillage, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 100000, Day(0)),
        ev::LedgerEntry("l2", kVillage, "e-2", 2026, 2, grid::v1::CONTRACT_REMITTANCE_INCOME, 20000, Day(0)),
        ev::LedgerEntry("l3", kVillage, "e-3", 2026, 2, grid::v1::SUBSIDY_INCOME, 50000, Day(0)),
        ev::LedgerEntry("l4", kVillage, "e-4", 2026, 2, grid::v1::ADMIN_EXPENSE, 3000, Day(0))},
       {{"350583/101/203#2026-02",
         {"operating_income_fen: 100000", "contract_income_fen: 20000", "subsidy_income_fen: 50000",
          "admin_expense_fen: 3000", "entries: 4", "operating_total_fen: 120000"}},
        {"350583/101/203#2026",
         {"through_month: 2", "operating_total_fen: 120000", "!last_year_same_period_fen", "!growth",
          "!below_threshold"}}},
       Day(1)},
      {"growth on the same months of last year, and the weak-village line",
       "village_income",
       {ev::WeakVillageThreshold("t", "350583", 2026, 10000000, Day(0)),
        ev::LedgerEntry("l0", kVillage, "e-0", 2025, 2, grid::v1::OPERATING_INCOME, 100000, Day(0)),
        ev::LedgerEntry("l9", kVillage, "e-9", 2025, 7, grid::v1::OPERATING_INCOME, 900000, Day(0)),
        ev::LedgerEntry("l1", kVillage, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 120000, Day(0))},
       {{"350583/101/203#2026",
         {"operating_total_fen: 120000", "last_year_same_period_fen: 100000", "growth: 0.2",
          "threshold_fen: 10000000", "below_threshold: true"}}},
       Day(1)},
      {"a reversal takes an entry back out",
       "village_income",
       {ev::LedgerEntry("l1", kVillage, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 100000, Day(0)),
        ev::LedgerEntry("l2", kVillage, "e-2", 2026, 2, grid::v1::OPERATING_INCOME, 100000, Day(0), "e-1"),
        ev::LedgerEntry("l3", kVillage, "e-3", 2026, 2, grid::v1::OPERATING_INCOME, 10000, Day(0))},
       {{"350583/101/203#2026-02", {"operating_income_fen: 10000", "entries: 2", "reversals: 1"}},
        {"350583/101/203#2026", {"operating_total_fen: 10000"}}},
       Day(1)},
      {"a line set later, and a late entry for last year, reach this year's row",
       "village_income",
       {ev::LedgerEntry("l1", kVillage, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 150000, Day(0)),
        ev::WeakVillageThreshold("t", "350583", 2026, 100000, Day(0)),
        ev::LedgerEntry("l0", kVillage, "e-0", 2025, 1, grid::v1::INVESTMENT_INCOME, 50000, Day(0))},
       {{"350583/101/203#2026",
         {"threshold_fen: 100000", "!below_threshold", "last_year_same_period_fen: 50000", "growth: 2"}},
        {"350583/101/203#2025", {"operating_total_fen: 50000"}}},
       Day(1)},
      // ---- cadre_scoreboard ----
      {"a cadre's days, a correction and the year end, totalled as the close will",
       "cadre_scoreboard",
       {ev::AssessmentOpened("a1", "p-26", "350583", "2026-01-01", "2026-12-31", Day(0)),
        ev::CadreScore("s1", "p-26", "c-1", kVillage, "2026-03-03",
                       {ev::ScoreItem("FORM.ON_TIME", 40, "form_completion", "t1#350583/101/203", 7)},
                       Day(1)),
        ev::CadreScore("s2", "p-26", "c-1", kVillage, "2026-03-02",
                       {ev::ScoreItem("FORM.ON_TIME", 0, "form_completion", "t0#350583/101/203", 7)}, Day(1)),
        ev::CadreScore("s3", "p-26", "c-1", kVillage, "2026-03-02",
                       {ev::ScoreItem("FORM.ON_TIME", 30, "form_completion", "t0#350583/101/203", 9)},
                       Day(1)),
        ev::CadreScore("s4", "p-26", "c-1", kVillage, "",
                       {ev::ScoreItem("YEAR.REVIEW", 800, "village_income", "350583/101/203#2026", 9)},
                       Day(1))},
       {{"350583/101/203#p-26#c-1",
         {"days {\n    day: \"2026-03-02\"\n    total_x10: 30\n  }\n  days {\n    day: \"2026-03-03\"",
          "corrections: 1", "has_year_end: true", "year_end_x10: 800", "code: \"YEAR.REVIEW\"",
          "key: \"350583/101/203#2026\"", "days_scored: 2", "daily_average_x10: 35",
          // 35 x 0.4 + 800 x 0.6
          "total_x10: 494", "!closed", "!rank"}},
        {"350583/101/203#p-26#c-2", {}}},
       Day(2)},
      {"the close writes the ranks it recorded, as recorded",
       "cadre_scoreboard",
       {ev::AssessmentOpened("a1", "p-26", "350583", "2026-01-01", "2026-12-31", Day(0)),
        ev::CadreScore("s1", "p-26", "c-1", kVillage, "",
                       {ev::ScoreItem("YEAR.REVIEW", 800, "village_income", "350583/101/203#2026", 9)},
                       Day(1)),
        ev::CadreScore("s2", "p-26", "c-2", "350583/101/204", "",
                       {ev::ScoreItem("YEAR.REVIEW", 700, "village_income", "350583/101/204#2026", 9)},
                       Day(1)),
        [] {
          grid::v1::AssessmentPeriodClosed c;
          auto* a = c.add_ranks();
          a->set_cadre_id("c-1");
          a->set_org_path(kVillage);
          a->set_total_x10(480);
          a->set_rank(1);
          a->set_percentile_permille(500);
          a->set_top(true);
          auto* b = c.add_ranks();
          b->set_cadre_id("c-2");
          b->set_org_path("350583/101/204");
          b->set_total_x10(999);  // a fold never recomputes what the close recorded
          b->set_rank(2);
          b->set_percentile_permille(1000);
          c.set_cohort(20);  // as if 18 more were ranked: the band is shown from 20 on
          c.set_top_quota(1);
          c.set_cutoff_x10(480);
          return ev::AssessmentClosed("c", "p-26", "350583", c, Day(300));
        }()},
       {{"350583/101/203#p-26#c-1",
         {"closed: true", "closed_total_x10: 480", "top: true", "rank_band_percent: 50", "rank: 1",
          "percentile_permille: 500", "cohort: 20", "cutoff_x10: 480", "total_x10: 480"}},
        {"350583/101/204#p-26#c-2",
         {"closed: true", "closed_total_x10: 999", "!top", "rank_band_percent: 100", "rank: 2",
          "total_x10: 420"}}},
       Day(301)},
      // ---- shared_facts ("one table") ----
      {"what a unit typed is its fact",
       "shared_facts",
       {task, ev::FormSubmitted("f1", "t-7", kG5, "sub-1", Day(0.5))},
       {{"350583/101/203/g05#population.residents",
         {"value: \"512\"", "unit: \"person\"", "source: \"form:t-7\""}},
        {"350583/101/203/g06#population.residents", {}}}},
      {"a confirmed value is not a new fact",
       "shared_facts",
       {task, Confirmed(ev::FormSubmitted("f1", "t-7", kG5, "sub-1", Day(0.5)), 2)},
       {{"350583/101/203/g05#population.residents", {}}}},
      // ---- reporting_burden ----
      {"a unit that typed its whole form",
       "reporting_burden",
       {task, ev::FormSubmitted("f1", "t-7", kG5, "sub-1", Day(0.5))},
       {{"350583/101/203/g05#t-7",
         {"units: 1", "items_asked: 1", "items_prefillable: 1", "items_typed: 1", "!items_confirmed"}},
        {"350583#t-7", {"units: 1", "items_typed: 1"}}},
       Day(1)},
      {"a superseding submission replaces the unit's counts; units add up",
       "reporting_burden",
       {task, ev::FormSubmitted("f1", "t-7", kG5, "sub-1", Day(0.5)),
        Confirmed(ev::FormSubmitted("f2", "t-7", kG5, "sub-2", Day(0.6), "sub-1"), 2),
        Confirmed(ev::FormSubmitted("f3", "t-7", kG6, "sub-3", Day(0.6)), 2)},
       {{"350583/101/203/g05#t-7", {"units: 1", "items_confirmed: 1", "!items_typed", "confirmed_share: 1"}},
        {"350583/101/203#t-7", {"units: 2", "items_asked: 2", "items_confirmed: 2", "!items_typed"}}},
       Day(1)},
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

// "One table": a counted fact is read off the row of the view that counts
// it, with the class that row's field declares.
TEST(FactsTest, CountedFactsAreReadOffTheViewsThatCountThem) {
  const auto fold = [](const char* projection, const std::vector<Event>& events) {
    grid::testing::MemoryRows rows;
    for (const auto& e : events) EXPECT_TRUE(FindProjection(projection)->fold(e, rows).ok());
    return rows.rows();
  };
  auto pop = fold("population",
                  {ev::HouseholdCreated("h1", "h-3", kG5, "p-1", "张三", Day(0)),
                   ev::MemberAdded("h2", "h-3", kG5, "p-2", "张小", grid::v1::MemberAdded::BIRTH, Day(0))});
  auto where = CountedFactOf(kVillage, "population.residents");
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->projection, "population");
  EXPECT_EQ(where->key, kVillage);
  auto fact = FactFromRow(kVillage, "population.residents", pop.at(kVillage));
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->value(), "2");
  EXPECT_EQ(fact->unit(), "person");
  EXPECT_EQ(fact->value_class(), grid::v1::C0_AGGREGATE);
  EXPECT_EQ(FactFromRow(kTown, "population.households", pop.at(kTown))->value(), "1");

  auto san =
      fold("grid_sanitation",
           {ev::SanitationReport("s1", kG5, "w-4", grid::v1::PATROL, 880, {"f-1"}, Day(0), absl::Hours(48))});
  EXPECT_EQ(FactFromRow(kG5, "sanitation.last_score", san.at(kG5))->value(), "88.0");
  EXPECT_EQ(FactFromRow(kG5, "sanitation.open_findings", san.at(kG5))->value(), "1");

  auto books =
      fold("village_income",
           {ev::LedgerEntry("l1", kVillage, "e-1", 2026, 2, grid::v1::OPERATING_INCOME, 100000, Day(0)),
            ev::LedgerEntry("l2", kVillage, "e-2", 2026, 2, grid::v1::SUBSIDY_INCOME, 50000, Day(0))});
  where = CountedFactOf(kVillage, "ledger.2026.operating_income_ytd_fen");
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->key, "350583/101/203#2026");
  EXPECT_EQ(FactFromRow(kVillage, "ledger.2026.operating_income_ytd_fen", books.at(where->key))->value(),
            "100000");  // the year so far, subsidies not counted
  EXPECT_EQ(FactFromRow(kVillage, "ledger.2026.subsidy_income_fen", books.at(where->key))->value(), "50000");

  where = CountedFactOf(kVillage, "incidents.2026-03.on_time_rate");
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->projection, "incident_stats");
  EXPECT_EQ(where->key, "350583/101/203#2026-03");
  // Not counted anywhere: a typed fact (shared_facts).
  EXPECT_FALSE(CountedFactOf(kVillage, "village.cleaners").has_value());
  EXPECT_FALSE(CountedFactOf(kVillage, "population").has_value());
  EXPECT_FALSE(FactFromRow(kVillage, "village.cleaners", pop.at(kVillage)).has_value());
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

TEST(ProjectionsTest, WorkingTimeSkipsDaysOff) {
  WorkCalendar cal;
  // Friday 09:00 + 24 h of working time: Monday 09:00.
  EXPECT_EQ(cal.Add(Day(4), absl::Hours(24), true), Day(7));
  EXPECT_EQ(cal.Add(Day(4), absl::Hours(24), false), Day(5));
  EXPECT_EQ(cal.Between(Day(4), Day(7), true), absl::Hours(24));
  EXPECT_EQ(cal.Between(Day(4), Day(7), false), absl::Hours(72));
  grid::v1::WorkCalendarPublished y;
  y.set_year(2026);
  y.add_holidays("2026-03-09");  // that Monday off
  y.add_workdays("2026-03-07");  // that Saturday worked
  cal.Add(y);
  EXPECT_EQ(cal.Add(Day(4), absl::Hours(24), true), Day(5));  // Saturday 09:00
  EXPECT_EQ(cal.Add(Day(4), absl::Hours(48), true), Day(8));  // Sunday and Monday off
  EXPECT_EQ(cal.Between(Day(4), Day(8), true), absl::Hours(48));
  // A later calendar for the same year replaces it.
  y.clear_holidays();
  y.clear_workdays();
  cal.Add(y);
  EXPECT_EQ(cal.Add(Day(4), absl::Hours(24), true), Day(7));
  EXPECT_FALSE(ParseCivilDate("2026-02-30"));
  EXPECT_FALSE(ParseCivilDate("2026-3-01"));
  EXPECT_TRUE(ParseCivilDate("2026-03-01"));
  // Regression: one day had several spellings ("+5", "5 "), which the
  // assessment's rules took as one day and its fold as three.
  EXPECT_FALSE(ParseCivilDate("2026-01-+5"));
  EXPECT_FALSE(ParseCivilDate("2026-01-5 "));
  EXPECT_FALSE(ParseCivilDate("+026-01-05"));
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
