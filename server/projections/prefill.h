// "One table" on the server: PrefillForm's answer (a form task's fields for
// one unit, each with the unit's fact from shared_facts as of a position),
// and the check that an append's PREFILL_CONFIRMED values are those facts.
//
// Concurrency: both only read the projection store; safe from any thread.
#ifndef GRID_SERVER_PROJECTIONS_PREFILL_H_
#define GRID_SERVER_PROJECTIONS_PREFILL_H_

#include <string_view>

#include "absl/status/status.h"
#include "grid/v1/projection.pb.h"
#include "server/access/access_policy.h"
#include "server/projections/projector.h"
#include "storage/event_log.h"

namespace grid::server {

inline constexpr std::string_view kSharedFacts = "shared_facts";

// Fills `resp` for `caller`: NOT_FOUND for a task shared_facts has not seen
// by the position, PERMISSION_DENIED for a unit outside the caller's
// jurisdiction, FAILED_PRECONDITION for a unit the task does not target.
// Values above the caller's clearance are withheld, not prefilled.
absl::Status Prefill(const Projector& projector, const Reader& caller,
                     const grid::v1::PrefillFormRequest& req, grid::v1::PrefillFormResponse* resp);

// True if an event of `batch` confirms a prefilled value (a scan of the
// batch, no I/O).
bool HasConfirmedValues(const storage::AppendBatch& batch);

// OK unless an event of `batch` is a FormSubmitted whose PREFILL_CONFIRMED
// values are not the unit's facts at its `prefilled_at` as `caller` is
// served them (FAILED_PRECONDITION naming the value: a fact the caller may
// not see, or sees withheld, is not one it can confirm, and the answer is
// the same as for a wrong value, so that it cannot probe for one), or that
// position is past this node's log (`head`) or not yet folded here
// (UNAVAILABLE: retry).
absl::Status CheckConfirmedValues(const Projector& projector, const Reader& caller, storage::Position head,
                                  const storage::AppendBatch& batch);

}  // namespace grid::server

#endif  // GRID_SERVER_PROJECTIONS_PREFILL_H_
