// The list of projections (each in domain/projections/<name>.cc) and what
// they share.
#include "domain/projections.h"

#include "domain/projections/projection.h"
#include "domain/rules.h"

namespace grid::domain {

const std::vector<ProjectionDef>& AllProjections() {
  static const auto* defs = new std::vector<ProjectionDef>{
      GridSanitationProjection(),  RectificationQueueProjection(), PopulationProjection(),
      HouseholdRosterProjection(), ProjectPipelineProjection(),    PendingApprovalsProjection(),
      FormCompletionProjection(),  DeviceGapsProjection(),         IncidentBoardProjection(),
      IncidentStatsProjection(),   OrgDirectoryProjection(),       VillageIncomeProjection(),
      SharedFactsProjection(),     ReportingBurdenProjection(),    CadreScoreboardProjection()};
  return *defs;
}

const ProjectionDef* FindProjection(absl::string_view name) {
  for (const auto& d : AllProjections()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

bool KeyMatches(absl::string_view key, absl::string_view prefix) {
  if (!key.empty() && key[0] == '~') return false;
  if (prefix.empty()) return true;
  if (key.substr(0, prefix.size()) != prefix) return false;
  if (key.size() == prefix.size()) return true;
  const char last = prefix.back();
  const char next = key[prefix.size()];
  return last == '/' || last == '#' || next == '/' || next == '#';
}

uint32_t WorkingDaysBetween(absl::Time from, absl::Time to) {
  if (to <= from) return 0;
  const absl::TimeZone china = absl::FixedTimeZone(8 * 3600);
  const absl::CivilDay a = absl::ToCivilDay(from, china);
  const absl::CivilDay b = absl::ToCivilDay(to, china);
  uint32_t days = 0;
  for (absl::CivilDay d = a + 1; d <= b; ++d) {
    const absl::Weekday w = absl::GetWeekday(d);
    if (w != absl::Weekday::saturday && w != absl::Weekday::sunday) ++days;
  }
  return days;
}

absl::Time EventTime(const Event& e) {
  if (e.has_occurred_at()) return FromProtoTime(e.occurred_at());
  return FromProtoTime(e.recorded_at());
}

}  // namespace grid::domain
