// Builders for catalog events with the envelope filled in (event_id, stream,
// type, org_path, occurred_at): used by the simulator, the tests and the
// benchmarks, so that all of them speak the catalog the same way.
#ifndef GRID_DOMAIN_EVENTS_H_
#define GRID_DOMAIN_EVENTS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grid/v1/event.pb.h"
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

}  // namespace grid::domain::events

#endif  // GRID_DOMAIN_EVENTS_H_
