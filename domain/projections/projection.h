// What the projections (domain/projections/<name>.cc) share. Internal to
// grid_domain: projections.h is the API.
#ifndef GRID_DOMAIN_PROJECTIONS_PROJECTION_H_
#define GRID_DOMAIN_PROJECTIONS_PROJECTION_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "domain/events.h"
#include "domain/projections.h"
#include "domain/rules.h"

namespace grid::domain {

using grid::v1::Event;
using grid::v1::RowValue;
namespace pb = google::protobuf;

inline std::string Key(absl::string_view org, absl::string_view id) { return absl::StrCat(org, "#", id); }

// Every org path from the county down to `path` itself.
inline std::vector<std::string> Ancestry(absl::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t slash = path.find('/', pos);
    if (slash == absl::string_view::npos) break;
    out.emplace_back(path.substr(0, slash));
    pos = slash + 1;
  }
  if (!path.empty()) out.emplace_back(path);
  return out;
}

// The first `level` segments of `path` (the whole path if shorter).
inline std::string Truncate(absl::string_view path, uint32_t level) {
  size_t pos = 0;
  for (uint32_t i = 0; i < level; ++i) {
    const size_t slash = path.find('/', pos);
    if (slash == absl::string_view::npos) return std::string(path);
    pos = slash + 1;
  }
  return std::string(path.substr(0, pos == 0 ? 0 : pos - 1));
}

#define GRID_ASSIGN_OR_RETURN_ROW(var, rows, key) \
  auto var##_or = (rows).Get(key);                \
  if (!var##_or.ok()) return var##_or.status();   \
  std::optional<RowValue> var = *std::move(var##_or)  // NOLINT(bugprone-macro-parentheses): a declared name

// One function per projection, in AllProjections()'s order.
ProjectionDef GridSanitationProjection();
ProjectionDef RectificationQueueProjection();
ProjectionDef PopulationProjection();
ProjectionDef HouseholdRosterProjection();
ProjectionDef ProjectPipelineProjection();
ProjectionDef PendingApprovalsProjection();
ProjectionDef FormCompletionProjection();
ProjectionDef DeviceGapsProjection();
ProjectionDef IncidentBoardProjection();
ProjectionDef IncidentStatsProjection();
ProjectionDef OrgDirectoryProjection();
ProjectionDef VillageIncomeProjection();
ProjectionDef SharedFactsProjection();
ProjectionDef ReportingBurdenProjection();
ProjectionDef CadreScoreboardProjection();

}  // namespace grid::domain

#endif  // GRID_DOMAIN_PROJECTIONS_PROJECTION_H_
