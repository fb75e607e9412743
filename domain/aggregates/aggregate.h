// One aggregate's rules, as domain/aggregates/<name>.cc states them, and the
// helpers those files share. rules.cc dispatches to them by event type, so
// adding an event type to an aggregate changes that aggregate's file (and
// the catalog's .proto) only. Internal to grid_domain: rules.h is the API.
#ifndef GRID_DOMAIN_AGGREGATES_AGGREGATE_H_
#define GRID_DOMAIN_AGGREGATES_AGGREGATE_H_

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "domain/rules.h"
#include "grid/v1/event.pb.h"

namespace grid::domain {

using grid::v1::Event;

struct AggregateRules {
  absl::string_view name;                // the stream prefix: "<name>/<id>"
  std::vector<absl::string_view> types;  // its event types (Event's body names)
  // Its ids are org paths (the county, the grid), checked as such.
  bool id_is_org_path = false;
  // Per-type field rules of its events (INVALID_ARGUMENT naming the field).
  absl::Status (*check_body)(const Event& e) = nullptr;
  // The field an event names the aggregate by, and its value.
  std::pair<absl::string_view, std::string> (*id)(const Event& e) = nullptr;
  // The org path the envelope must carry, when the body says it; may be
  // null (no event of the aggregate says one).
  std::optional<std::string> (*body_org_path)(const Event& e) = nullptr;
  // The stateful rules against the aggregate's folded state (Check()).
  absl::Status (*check)(const AggregateState& state, const Event& e, StateLookup& others) = nullptr;
  // Folds `e` into the state (after the common part: Apply()).
  void (*apply)(AggregateState* state, const Event& e) = nullptr;
  // Where the aggregate is now, "" when nowhere yet; may be null (it does
  // not move, or its place is the event's).
  absl::string_view (*current_org_path)(const AggregateState& state) = nullptr;
};

const AggregateRules& OrgRules();
const AggregateRules& SanitationRules();
const AggregateRules& RectificationRules();
const AggregateRules& HouseholdRules();
const AggregateRules& ProjectRules();
const AggregateRules& FormRules();
const AggregateRules& CatalogRules();
const AggregateRules& IncidentRules();
const AggregateRules& LedgerRules();
const AggregateRules& AssessmentRules();

// The state as an aggregate's own (an empty one if it is not yet).
template <class T>
const T& StateOf(const AggregateState& state) {
  static const T kEmpty{};
  const T* s = std::get_if<T>(&state.agg);
  return s != nullptr ? *s : kEmpty;
}
template <class T>
T& MutableState(AggregateState* state) {
  if (!std::holds_alternative<T>(state->agg)) state->agg = T{};
  return std::get<T>(state->agg);
}

// ---- helpers of the rules --------------------------------------------------
absl::Status Invalid(absl::string_view field, absl::string_view what);  // INVALID_ARGUMENT
absl::Status Refused(absl::string_view what);                           // FAILED_PRECONDITION
// A refusal whose message quotes data of class `cls` (a person token, who is
// the head, a reported death); `plain` says the same without quoting it.
absl::Status RefusedQuoting(grid::v1::DataClass cls, absl::string_view what, absl::string_view plain);
absl::Status RequireId(absl::string_view field, const std::string& v);
absl::Status RequireOrgPath(absl::string_view field, const std::string& v);
// An org path of one segment: a county code.
absl::Status RequireCounty(absl::string_view field, const std::string& v);
absl::Status RequireTime(absl::string_view field, bool has);
absl::Status CheckPerson(absl::string_view field, const grid::v1::PersonRef& p);
// The county's org state of `org_path` (an empty one if it has none).
absl::StatusOr<const OrgState*> OrgOf(absl::string_view org_path, StateLookup& others);
// FAILED_PRECONDITION unless `org_path` is a defined, unretired grid.
absl::Status ActiveGrid(const std::string& org_path, StateLookup& others);
// The county's incident catalogue (an empty one, version 0, if it has none).
absl::StatusOr<const CatalogState*> CatalogOf(absl::string_view org_path, StateLookup& others);
// INVALID_ARGUMENT unless `v` is a code of [A-Z0-9_] segments joined by
// "." (one segment when `dotted` is false), 1..`max` bytes.
absl::Status RequireCode(absl::string_view field, const std::string& v, size_t max, bool dotted);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_AGGREGATES_AGGREGATE_H_
