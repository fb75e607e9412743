// The department projections of DOMAIN.md as pure folds: each folds one
// event into its rows through a RowAccess (reads see the fold's own earlier
// writes), with no I/O and no clock of its own; the event's occurred_at (or
// recorded_at) is its only time. Fields that depend on the moment of reading
// (overdue, missing, working days so far) are filled by Derive().
//
// Keys: an org path, then '#' and the row's own id where a path alone is not
// unique. Keys starting with '~' are a fold's bookkeeping and are never
// served.
#ifndef GRID_DOMAIN_PROJECTIONS_H_
#define GRID_DOMAIN_PROJECTIONS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/projection.pb.h"

namespace grid::domain {

class RowAccess {
 public:
  virtual ~RowAccess() = default;
  // The row's latest value, or nullopt if it has none (or was deleted).
  virtual absl::StatusOr<std::optional<grid::v1::RowValue>> Get(const std::string& key) = 0;
  // Every live row whose key starts with `prefix` (bytes), in key order.
  virtual absl::Status Scan(
      const std::string& prefix,
      const std::function<void(const std::string& key, const grid::v1::RowValue&)>& fn) = 0;
  virtual void Put(const std::string& key, grid::v1::RowValue value) = 0;
  virtual void Delete(const std::string& key) = 0;
};

struct ProjectionDef {
  std::string name;
  std::string description;
  // Folds `e` into the projection's rows.
  std::function<absl::Status(const grid::v1::Event& e, RowAccess& rows)> fold;
  // Fills the derived fields of `row` as of `t`.
  std::function<void(absl::Time t, grid::v1::RowValue* row)> derive;
};

// All projections, in a fixed order.
const std::vector<ProjectionDef>& AllProjections();
const ProjectionDef* FindProjection(absl::string_view name);

// True if `key` is served for `prefix`: it starts with `prefix` at an org
// path boundary ("350583/101" matches "350583/101", "350583/101/203" and
// "350583/101#x", not "350583/1012"); a prefix ending in '/' or '#' matches
// plainly. "" matches every key. Bookkeeping keys ('~') never match.
bool KeyMatches(absl::string_view key, absl::string_view prefix);

// "One table": a fact about a unit, by canonical path. A fact the network
// counts (docs/one_table.md lists them) is read from the row of the view
// that counts it, as of the position asked, never copied; any other is
// what the unit last typed into a form (shared_facts).
struct CountedFact {
  std::string projection;
  std::string key;
};
// Where `canonical_path` of `org_path` is counted; nullopt: a typed fact.
std::optional<CountedFact> CountedFactOf(absl::string_view org_path, absl::string_view canonical_path);
// The fact as that view's row states it (value, unit, the class the row's
// field declares); nullopt if it does not state it.
std::optional<grid::v1::SharedFactRow> FactFromRow(absl::string_view org_path,
                                                   absl::string_view canonical_path, grid::v1::RowValue row);

// shared_facts' keys (PrefillForm reads them): a unit's typed fact, and the
// projection's record of a form task's fields (bookkeeping, never served).
std::string SharedFactKey(absl::string_view org_path, absl::string_view canonical_path);
std::string SharedFactsTaskKey(absl::string_view task_id);

// Weekdays (Mon–Fri, UTC+8 calendar days) after `from`'s day through `to`'s
// day: the working days an approval clock ran.
uint32_t WorkingDaysBetween(absl::Time from, absl::Time to);

// The time of an event for folds: occurred_at, else recorded_at.
absl::Time EventTime(const grid::v1::Event& e);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_PROJECTIONS_H_
