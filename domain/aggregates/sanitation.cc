// A grid's sanitation inspections (sanitation/<grid org path>): the findings reported there.
// Every rule of this aggregate's event types is here: their fields, the
// stream they belong in, the stateful checks and the fold (aggregate.h).
#include "domain/aggregates/aggregate.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace grid::domain {
namespace {

// Per-type field rules.
absl::Status CheckBody(const Event& e) {
  switch (e.body_case()) {
    case Event::kSanitationReportSubmitted: {
      const auto& r = e.sanitation_report_submitted();
      if (auto s = RequireId("sanitation_report_submitted.report_id", r.report_id()); !s.ok()) return s;
      if (r.kind() == grid::v1::SANITATION_KIND_UNSPECIFIED) {
        return Invalid("sanitation_report_submitted.kind", "is required");
      }
      if (auto s = RequireId("sanitation_report_submitted.reporter_worker_id", r.reporter_worker_id());
          !s.ok())
        return s;
      if (r.has_location() && r.location().system() == grid::v1::COORDINATE_SYSTEM_UNSPECIFIED) {
        return Invalid("sanitation_report_submitted.location.system",
                       "is required with a location (WGS84, GCJ02 or BD09)");
      }
      if (r.total_score_x10() > 1000) {
        return Invalid("sanitation_report_submitted.total_score_x10", "is above 1000 (100.0 points)");
      }
      for (int i = 0; i < r.deductions_size(); ++i) {
        if (r.deductions(i).deducted_points_x10() > r.deductions(i).max_points_x10()) {
          return Invalid(absl::StrCat("sanitation_report_submitted.deductions[", i, "]"),
                         "deducts more than the item's maximum");
        }
      }
      std::set<std::string> ids;
      for (int i = 0; i < r.findings_size(); ++i) {
        const auto& f = r.findings(i);
        const std::string name = absl::StrCat("sanitation_report_submitted.findings[", i, "]");
        if (auto s = RequireId(absl::StrCat(name, ".finding_id"), f.finding_id()); !s.ok()) return s;
        if (!ids.insert(f.finding_id()).second) return Invalid(name, "repeats a finding_id");
        if (!f.has_rectify_by()) return Invalid(absl::StrCat(name, ".rectify_by"), "is required");
        if (f.responsible().party_case() == grid::v1::ResponsibleParty::PARTY_NOT_SET) {
          return Invalid(absl::StrCat(name, ".responsible"), "is required");
        }
      }
      return absl::OkStatus();
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kSanitationReportSubmitted:
      return {"org_path", e.org_path()};
    default:
      return {"", ""};
  }
}

absl::Status CheckSanitation(const SanitationState&, const Event& e, StateLookup& others) {
  const auto& r = e.sanitation_report_submitted();
  auto org = OrgOf(e.org_path(), others);
  if (!org.ok()) return org.status();
  if (auto p = (*org)->GridProblem(e.org_path())) return Refused(*p);
  auto it = (*org)->assignments.find(r.reporter_worker_id());
  if (it == (*org)->assignments.end() || !it->second.contains(e.org_path())) {
    return Refused(
        absl::StrCat("worker ", r.reporter_worker_id(), " is not assigned to grid ", e.org_path()));
  }
  return absl::OkStatus();
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  return CheckSanitation(StateOf<SanitationState>(state), e, others);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kSanitationReportSubmitted: {
      auto& st = MutableState<SanitationState>(state);
      for (const auto& f : e.sanitation_report_submitted().findings()) st.findings.insert(f.finding_id());
      break;
    }
    default:
      break;
  }
}

}  // namespace

const AggregateRules& SanitationRules() {
  static const AggregateRules kRules{
      .name = "sanitation",
      .types = {"SanitationReportSubmitted"},
      .id_is_org_path = true,
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = nullptr,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = nullptr,
  };
  return kRules;
}

}  // namespace grid::domain
