// Builders for catalog events with the envelope filled in (event_id, stream,
// type, org_path, occurred_at): used by the simulator, the tests and the
// benchmarks, so that all of them speak the catalog the same way.
#ifndef GRID_DOMAIN_EVENTS_H_
#define GRID_DOMAIN_EVENTS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/projection.pb.h"
#include "storage/proto_time.h"

namespace grid::domain::events {

using grid::v1::Event;

// org/<county>
Event GridDefined(const std::string& id, const std::string& grid, absl::Time at,
                  const std::string& name = "");
Event GridRetired(const std::string& id, const std::string& grid, absl::Time at);
Event WorkerAssigned(const std::string& id, const std::string& worker, const std::string& grid,
                     absl::Time at);
Event WorkerUnassigned(const std::string& id, const std::string& worker, const std::string& grid,
                       absl::Time at);
Event OrgUnitNamed(const std::string& id, const std::string& unit, const std::string& name,
                   grid::v1::OrgUnitKind kind, absl::Time at);
Event OrgUnitRecoded(const std::string& id, const std::string& old_unit, const std::string& new_unit,
                     absl::Time at);

// sanitation/<grid>. `findings` are finding ids, each due `rectify_days` later.
Event SanitationReport(const std::string& id, const std::string& grid, const std::string& worker,
                       grid::v1::SanitationKind kind, uint32_t score_x10,
                       const std::vector<std::string>& findings, absl::Time at,
                       absl::Duration rectify_in = absl::Hours(72));

// rectification/<finding>
Event RectificationOrdered(const std::string& id, const std::string& finding, const std::string& grid,
                           absl::Time deadline, absl::Time at);
Event RectificationProgress(const std::string& id, const std::string& finding, const std::string& grid,
                            absl::Time at);
Event RectificationReinspected(const std::string& id, const std::string& finding, const std::string& grid,
                               bool passed, absl::Time new_deadline, absl::Time at);
Event RectificationExtended(const std::string& id, const std::string& finding, const std::string& grid,
                            absl::Time new_deadline, absl::Time at);
Event RectificationEscalated(const std::string& id, const std::string& finding, const std::string& grid,
                             const std::string& to_org, absl::Time at);

// household/<id>. Person tokens stand for the keyed HMAC of an ID number.
Event HouseholdCreated(const std::string& id, const std::string& household, const std::string& grid,
                       const std::string& head_token, const std::string& head_name, absl::Time at,
                       grid::v1::ResidenceType residence = grid::v1::REGISTERED_RESIDENT);
Event MemberAdded(const std::string& id, const std::string& household, const std::string& grid,
                  const std::string& token, const std::string& name, grid::v1::MemberAdded::Reason reason,
                  absl::Time at, grid::v1::Relation relation = grid::v1::CHILD,
                  grid::v1::ResidenceType residence = grid::v1::REGISTERED_RESIDENT);
Event MemberRemoved(const std::string& id, const std::string& household, const std::string& grid,
                    const std::string& token, grid::v1::MemberRemoved::Reason reason, absl::Time at,
                    grid::v1::DataSource source = grid::v1::GRID_VISIT);
Event HeadChanged(const std::string& id, const std::string& household, const std::string& grid,
                  const std::string& old_head, const std::string& new_head, absl::Time at);
Event AddressChanged(const std::string& id, const std::string& household, const std::string& old_grid,
                     const std::string& new_grid, absl::Time at);
Event HouseholdSplit(const std::string& id, const std::string& household, const std::string& grid,
                     const std::string& new_household, const std::vector<std::string>& moved, absl::Time at);
Event HouseholdMerged(const std::string& id, const std::string& household, const std::string& grid,
                      const std::vector<std::string>& merged, absl::Time at);
Event HouseholdDissolved(const std::string& id, const std::string& household, const std::string& grid,
                         absl::Time at);
Event HouseholdDataCorrected(const std::string& id, const std::string& household, const std::string& grid,
                             const std::string& supersedes, const std::string& token, const std::string& name,
                             absl::Time at);

// project/<id>
Event ProjectDeclared(const std::string& id, const std::string& project, const std::string& applicant,
                      uint32_t revision, int64_t investment_fen, absl::Time at);
Event StageDecided(const std::string& id, const std::string& project, const std::string& applicant,
                   uint32_t revision, grid::v1::Stage stage, const std::string& department,
                   grid::v1::Decision decision, absl::Time at,
                   const std::vector<std::pair<grid::v1::Stage, std::string>>& next = {},
                   const std::vector<std::string>& missing = {});
Event ProjectStarted(const std::string& id, const std::string& project, const std::string& applicant,
                     absl::Time at);
Event ProjectCompleted(const std::string& id, const std::string& project, const std::string& applicant,
                       int64_t cost_fen, absl::Time at);

// form/<task>
Event FormTaskIssued(const std::string& id, const std::string& task, const std::string& issuer,
                     const std::string& target_prefix, uint32_t target_level, absl::Time due, absl::Time at);
Event FormSubmitted(const std::string& id, const std::string& task, const std::string& org,
                    const std::string& submission, absl::Time at, const std::string& supersedes = "");
// A unit's submission from PrefillForm's answer ("one table"): each field in
// `typed` with that value (EDITED where it was prefilled, NEW where not),
// every other prefilled field confirmed as offered (PREFILL_CONFIRMED, with
// `prefilled_at` the answer's position); fields neither typed nor
// prefilled are left out.
Event FormSubmittedFromPrefill(const std::string& id, const std::string& task, const std::string& org,
                               const std::string& submission, absl::Time at,
                               const grid::v1::PrefillFormResponse& prefill,
                               const std::map<std::string, std::string>& typed);

// catalog/<county>: the catalogue the simulator and the tests use (tiers
// RED 2 h and YELLOW 24 h in calendar time, BLUE 72 h in working time; five
// categories; reopening within 7 days), and a year's work calendar.
grid::v1::IncidentCatalogPublished StandardIncidentCatalog(const std::string& county, uint32_t version);
Event IncidentCatalog(const std::string& id, const grid::v1::IncidentCatalogPublished& catalog,
                      absl::Time at);
Event WorkCalendar(const std::string& id, const std::string& county, uint32_t year,
                   const std::vector<std::string>& holidays, const std::vector<std::string>& workdays,
                   absl::Time at);

// catalog/<county>: the weak-village line of a year.
Event WeakVillageThreshold(const std::string& id, const std::string& county, uint32_t year, int64_t fen,
                           absl::Time at);

// ledger/<village>: an entry booked in `year`-`month` (a reversal when
// `reverses` names the entry it takes back).
Event LedgerEntry(const std::string& id, const std::string& village, const std::string& entry, uint32_t year,
                  uint32_t month, grid::v1::LedgerCategory category, int64_t fen, absl::Time at,
                  const std::string& reverses = "");

// assessment/<period>: a period of `unit` over the days from..to (China
// time, "YYYY-MM-DD"), top 30 %, daily average 40 % and year end 60 %.
Event AssessmentOpened(const std::string& id, const std::string& period, const std::string& unit,
                       const std::string& from, const std::string& to, absl::Time at);
// A component of a score: `points_x10` from the row `key` of `projection`
// as of `position`.
grid::v1::ScoreComponent ScoreItem(const std::string& code, int32_t points_x10, const std::string& projection,
                                   const std::string& key, uint64_t position);
// A DAILY score for `day`, or a YEAR_END one when `day` is empty; its total
// is the components' sum.
Event CadreScore(const std::string& id, const std::string& period, const std::string& cadre,
                 const std::string& org, const std::string& day,
                 const std::vector<grid::v1::ScoreComponent>& items, absl::Time at);
// The close: `ranking` as RankAssessment gives it, for `period` of `unit`.
Event AssessmentClosed(const std::string& id, const std::string& period, const std::string& unit,
                       grid::v1::AssessmentPeriodClosed ranking, absl::Time at);

// incident/<id>. `grid` is the incident's grid (the envelope's org path);
// `by` the unit acting; `handler`/`dept` the unit it was dispatched to.
Event IncidentReported(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& category, grid::v1::IncidentSource source, absl::Time at,
                       const std::string& urgency = "");
Event IncidentAccepted(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, absl::Time at);
Event IncidentRejected(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, grid::v1::IncidentRejected::Reason reason, absl::Time at);
Event IncidentMarkedDuplicate(const std::string& id, const std::string& incident, const std::string& grid,
                              const std::string& by, const std::string& of, absl::Time at);
Event IncidentSelfResolved(const std::string& id, const std::string& incident, const std::string& grid,
                           absl::Time at);
Event IncidentDispatched(const std::string& id, const std::string& incident, const std::string& grid,
                         const std::string& by, const std::string& to_org, const std::string& to_dept,
                         absl::Time at);
Event IncidentAcknowledged(const std::string& id, const std::string& incident, const std::string& grid,
                           const std::string& handler, const std::string& dept, absl::Time at);
Event IncidentReturned(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& handler, const std::string& dept,
                       grid::v1::IncidentReturned::Reason reason, absl::Time at);
Event IncidentExtensionRequested(const std::string& id, const std::string& incident, const std::string& grid,
                                 const std::string& handler, const std::string& dept, uint32_t minutes,
                                 absl::Time at);
Event IncidentExtensionDecided(const std::string& id, const std::string& incident, const std::string& grid,
                               const std::string& by, bool granted, uint32_t minutes, absl::Time at);
Event IncidentSuspended(const std::string& id, const std::string& incident, const std::string& grid,
                        const std::string& by, absl::Time at);
Event IncidentResumed(const std::string& id, const std::string& incident, const std::string& grid,
                      const std::string& by, absl::Time at);
Event IncidentEscalated(const std::string& id, const std::string& incident, const std::string& grid,
                        const std::string& by, const std::string& to_org, absl::Time at);
Event IncidentUrged(const std::string& id, const std::string& incident, const std::string& grid,
                    const std::string& by, absl::Time at);
Event IncidentResolutionSubmitted(const std::string& id, const std::string& incident, const std::string& grid,
                                  const std::string& handler, const std::string& dept, absl::Time at);
Event IncidentVerified(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, bool passed, absl::Time at);
Event IncidentClosed(const std::string& id, const std::string& incident, const std::string& grid,
                     const std::string& by, grid::v1::IncidentOutcome outcome, absl::Time at);
Event IncidentRated(const std::string& id, const std::string& incident, const std::string& grid,
                    const std::string& by, uint32_t satisfaction, absl::Time at);
Event IncidentReopened(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, absl::Time at);

}  // namespace grid::domain::events

#endif  // GRID_DOMAIN_EVENTS_H_
